#include "core/crypto/crypto.hpp"

#include <sodium.h>

#include <pthread.h>

#include <array>
#include <cstring>

namespace starling::crypto {

bool init() noexcept { return sodium_init() >= 0; }

namespace {
/// Small requests (ping payloads, Yamux ping values, Noise keys) are served from a per-thread
/// pool refilled from the OS in one call, instead of one getrandom syscall each. Bytes handed
/// out are wiped from the pool; a forked child drops the pool it inherited.
struct random_pool {
  static constexpr std::size_t size = 1024;
  std::array<std::uint8_t, size> bytes{};
  std::size_t used = size;  ///< bytes[used, size) are fresh
};
thread_local random_pool t_pool;

void drop_pool_in_child() noexcept {
  sodium_memzero(t_pool.bytes.data(), t_pool.bytes.size());
  t_pool.used = random_pool::size;
}
}  // namespace

void system_rng::fill(std::span<std::uint8_t> out) {
  static const bool fork_hook = pthread_atfork(nullptr, nullptr, drop_pool_in_child) == 0;
  (void)fork_hook;
  random_pool& p = t_pool;
  if (out.size() > random_pool::size / 4) {
    randombytes_buf(out.data(), out.size());
    return;
  }
  if (random_pool::size - p.used < out.size()) {
    randombytes_buf(p.bytes.data(), p.bytes.size());
    p.used = 0;
  }
  std::memcpy(out.data(), p.bytes.data() + p.used, out.size());
  sodium_memzero(p.bytes.data() + p.used, out.size());
  p.used += out.size();
}

seeded_rng::seeded_rng(std::uint64_t seed) {
  for (int i = 0; i < 8; ++i) m_key[i] = static_cast<std::uint8_t>(seed >> (8 * i));
}

void seeded_rng::fill(std::span<std::uint8_t> out) {
  std::array<std::uint8_t, crypto_stream_chacha20_ietf_NONCEBYTES> nonce{};
  std::uint64_t c = m_counter++;
  std::memcpy(nonce.data(), &c, sizeof c);
  crypto_stream_chacha20_ietf(out.data(), out.size(), nonce.data(), m_key.data());
}

ed25519_keypair ed25519_from_seed(const ed25519_seed& seed) {
  ed25519_keypair kp;
  kp.seed = seed;
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> sk{};
  crypto_sign_seed_keypair(kp.pub.data(), sk.data(), seed.data());
  sodium_memzero(sk.data(), sk.size());
  return kp;
}

ed25519_keypair ed25519_generate(rng& r) {
  ed25519_seed seed;
  r.fill(seed);
  return ed25519_from_seed(seed);
}

ed25519_signature ed25519_sign(const ed25519_keypair& kp, bytes_view msg) {
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> sk{};
  std::memcpy(sk.data(), kp.seed.data(), 32);
  std::memcpy(sk.data() + 32, kp.pub.data(), 32);
  ed25519_signature sig{};
  crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), sk.data());
  sodium_memzero(sk.data(), sk.size());
  return sig;
}

bool ed25519_verify(const ed25519_public& pub, bytes_view msg, bytes_view sig) {
  if (sig.size() != crypto_sign_BYTES) return false;
  return crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), pub.data()) == 0;
}

x25519_keypair x25519_from_private(const x25519_key& priv) {
  x25519_keypair kp;
  kp.priv = priv;
  crypto_scalarmult_base(kp.pub.data(), priv.data());
  return kp;
}

x25519_keypair x25519_generate(rng& r) {
  x25519_key priv;
  r.fill(priv);
  return x25519_from_private(priv);
}

bool x25519(const x25519_key& priv, const x25519_key& pub, x25519_key& out) {
  return crypto_scalarmult(out.data(), priv.data(), pub.data()) == 0;
}

namespace {
std::array<std::uint8_t, 12> noise_nonce(std::uint64_t n) {
  std::array<std::uint8_t, 12> nonce{};
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return nonce;
}
}  // namespace

void aead_encrypt(const aead_key& k, std::uint64_t n, bytes_view ad, bytes_view plain, bytes& out) {
  out.resize(plain.size() + aead_tag_size);
  auto nonce = noise_nonce(n);
  unsigned long long len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &len, plain.data(), plain.size(), ad.data(),
                                            ad.size(), nullptr, nonce.data(), k.data());
}

bool aead_decrypt(const aead_key& k, std::uint64_t n, bytes_view ad, bytes_view cipher, bytes& out) {
  if (cipher.size() < aead_tag_size) return false;
  out.resize(cipher.size() - aead_tag_size);
  auto nonce = noise_nonce(n);
  unsigned long long len = 0;
  return crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, cipher.data(),
                                                   cipher.size(), ad.data(), ad.size(),
                                                   nonce.data(), k.data()) == 0;
}

void aead_encrypt_inplace(const aead_key& k, std::uint64_t n, bytes_view ad,
                          std::span<std::uint8_t> buf) {
  auto nonce = noise_nonce(n);
  const std::size_t plen = buf.size() - aead_tag_size;
  unsigned long long maclen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf.data(), buf.data() + plen, &maclen,
                                                     buf.data(), plen, ad.data(), ad.size(),
                                                     nullptr, nonce.data(), k.data());
}

bool aead_decrypt_inplace(const aead_key& k, std::uint64_t n, bytes_view ad,
                          std::span<std::uint8_t> buf) {
  if (buf.size() < aead_tag_size) return false;
  auto nonce = noise_nonce(n);
  const std::size_t clen = buf.size() - aead_tag_size;
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(buf.data(), nullptr, buf.data(), clen,
                                                            buf.data() + clen, ad.data(), ad.size(),
                                                            nonce.data(), k.data()) == 0;
}

sha256_digest sha256(bytes_view data) {
  sha256_digest d{};
  crypto_hash_sha256(d.data(), data.data(), data.size());
  return d;
}

sha256_digest hmac_sha256(bytes_view key, bytes_view data) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  crypto_auth_hmacsha256_update(&st, data.data(), data.size());
  sha256_digest d{};
  crypto_auth_hmacsha256_final(&st, d.data());
  return d;
}

}  // namespace starling::crypto
