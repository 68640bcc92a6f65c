#include "core/multiformats/varint.hpp"

#include <string>

namespace starling::varint {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "varint"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::overlong:
        return "varint longer than 9 bytes";
      case errc::non_minimal:
        return "varint not minimally encoded";
      case errc::too_large:
        return "length prefix above the limit";
    }
    return "unknown varint error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

void encode(std::uint64_t v, bytes& out) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

std::size_t encoded_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

bool decode(bytes_view in, decoded& out, std::error_code& ec) noexcept {
  ec.clear();
  out = {};
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (i >= max_bytes) {
      ec = errc::overlong;
      return false;
    }
    const std::uint8_t b = in[i];
    v |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) {
        ec = errc::non_minimal;
        return false;
      }
      if (v > max_value) {
        ec = errc::overlong;
        return false;
      }
      out.value = v;
      out.size = i + 1;
      return true;
    }
  }
  if (in.size() >= max_bytes) {
    ec = errc::overlong;
    return false;
  }
  return true;  // need more
}

std::optional<frame> read_frame(bytes_view in, std::size_t max_len, std::error_code& ec) noexcept {
  decoded d;
  if (!decode(in, d, ec)) return std::nullopt;
  if (d.size == 0) return std::nullopt;
  if (d.value > max_len) {
    ec = errc::too_large;
    return std::nullopt;
  }
  if (in.size() - d.size < d.value) return std::nullopt;
  const auto len = static_cast<std::size_t>(d.value);
  return frame{in.subspan(d.size, len), d.size + len};
}

void write_frame(bytes_view payload, bytes& out) {
  encode(payload.size(), out);
  append(out, payload);
}

}  // namespace starling::varint
