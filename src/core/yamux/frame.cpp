#include "core/yamux/frame.hpp"

namespace starling::yamux {

namespace {
void put_be16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
std::uint16_t get_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t get_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
}  // namespace

void encode_header(const header& h, std::uint8_t* out) noexcept {
  out[0] = h.version;
  out[1] = static_cast<std::uint8_t>(h.type);
  put_be16(out + 2, h.flags);
  put_be32(out + 4, h.stream);
  put_be32(out + 8, h.length);
}

void append_header(const header& h, bytes& out) {
  const std::size_t at = out.size();
  out.resize(at + header_size);
  encode_header(h, out.data() + at);
}

std::error_code decode_header(const std::uint8_t* in, header& out) noexcept {
  out.version = in[0];
  if (out.version != 0) return errc::bad_version;
  if (in[1] > static_cast<std::uint8_t>(frame_type::go_away)) return errc::bad_type;
  out.type = static_cast<frame_type>(in[1]);
  out.flags = get_be16(in + 2);
  out.stream = get_be32(in + 4);
  out.length = get_be32(in + 8);
  switch (out.type) {
    case frame_type::data:
    case frame_type::window_update:
      if ((out.flags & ~flags::all) != 0) return errc::bad_flags;
      if ((out.flags & flags::syn) && (out.flags & flags::ack)) return errc::bad_flags;
      if (out.stream == 0) return errc::bad_stream_id;
      break;
    case frame_type::ping:
      if (out.flags != flags::syn && out.flags != flags::ack) return errc::bad_flags;
      if (out.stream != 0) return errc::bad_stream_id;
      break;
    case frame_type::go_away:
      if (out.flags != 0) return errc::bad_flags;
      if (out.stream != 0) return errc::bad_stream_id;
      break;
  }
  return {};
}

}  // namespace starling::yamux
