#include "core/member/network.hpp"

#include <algorithm>

namespace starling::member {
namespace {
constexpr std::string_view domain = "starling/network/v1";
constexpr char hex_digits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string hex(const std::uint8_t* p, std::size_t n) {
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(hex_digits[p[i] >> 4]);
    out.push_back(hex_digits[p[i] & 0x0f]);
  }
  return out;
}
}  // namespace

network_id network_id_of(const public_key& owner) {
  bytes input(domain.begin(), domain.end());
  input.insert(input.end(), owner.begin(), owner.end());
  network_id id;
  const auto digest = crypto::sha256(input);
  std::copy(digest.begin(), digest.end(), id.bytes.begin());
  return id;
}

std::string to_hex(const network_id& id) {
  return hex(id.bytes.data(), id.bytes.size());
}

std::string short_name(const network_id& id) {
  return hex(id.bytes.data(), 8);
}

std::optional<network_id> network_id_from_hex(std::string_view text) {
  network_id id;
  if (text.size() != id.bytes.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    id.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return id;
}

}  // namespace starling::member
