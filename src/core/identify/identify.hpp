#pragma once
/// libp2p identify and identify/push (identify/README.md): the Identify protobuf, framed as
/// `uvarint length || message`. A sender may split its record over several framed messages
/// (go does when it is large); the reader merges every message up to EOF.
///
/// Limits (documented in docs/interop.md): go reads at most 10 messages of at most 8 KiB each
/// and keeps what it sends itself under 4 KiB per message (rust rejects larger ones); js
/// accepts 8 KiB. We accept up to 16 messages and 64 KiB in total (each message at most the
/// total), which covers every peer above while bounding memory per stream.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"

namespace starling::identify {

/// Protocol id of the request/response variant: the listener sends its record and closes.
inline constexpr std::string_view protocol_id = "/ipfs/id/1.0.0";
/// Protocol id of the push variant: the dialer sends its record and closes.
inline constexpr std::string_view push_protocol_id = "/ipfs/id/push/1.0.0";

/// What a peer says about itself. Addresses stay raw multiaddr bytes: the caller converts them
/// and drops the ones it cannot parse (never the whole record).
struct info {
  bytes public_key;                         ///< protobuf PublicKey; must match the peer id
  std::vector<bytes> listen_addrs;          ///< raw multiaddrs
  std::vector<std::string> protocols;       ///< only the protocols the peer serves
  std::optional<bytes> observed_addr;       ///< our address as the peer sees it
  std::string protocol_version;             ///< e.g. "ipfs/0.1.0"
  std::string agent_version;                ///< e.g. "starling/0.1.0"
  std::optional<bytes> signed_peer_record;  ///< SignedEnvelope bytes (field 8), unverified
};

enum class errc {
  malformed_frame = 1,  ///< a bad length prefix
  malformed_message,    ///< the protobuf does not parse
  too_large,            ///< more than the reader's byte limit
  too_many_messages,    ///< more than the reader's message limit
  truncated,            ///< EOF in the middle of a message
  no_message,           ///< EOF before any message
  already_finished,     ///< feed() after on_eof()
};
/// The "identify" error category.
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Serialises `i` as one framed message (`uvarint length || Identify`). Empty strings and
/// absent optionals are left out. Keep it under 4 KiB for rust peers.
bytes encode(const info& i);

/// Bounds for reader.
struct limits {
  std::size_t max_total_bytes = 64 * 1024;  ///< all framed messages together
  std::size_t max_messages = 16;
};

/// Incremental reader of the messages of one identify (or push) stream.
class reader {
 public:
  /// A reader with the given bounds.
  explicit reader(limits l = {}) : m_limits(l) {}

  /// Consumes bytes read from the stream; complete messages are parsed and merged at once, so
  /// only a partial message is buffered. Errors: malformed_frame, malformed_message, too_large,
  /// too_many_messages, already_finished. On error the caller resets the stream and ignores
  /// the record; every later call returns the same error.
  [[nodiscard]] result<void> feed(bytes_view in);

  /// The stream reached EOF: returns the merge of all messages (repeated fields appended in
  /// order, singular fields last one wins). Errors: truncated, no_message, or the error an
  /// earlier feed() returned.
  [[nodiscard]] result<info> on_eof();

  /// Messages parsed so far.
  std::size_t messages() const noexcept { return m_messages; }

 private:
  result<void> fail(errc e);
  result<void> merge(bytes_view message);

  limits m_limits;
  info m_info;
  bytes m_buf;
  std::size_t m_total = 0;
  std::size_t m_messages = 0;
  bool m_finished = false;
  std::error_code m_error;
};

}  // namespace starling::identify

template <>
struct std::is_error_code_enum<starling::identify::errc> : std::true_type {};
