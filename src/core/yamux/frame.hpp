#pragma once
/// The 12-byte Yamux frame header (libp2p/specs yamux/README.md, "Framing"):
/// version u8 | type u8 | flags u16 | stream id u32 | length u32, all big-endian.

#include <cstdint>
#include <system_error>

#include "core/common/bytes.hpp"
#include "core/yamux/errc.hpp"

namespace starling::yamux {

/// A stream identifier. Dialer-opened streams are odd, listener-opened streams even; 0 is the
/// session itself (Ping, GoAway).
enum class stream_id : std::uint32_t {};

/// Frame types.
enum class frame_type : std::uint8_t { data = 0, window_update = 1, ping = 2, go_away = 3 };

/// Flag bits.
namespace flags {
inline constexpr std::uint16_t syn = 0x1;  ///< opens a stream / ping request
inline constexpr std::uint16_t ack = 0x2;  ///< accepts a stream / ping reply
inline constexpr std::uint16_t fin = 0x4;  ///< half-close
inline constexpr std::uint16_t rst = 0x8;  ///< reset
inline constexpr std::uint16_t all = syn | ack | fin | rst;
}  // namespace flags

/// GoAway codes.
namespace go_away_code {
inline constexpr std::uint32_t normal = 0;
inline constexpr std::uint32_t protocol_error = 1;
inline constexpr std::uint32_t internal_error = 2;
}  // namespace go_away_code

/// Header size on the wire.
inline constexpr std::size_t header_size = 12;
/// The window every stream starts with (spec: 256 KiB, both sides assume it).
inline constexpr std::uint32_t default_window = 256 * 1024;

/// A decoded header. `length` is the payload size (Data), the window delta (WindowUpdate),
/// the opaque value (Ping) or the error code (GoAway).
struct header {
  std::uint8_t version = 0;
  frame_type type = frame_type::data;
  std::uint16_t flags = 0;
  std::uint32_t stream = 0;
  std::uint32_t length = 0;
};

/// Writes the 12 header bytes of `h` at `out` (which must have room for them).
void encode_header(const header& h, std::uint8_t* out) noexcept;
/// Appends the 12 header bytes of `h` to `out`.
void append_header(const header& h, bytes& out);

/// Decodes and validates the 12 bytes at `in` (exactly header_size readable bytes).
/// Rules: version 0; a known type; Data/WindowUpdate: only SYN/ACK/FIN/RST bits, never SYN and
/// ACK together, stream id != 0; Ping: flags exactly SYN or exactly ACK, stream id 0;
/// GoAway: no flags, stream id 0.
/// Errors: bad_version, bad_type, bad_flags, bad_stream_id (all protocol errors: the caller
/// sends GoAway(protocol error) and drops the connection).
[[nodiscard]] std::error_code decode_header(const std::uint8_t* in, header& out) noexcept;

}  // namespace starling::yamux
