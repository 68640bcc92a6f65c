#pragma once
/// What a subscriber receives.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace starling {

/// Whether a sample carries a value or says the key was deleted.
enum class sample_kind { put, del };

/// One sample, owned (it may be kept after the handler returns).
struct sample {
  std::string key;                 ///< the key it was published on (no wildcards)
  std::vector<std::byte> payload;  ///< the value (empty for a delete)
  std::string encoding;            ///< content type, e.g. "text/plain" ("" if none was given)
  sample_kind kind = sample_kind::put;
  /// When the source published it: its hybrid logical clock, an NTP64 time (seconds since
  /// 1900 in the high 32 bits, fraction in the low 32, whose low 4 bits are a counter). Orders
  /// the samples of one source; with `source`, samples across sources.
  std::uint64_t timestamp = 0;
  std::string source;           ///< the peer id of the node that published it ("12D3KooW...")
  std::uint64_t publisher = 0;  ///< which publisher of that node (a number it chose)
  std::uint64_t seq = 0;        ///< that publisher's sequence number, from 1

  /// The payload as text (a view into `payload`, no UTF-8 check).
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};
  }
};

}  // namespace starling
