#pragma once
/// A hybrid logical clock for sample timestamps (docs/protocols/data.md, "Hybrid logical
/// clock"). A timestamp is a 64-bit NTP time (seconds since 1900 in the high 32 bits, fraction
/// of a second in the low 32) whose low `counter_bits` bits count events within one tick, so
/// stamps from one node are strictly increasing and stamps from different nodes order by
/// time first. Together with the source node it orders any two samples.
///
/// Pure: the caller passes the physical time (an NTP64 value it read from the wall clock).

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>

#include "core/common/result.hpp"

namespace starling::data {

/// Low bits of a stamp that count, not measure.
inline constexpr int counter_bits = 4;
inline constexpr std::uint64_t counter_mask = (std::uint64_t{1} << counter_bits) - 1;

/// NTP64 of a duration since the Unix epoch (1970), as the wall clock gives it.
std::uint64_t ntp64_from_unix(std::chrono::nanoseconds since_unix_epoch) noexcept;
/// Nanoseconds since the Unix epoch of an NTP64 time (for display); times before 1970 give 0.
std::chrono::nanoseconds unix_from_ntp64(std::uint64_t ntp) noexcept;
/// An NTP64 span from a duration (e.g. the allowed drift).
std::uint64_t ntp64_span(std::chrono::nanoseconds d) noexcept;
/// RFC 3339 text in UTC with nanoseconds, e.g. `2026-12-06T23:41:07.123456789Z`.
std::string format_ntp64(std::uint64_t ntp);

/// Error of `hlc::update`.
enum class hlc_errc {
  too_far_ahead = 1,  ///< a remote stamp more than the allowed drift ahead of our clock
};
const std::error_category& hlc_category() noexcept;
inline std::error_code make_error_code(hlc_errc e) noexcept {
  return {static_cast<int>(e), hlc_category()};
}

/// One node's clock. Not thread-safe: the network thread owns it.
class hlc {
 public:
  /// `max_drift`: how far ahead of our physical clock a remote stamp may be (default 500 ms).
  explicit hlc(std::chrono::nanoseconds max_drift = std::chrono::milliseconds(500)) noexcept
      : m_drift(ntp64_span(max_drift)) {}

  /// A new stamp, strictly greater than every stamp this clock issued or accepted before.
  std::uint64_t stamp(std::uint64_t physical_ntp) noexcept;

  /// Takes a stamp seen on a received sample. Error too_far_ahead when it is more than the
  /// allowed drift ahead of `physical_ntp`: the caller refuses that sample (and counts it); the
  /// clock is unchanged. Otherwise later stamps are greater than `remote`.
  result<void> update(std::uint64_t remote, std::uint64_t physical_ntp) noexcept;

  /// The last stamp issued or accepted (0 before any).
  std::uint64_t last() const noexcept { return m_last; }

 private:
  std::uint64_t m_drift;
  std::uint64_t m_last = 0;
};

}  // namespace starling::data

template <>
struct std::is_error_code_enum<starling::data::hlc_errc> : std::true_type {};
