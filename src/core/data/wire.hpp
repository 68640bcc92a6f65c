#pragma once
/// The wire format of `/starling/data/1` (docs/protocols/data.md): frames that batch messages,
/// and one struct per message kind. Decoding never allocates for samples: the key, encoding
/// and payload of a decoded `push` point into the frame they came in.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"

namespace starling::data {

/// The protocol id negotiated with multistream-select.
inline constexpr std::string_view protocol_id = "/starling/data/1";
/// The protocol version carried in `hello`.
inline constexpr std::uint64_t protocol_version = 1;

/// Limits of the wire format (docs/protocols/data.md, "Limits").
inline constexpr std::size_t max_frame = 1024 * 1024 + 64;  ///< flags byte + body
inline constexpr std::size_t max_payload = 512 * 1024;
inline constexpr std::size_t max_key = 1024;
inline constexpr std::size_t max_parameters = 4096;
inline constexpr std::size_t max_encoding = 128;
inline constexpr std::size_t max_node_id = 128;  ///< a peer id multihash
inline constexpr std::size_t max_links = 256;
inline constexpr std::size_t max_decls = 16384;
inline constexpr std::uint64_t max_alias = 4096;
/// Hop limit a node puts on the unicast messages it originates.
inline constexpr std::uint8_t default_hops = 32;

enum class errc {
  truncated = 1,         ///< a frame or message ends before its fields do
  trailing_bytes,        ///< bytes left after a message's last field
  bad_varint,            ///< an overlong or non-minimal varint
  frame_too_large,       ///< a frame length over max_frame
  reserved_flags,        ///< a reserved flag bit set in a frame or message
  field_too_large,       ///< a key, payload, encoding, node id or list over its limit
  bad_value,             ///< an out-of-range enum or alias (alias 0 declared, kind 7, ...)
  compressed_frame,      ///< a zstd frame from a peer we did not offer compression to
  payload_too_large,     ///< sender side: a sample payload over max_payload
  bad_compressed_frame,  ///< a zstd frame that is corrupt, truncated or not exactly one frame
};
/// The "data" error category.
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Message type bytes.
enum class msg_type : std::uint8_t {
  hello = 0x01,
  node_alias = 0x02,
  key_alias = 0x03,
  node_record = 0x10,
  push = 0x20,
  heartbeat = 0x21,
  nack = 0x22,
  repair = 0x23,
  publisher_end = 0x24,
  query = 0x30,
  reply = 0x31,
  reply_final = 0x32,
};

/// Sample flags (`push.flags`).
namespace push_flags {
inline constexpr std::uint8_t del = 0x01;
inline constexpr std::uint8_t reliable = 0x02;
inline constexpr std::uint8_t has_encoding = 0x04;
inline constexpr std::uint8_t priority_mask = 0x30;
inline constexpr int priority_shift = 4;
inline constexpr std::uint8_t known = del | reliable | has_encoding | priority_mask;
}  // namespace push_flags

/// Priority classes, highest first.
enum class priority : std::uint8_t { control = 0, real_time = 1, data = 2, background = 3 };

/// First message on a stream.
struct hello {
  std::uint64_t version = protocol_version;
  bytes node;  ///< the sender's peer id multihash
  std::uint64_t features = 0;
  std::uint64_t max_frame = data::max_frame;
  friend bool operator==(const hello&, const hello&) = default;
};

/// Declares a node alias (>= 1) for the sender's direction of the link.
struct node_alias {
  std::uint64_t alias = 0;
  bytes node;
  friend bool operator==(const node_alias&, const node_alias&) = default;
};

/// Declares a key alias (>= 1) for the sender's direction of the link.
struct key_alias {
  std::uint64_t alias = 0;
  std::string key;
  friend bool operator==(const key_alias&, const key_alias&) = default;
};

/// One declaration inside a node record.
struct wire_decl {
  std::uint8_t kind = 0;   ///< 1 subscription, 2 queryable, 3 liveliness token
  std::uint8_t flags = 0;  ///< queryable: bit 0 complete; otherwise 0
  std::string expr;
  friend bool operator==(const wire_decl&, const wire_decl&) = default;
};

/// A node's links and declarations, flooded to the mesh. Nodes are aliases.
struct record_message {
  std::uint64_t origin = 0;
  std::uint64_t version = 0;
  std::vector<std::uint64_t> links;
  std::vector<wire_decl> decls;
  friend bool operator==(const record_message&, const record_message&) = default;
};

/// A sample. The views point into the decoded frame (or the caller's buffers when encoding).
struct push {
  std::uint8_t flags = 0;
  std::uint64_t source = 0;  ///< node alias
  std::uint64_t publisher = 0;
  std::uint64_t seq = 0;
  std::uint64_t key = 0;  ///< key alias
  std::uint64_t timestamp = 0;
  std::string_view encoding;  ///< sent only when flags has has_encoding
  bytes_view payload;
  /// The priority bits of `flags`.
  data::priority prio() const noexcept {
    return static_cast<data::priority>((flags & push_flags::priority_mask) >>
                                       push_flags::priority_shift);
  }
};

/// "My last sample of this publisher was `last_seq`", sent down the source's tree.
struct heartbeat {
  std::uint64_t source = 0;
  std::uint64_t publisher = 0;
  std::uint64_t key = 0;
  std::uint64_t last_seq = 0;
  friend bool operator==(const heartbeat&, const heartbeat&) = default;
};

/// "Publisher `publisher` of `source` has ended; its last sample was `last_seq`" (0: it
/// published nothing), sent down the source's tree like its samples, behind them, when the
/// publisher is undeclared or collected. Receivers finish the publisher's samples up to
/// `last_seq` (repairing what is missing), then drop its receive state.
struct publisher_end {
  std::uint64_t source = 0;
  std::uint64_t publisher = 0;
  std::uint64_t key = 0;
  std::uint64_t last_seq = 0;
  friend bool operator==(const publisher_end&, const publisher_end&) = default;
};

/// A repair request for `count` samples from `first`, unicast to the source.
struct nack {
  std::uint64_t dest = 0;
  std::uint8_t hops = default_hops;
  std::uint64_t requester = 0;
  std::uint64_t publisher = 0;
  std::uint64_t first = 0;
  std::uint64_t count = 0;
  friend bool operator==(const nack&, const nack&) = default;
};

/// A repeated sample, unicast to the node that asked for it.
struct repair {
  std::uint64_t dest = 0;
  std::uint8_t hops = default_hops;
  data::push sample;
};

/// A query, unicast to one node that holds matching queryables.
struct query {
  std::uint64_t dest = 0;
  std::uint8_t hops = default_hops;
  std::uint64_t origin = 0;
  std::uint64_t qid = 0;
  std::uint8_t target = 0;         ///< 0 all, 1 best, 2 all complete
  std::uint8_t consolidation = 0;  ///< 0 none, 1 latest per key
  std::uint64_t timeout_ms = 0;
  std::string_view selector;
  std::string_view parameters;
  std::optional<bytes_view> payload;
};

/// Reply flags.
namespace reply_flags {
inline constexpr std::uint8_t error = 0x01;
inline constexpr std::uint8_t has_encoding = 0x04;
inline constexpr std::uint8_t known = error | has_encoding;
}  // namespace reply_flags

/// One reply to a query, unicast back to its origin.
struct reply {
  std::uint64_t dest = 0;
  std::uint8_t hops = default_hops;
  std::uint64_t from = 0;
  std::uint64_t qid = 0;
  std::uint8_t flags = 0;
  std::string_view key;
  std::uint64_t timestamp = 0;
  std::string_view encoding;
  bytes_view payload;
};

/// "Node `from` has answered query `qid` completely."
struct reply_final {
  std::uint64_t dest = 0;
  std::uint8_t hops = default_hops;
  std::uint64_t from = 0;
  std::uint64_t qid = 0;
  friend bool operator==(const reply_final&, const reply_final&) = default;
};

/// A message of a type this version does not know; skipped by the receiver.
struct unknown {
  std::uint8_t type = 0;
  std::size_t size = 0;
};

/// Any decoded message.
using message = std::variant<hello, node_alias, key_alias, record_message, push, heartbeat, nack,
                             repair, publisher_end, query, reply, reply_final, unknown>;

// ---- encoding ----

/// Appends one message (type, length, fields) to `out`. Values must be within the limits
/// above; encode_* of a push or reply whose payload is over max_payload returns
/// payload_too_large and appends nothing. Other fields over their limits are the caller's bug
/// and are refused the same way (field_too_large).
result<void> encode(const hello& m, bytes& out);
result<void> encode(const node_alias& m, bytes& out);
result<void> encode(const key_alias& m, bytes& out);
result<void> encode(const record_message& m, bytes& out);
result<void> encode(const push& m, bytes& out);
result<void> encode(const heartbeat& m, bytes& out);
result<void> encode(const nack& m, bytes& out);
result<void> encode(const repair& m, bytes& out);
result<void> encode(const publisher_end& m, bytes& out);
result<void> encode(const query& m, bytes& out);
result<void> encode(const reply& m, bytes& out);
result<void> encode(const reply_final& m, bytes& out);

/// Builds frames in one buffer: `begin()`, encode messages into `body()`, `finish()`.
/// The finished frame is `frame()`; the buffer is reused by the next `begin()`, so a steady
/// stream of frames allocates nothing once the buffer has grown.
class frame_writer {
 public:
  /// Starts a new frame, dropping the previous one.
  void begin();
  /// Where messages of the current frame are appended (after a reserved header).
  bytes& body() noexcept { return m_buf; }
  /// Bytes of messages in the current frame so far.
  std::size_t body_size() const noexcept { return m_buf.size() - header_room; }
  /// Writes the frame header. Errors: frame_too_large (the body is over max_frame - 1).
  result<void> finish();
  /// The finished frame (empty before finish()).
  bytes_view frame() const noexcept { return m_frame; }

 private:
  static constexpr std::size_t header_room = 4;  ///< 3-byte varint (< 2^21) + flags
  bytes m_buf;
  bytes_view m_frame;
};

// ---- decoding ----

/// Decodes one message from the start of `in` (a frame body). On success returns the message
/// and sets `consumed`. Errors: truncated, trailing_bytes, bad_varint, reserved_flags,
/// field_too_large, bad_value; the caller resets the link's data streams. Messages of unknown
/// type decode as `unknown`.
result<message> decode_message(bytes_view in, std::size_t& consumed);

/// Splits a stream into frame bodies. Holds the bytes of at most one incomplete frame.
class frame_reader {
 public:
  /// Takes frames with flag bit 0 (compressed) from now on: next_frame() returns their body
  /// as it came (a zstd frame) and last_flags() says so. Off by default: such a frame is the
  /// error compressed_frame.
  void accept_compressed(bool on) noexcept { m_accept_compressed = on; }
  /// The flags byte of the frame next_frame() returned last.
  std::uint8_t last_flags() const noexcept { return m_flags; }
  /// Appends stream bytes.
  void feed(bytes_view in) { append(m_buf, in); }
  /// The next complete frame's body (a view valid until the next feed() or next_frame()),
  /// nullopt when more bytes are needed. Errors: bad_varint, frame_too_large, reserved_flags,
  /// compressed_frame, truncated (an empty frame: no flags byte); the stream is then dead.
  result<std::optional<bytes_view>> next_frame();
  /// Bytes held, complete or not.
  std::size_t buffered() const noexcept { return m_buf.size() - m_pos; }

 private:
  bytes m_buf;
  std::size_t m_pos = 0;
  bool m_accept_compressed = false;
  std::uint8_t m_flags = 0;
};

/// Calls `fn(message)` for each message of a frame body, in order; stops at the first
/// decoding error and returns it.
template <class Fn>
result<void> for_each_message(bytes_view body, Fn&& fn) {
  while (!body.empty()) {
    std::size_t used = 0;
    auto m = decode_message(body, used);
    if (!m) return m.error();
    fn(*m);
    body = body.subspan(used);
  }
  return {};
}

}  // namespace starling::data

template <>
struct std::is_error_code_enum<starling::data::errc> : std::true_type {};
