#include "core/crypto/cpace.hpp"

#include <sodium.h>

#include <algorithm>

namespace starling::crypto::cpace {

namespace {
std::size_t prepend_len_size(std::size_t n) {
  std::size_t s = 1;
  while (n >= 128) {
    n >>= 7;
    ++s;
  }
  return s;
}

bool is_zero(const point& p) {
  return std::all_of(p.begin(), p.end(), [](std::uint8_t b) { return b == 0; });
}

isk hash_isk(bytes_view sid, const point& k, const bytes& transcript) {
  bytes in = lv_cat({as_bytes(dsi_isk), sid, k});
  append(in, transcript);
  return sha512(in);
}
}  // namespace

void append_prepend_len(bytes& out, bytes_view data) {
  std::size_t n = data.size();
  do {
    std::uint8_t b = n & 0x7f;
    n >>= 7;
    if (n != 0) b |= 0x80;
    out.push_back(b);
  } while (n != 0);
  append(out, data);
}

bytes lv_cat(std::initializer_list<bytes_view> parts) {
  bytes out;
  for (bytes_view p : parts)
    append_prepend_len(out, p);
  return out;
}

bytes generator_string(bytes_view prs, bytes_view ci, bytes_view sid) {
  const std::size_t used =
      prepend_len_size(prs.size()) + prs.size() + prepend_len_size(dsi.size()) + dsi.size() + 1;
  const std::size_t zpad = used < hash_block_size ? hash_block_size - used : 0;
  const bytes zeros(zpad, 0);
  return lv_cat({as_bytes(dsi), prs, zeros, ci, sid});
}

bytes transcript_ir(bytes_view ya, bytes_view ada, bytes_view yb, bytes_view adb) {
  bytes out = lv_cat({ya, ada});
  append(out, lv_cat({yb, adb}));
  return out;
}

bytes transcript_oc(bytes_view ya, bytes_view ada, bytes_view yb, bytes_view adb) {
  const bytes a = lv_cat({ya, ada});
  const bytes b = lv_cat({yb, adb});
  // Lexicographic order; on a common prefix the longer one is larger.
  const bool a_larger = std::lexicographical_compare(b.begin(), b.end(), a.begin(), a.end());
  bytes out = {'o', 'c'};
  append(out, a_larger ? a : b);
  append(out, a_larger ? b : a);
  return out;
}

std::array<std::uint8_t, 64> sha512(bytes_view data) {
  std::array<std::uint8_t, 64> h{};
  crypto_hash_sha512(h.data(), data.data(), data.size());
  return h;
}

bool calculate_generator(bytes_view prs, bytes_view ci, bytes_view sid, point& g) {
  const auto h = sha512(generator_string(prs, ci, sid));
  crypto_core_ristretto255_from_hash(g.data(), h.data());
  return !is_zero(g);
}

scalar sample_scalar(rng& r) {
  scalar s{};
  std::array<std::uint8_t, 64> wide{};
  do {
    r.fill(wide);
    crypto_core_ristretto255_scalar_reduce(s.data(), wide.data());
  } while (sodium_is_zero(s.data(), s.size()) != 0);
  sodium_memzero(wide.data(), wide.size());
  return s;
}

bool scalar_mult_vfy(const scalar& s, const point& p, point& out) {
  // libsodium refuses non-canonical encodings and an identity result (-1).
  if (crypto_scalarmult_ristretto255(out.data(), s.data(), p.data()) != 0) {
    out.fill(0);
    return false;
  }
  return true;
}

bool public_share(const scalar& y, const point& g, point& out) {
  return scalar_mult_vfy(y, g, out);
}

isk derive_isk_ir(bytes_view sid, const point& k, bytes_view ya, bytes_view ada, bytes_view yb,
                  bytes_view adb) {
  return hash_isk(sid, k, transcript_ir(ya, ada, yb, adb));
}

isk derive_isk_oc(bytes_view sid, const point& k, bytes_view ya, bytes_view ada, bytes_view yb,
                  bytes_view adb) {
  return hash_isk(sid, k, transcript_oc(ya, ada, yb, adb));
}

bool tags_equal(bytes_view a, bytes_view b) noexcept {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(std::span<std::uint8_t> secret) noexcept {
  sodium_memzero(secret.data(), secret.size());
}

isk sid_output(bytes_view transcript) {
  bytes in;
  append(in, as_bytes("CPaceSidOutput"));
  append(in, transcript);
  return sha512(in);
}

}  // namespace starling::crypto::cpace
