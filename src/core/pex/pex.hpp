#pragma once
/// Starling peer exchange, /starling/pex/1.0.0 (docs/protocols/peer-exchange.md): a node asks a
/// connected peer which peers it is connected to, and learns their addresses. The listener
/// writes one `uvarint length || PexMessage` and closes its write side; the dialer writes
/// nothing.
///
/// Everything is bounded by `limits`: the message size, the records kept and the addresses
/// kept per record. A record with an invalid peer id and an address that does not parse
/// (unknown multiaddr code, bad value) are skipped, never the whole message. Learned addresses
/// are hints only: the Noise handshake checks the identity when one is dialled.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"

namespace starling::pex {

/// The protocol id negotiated with multistream-select.
inline constexpr std::string_view protocol_id = "/starling/pex/1.0.0";

/// How often a node asks one random connected peer (besides once after identify).
inline constexpr std::chrono::seconds ask_interval{60};
/// How long a client waits for the whole answer before it resets the stream.
inline constexpr std::chrono::milliseconds answer_timeout{10000};

/// One peer: its id (text, base58btc) and multiaddrs as text, without /p2p/.
struct peer_record {
  std::string peer_id;
  std::vector<std::string> addrs;
  /// Field-wise equality.
  friend bool operator==(const peer_record&, const peer_record&) = default;
};

/// Bounds for encode() and decode().
struct limits {
  std::size_t max_message_bytes = 16 * 1024;  ///< protobuf body, without the length prefix
  std::size_t max_peers = 64;                 ///< records kept
  std::size_t max_addrs_per_peer = 8;         ///< addresses kept per record
};

enum class errc {
  malformed_frame = 1,  ///< a bad length prefix
  too_large,            ///< the message is over limits::max_message_bytes
  malformed_message,    ///< the protobuf does not parse
  truncated,            ///< EOF in the middle of the message
  no_message,           ///< EOF before any byte of the message
  trailing_data,        ///< bytes after the one message
  already_finished,     ///< reader used after an error or EOF
};
/// The "pex" error category.
const std::error_category& category() noexcept;
/// Makes a std::error_code of the "pex" category.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// The protobuf body (no length prefix) listing `peers` in order. Records with an invalid peer
/// id, repeated peer ids, addresses that do not parse or carry another peer's /p2p/, repeated
/// addresses and records left without any address are skipped; a trailing /p2p/ of the
/// record's own id is dropped. At most `l.max_peers` records of at most
/// `l.max_addrs_per_peer` addresses are written, and a record that would take the body over
/// `l.max_message_bytes` is left out. Never fails: an empty list encodes as an empty body.
bytes encode(const std::vector<peer_record>& peers, const limits& l = {});

/// encode() with its uvarint length prefix: what a server writes on the stream.
bytes encode_frame(const std::vector<peer_record>& peers, const limits& l = {});

/// Parses a body (no length prefix). Errors: too_large (over l.max_message_bytes),
/// malformed_message (not a protobuf); the caller drops the answer and may ask again later.
/// Unknown fields are ignored. Records with a bad or repeated peer id are skipped; addresses
/// that do not parse (unknown codes), that carry another peer's /p2p/, or repeat are skipped;
/// records left without an address are skipped; at most l.max_peers records and
/// l.max_addrs_per_peer addresses each are kept (extra ones ignored). Peer ids come back in
/// canonical base58btc text, addresses as canonical multiaddr text without /p2p/.
result<std::vector<peer_record>> decode(bytes_view body, const limits& l = {});

/// What a server sends to `asker` (peer id text): `peers` without the asker's own record and
/// without records whose id does not parse; loopback addresses are dropped unless
/// `asker_on_loopback` (the asker reached us over a loopback address); records left without an
/// address are dropped. Order is kept.
std::vector<peer_record> filter_for_asker(std::vector<peer_record> peers, std::string_view asker,
                                          bool asker_on_loopback);

/// Incremental reader of the answer on a client stream: one length-prefixed message, then EOF.
/// Buffers at most the prefix plus l.max_message_bytes.
class reader {
 public:
  /// A reader with the given bounds.
  explicit reader(limits l = {}) : m_limits(l) {}

  /// Consumes bytes read from the stream. Returns the records once the whole message is in
  /// (exactly once), nullopt while more bytes are needed. Errors: malformed_frame, too_large,
  /// malformed_message, trailing_data (bytes after the message), already_finished (after an
  /// error or EOF). On error the caller resets the stream; every later call fails.
  [[nodiscard]] result<std::optional<std::vector<peer_record>>> feed(bytes_view in);

  /// The stream reached EOF. Succeeds when the whole message had arrived. Errors: no_message
  /// (nothing arrived), truncated (EOF inside the message), or the earlier error.
  [[nodiscard]] result<void> on_eof();

  /// True once the message has been returned by feed().
  bool complete() const noexcept { return m_complete; }

 private:
  result<std::optional<std::vector<peer_record>>> fail(errc e);

  limits m_limits;
  bytes m_buf;
  bool m_complete = false;
  bool m_eof = false;
  std::error_code m_error;
};

}  // namespace starling::pex

template <>
struct std::is_error_code_enum<starling::pex::errc> : std::true_type {};
