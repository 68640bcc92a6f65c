#include "core/multiformats/multibase.hpp"

#include <array>
#include <cstdint>

namespace starling::multiformats {

namespace {
constexpr std::string_view b58_alphabet =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr std::string_view b32_lower = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::string_view b32_upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view b64url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Reverse lookup table: 0xff for characters outside the alphabet.
std::array<std::uint8_t, 256> reverse(std::string_view alphabet) {
  std::array<std::uint8_t, 256> t{};
  t.fill(0xff);
  for (std::size_t i = 0; i < alphabet.size(); ++i)
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
  return t;
}

// Packs `bits`-bit symbols from bytes, most significant first (base32: 5, base64: 6).
std::string encode_bits(bytes_view in, std::string_view alphabet, unsigned bits) {
  std::string out;
  out.reserve((in.size() * 8 + bits - 1) / bits);
  std::uint32_t acc = 0;
  unsigned n = 0;
  const std::uint32_t mask = (1u << bits) - 1;
  for (std::uint8_t b : in) {
    acc = (acc << 8) | b;
    n += 8;
    while (n >= bits) {
      n -= bits;
      out.push_back(alphabet[(acc >> n) & mask]);
    }
  }
  if (n > 0) out.push_back(alphabet[(acc << (bits - n)) & mask]);
  return out;
}

result<bytes> decode_bits(std::string_view in, const std::array<std::uint8_t, 256>& table,
                          unsigned bits, errc bad) {
  if (in.size() > max_encoded_chars) return errc::input_too_long;
  // A trailing group of fewer than 8 bits that cannot have come from whole bytes is invalid:
  // e.g. base32 lengths 1, 3, 6 (mod 8) and base64 length 1 (mod 4).
  const std::size_t total_bits = in.size() * bits;
  const std::size_t leftover = total_bits % 8;
  if (leftover >= bits) return bad;
  bytes out;
  out.reserve(total_bits / 8);
  std::uint32_t acc = 0;
  unsigned n = 0;
  for (char c : in) {
    const std::uint8_t v = table[static_cast<unsigned char>(c)];
    if (v == 0xff) return bad;
    acc = (acc << bits) | v;
    n += bits;
    if (n >= 8) {
      n -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> n));
    }
    acc &= (1u << n) - 1;
  }
  if (acc != 0) return bad;  // non-zero padding bits: not the canonical encoding
  return out;
}
}  // namespace

std::string base58btc_encode(bytes_view in) {
  std::size_t zeros = 0;
  while (zeros < in.size() && in[zeros] == 0)
    ++zeros;
  // Base-58 digits, least significant first; log(256)/log(58) < 1.37.
  std::vector<std::uint8_t> digits;
  digits.reserve((in.size() - zeros) * 137 / 100 + 1);
  for (std::size_t i = zeros; i < in.size(); ++i) {
    std::uint32_t carry = in[i];
    for (auto& d : digits) {
      carry += static_cast<std::uint32_t>(d) << 8;
      d = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    while (carry > 0) {
      digits.push_back(static_cast<std::uint8_t>(carry % 58));
      carry /= 58;
    }
  }
  std::string out(zeros, '1');
  for (auto it = digits.rbegin(); it != digits.rend(); ++it)
    out.push_back(b58_alphabet[*it]);
  return out;
}

result<bytes> base58btc_decode(std::string_view in) {
  static const auto table = reverse(b58_alphabet);
  if (in.size() > max_encoded_chars) return errc::input_too_long;
  std::size_t ones = 0;
  while (ones < in.size() && in[ones] == '1')
    ++ones;
  std::vector<std::uint8_t> le;  // bytes, least significant first
  le.reserve(in.size());
  for (std::size_t i = ones; i < in.size(); ++i) {
    const std::uint8_t v = table[static_cast<unsigned char>(in[i])];
    if (v == 0xff) return errc::invalid_base58;
    std::uint32_t carry = v;
    for (auto& b : le) {
      carry += static_cast<std::uint32_t>(b) * 58;
      b = static_cast<std::uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    while (carry > 0) {
      le.push_back(static_cast<std::uint8_t>(carry & 0xff));
      carry >>= 8;
    }
  }
  bytes out(ones, 0);
  out.insert(out.end(), le.rbegin(), le.rend());
  return out;
}

std::string base32_encode(bytes_view in) {
  return encode_bits(in, b32_lower, 5);
}

result<bytes> base32_decode(std::string_view in, bool upper) {
  static const auto lower_table = reverse(b32_lower);
  static const auto upper_table = reverse(b32_upper);
  return decode_bits(in, upper ? upper_table : lower_table, 5, errc::invalid_base32);
}

std::string base64url_encode(bytes_view in) {
  return encode_bits(in, b64url, 6);
}

result<bytes> base64url_decode(std::string_view in) {
  static const auto table = reverse(b64url);
  return decode_bits(in, table, 6, errc::invalid_base64);
}

std::string multibase_encode(multibase base, bytes_view in) {
  std::string out(1, static_cast<char>(base));
  switch (base) {
    case multibase::base58btc:
      out += base58btc_encode(in);
      break;
    case multibase::base32:
      out += base32_encode(in);
      break;
    case multibase::base64url:
      out += base64url_encode(in);
      break;
  }
  return out;
}

result<bytes> multibase_decode(std::string_view in) {
  if (in.empty()) return errc::unsupported_multibase;
  const std::string_view rest = in.substr(1);
  switch (in.front()) {
    case 'z':
      return base58btc_decode(rest);
    case 'b':
      return base32_decode(rest, false);
    case 'B':
      return base32_decode(rest, true);
    case 'u':
      return base64url_decode(rest);
    default:
      return errc::unsupported_multibase;
  }
}

}  // namespace starling::multiformats
