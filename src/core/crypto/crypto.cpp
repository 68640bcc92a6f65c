#include "core/crypto/crypto.hpp"

#include "core/crypto/aead_backends.hpp"
#include "core/crypto/aead_fault.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <pthread.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace starling::crypto {

bool init() noexcept {
  return sodium_init() >= 0;
}

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
  for (int i = 0; i < 8; ++i)
    m_key[i] = static_cast<std::uint8_t>(seed >> (8 * i));
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
  if (crypto_scalarmult(out.data(), priv.data(), pub.data()) == 0) return true;
  // libsodium refuses some low-order points before it computes anything (`out` untouched) and
  // any all-zero result after: either way the caller is left with zeros, not stale bytes.
  sodium_memzero(out.data(), out.size());
  return false;
}

namespace {
using nonce_bytes = std::array<std::uint8_t, aead_nonce_size>;

/// The 12-byte nonce Noise uses with ChaCha20-Poly1305: 4 zero bytes, then the counter `n` in
/// little-endian order. Every counter-nonce function builds it here and then runs the same
/// code as aead_seal / aead_open.
nonce_bytes noise_nonce(std::uint64_t n) {
  nonce_bytes nonce{};
  for (int i = 0; i < 8; ++i)
    nonce[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
  return nonce;
}
}  // namespace

namespace {
/// ChaCha20-Poly1305 through OpenSSL's libcrypto (docs/decisions/0005-openssl-aead.md): its
/// AVX2/AVX-512 and NEON code is 2-3x faster than libsodium's on the machines we ship to, and
/// the cipher is the sender's bottleneck. Each thread keeps one encrypting and one decrypting
/// context, keyed per call (Noise changes the nonce every frame). If OpenSSL cannot provide
/// the cipher (a FIPS-only configuration, an allocation failure), libsodium does the work: the
/// output is the same bytes either way.
struct evp_aead {
  EVP_CIPHER_CTX* ctx = nullptr;
  explicit evp_aead(bool encrypt) {
    static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    if (cipher == nullptr) return;
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == nullptr) return;
    const int ok = encrypt ? EVP_EncryptInit_ex2(ctx, cipher, nullptr, nullptr, nullptr)
                           : EVP_DecryptInit_ex2(ctx, cipher, nullptr, nullptr, nullptr);
    if (ok != 1) {
      EVP_CIPHER_CTX_free(ctx);
      ctx = nullptr;
    }
  }
  ~evp_aead() { EVP_CIPHER_CTX_free(ctx); }
  evp_aead(const evp_aead&) = delete;
  evp_aead& operator=(const evp_aead&) = delete;
};

/// Feeds `len` bytes through EVP_*Update in pieces that fit its int length.
template <typename Update>
bool evp_update(EVP_CIPHER_CTX* ctx, Update update, std::uint8_t* out, const std::uint8_t* in,
                std::size_t len) {
  constexpr std::size_t piece = std::size_t{1} << 30;
  while (len > 0) {
    const int n = static_cast<int>(std::min(len, piece));
    int written = 0;
    if (update(ctx, out, &written, in, n) != 1 || written != n) return false;
    if (out != nullptr) out += n;
    in += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

/// The failure point armed on this thread (aead_fault.hpp); none outside tests.
thread_local fault::seal_step t_seal_failure = fault::seal_step::none;

enum class seal_result {
  ok,
  unavailable,  ///< OpenSSL failed before it wrote anything: `out` is untouched
  failed,       ///< OpenSSL failed after it began to write `out`: it may be partly encrypted
};

/// Encrypts `plain` (plen bytes) to `out` (may equal plain) and writes the tag to `tag`.
seal_result openssl_seal(const aead_key& k, const nonce_bytes& nonce, bytes_view ad,
                         std::uint8_t* out, const std::uint8_t* plain, std::size_t plen,
                         std::uint8_t* tag) {
  using fault::seal_step;
  thread_local evp_aead enc(true);
  const seal_step fail = t_seal_failure;
  EVP_CIPHER_CTX* c = enc.ctx;
  if (c == nullptr || fail == seal_step::init ||
      EVP_EncryptInit_ex2(c, nullptr, k.data(), nonce.data(), nullptr) != 1) {
    return seal_result::unavailable;
  }
  if (!ad.empty() &&
      (fail == seal_step::ad || !evp_update(c, EVP_EncryptUpdate, nullptr, ad.data(), ad.size()))) {
    return seal_result::unavailable;
  }
  // From here on `out` is being written. When it is `plain`, a failure leaves an unknown mix of
  // plaintext and ciphertext, and a second pass over it would decrypt what was encrypted.
  if (fail == seal_step::update) {
    (void)evp_update(c, EVP_EncryptUpdate, out, plain, plen / 2);
    return seal_result::failed;
  }
  if (!evp_update(c, EVP_EncryptUpdate, out, plain, plen)) return seal_result::failed;
  int len = 0;
  if (fail == seal_step::final || EVP_EncryptFinal_ex(c, out + plen, &len) != 1) {
    return seal_result::failed;
  }
  if (fail == seal_step::tag ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(aead_tag_size), tag) != 1) {
    return seal_result::failed;
  }
  return seal_result::ok;
}

enum class open_result { ok, forged, unavailable };

/// Decrypts `cipher` (clen bytes, tag separate) to `out` (may equal cipher). On `forged` the
/// output holds unauthenticated bytes: callers wipe it.
open_result openssl_open(const aead_key& k, const nonce_bytes& nonce, bytes_view ad,
                         std::uint8_t* out, const std::uint8_t* cipher, std::size_t clen,
                         const std::uint8_t* tag) {
  thread_local evp_aead dec(false);
  EVP_CIPHER_CTX* c = dec.ctx;
  if (c == nullptr || EVP_DecryptInit_ex2(c, nullptr, k.data(), nonce.data(), nullptr) != 1) {
    return open_result::unavailable;
  }
  std::array<std::uint8_t, aead_tag_size> t{};
  std::memcpy(t.data(), tag, t.size());
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(t.size()), t.data()) != 1) {
    return open_result::unavailable;
  }
  if (!ad.empty() && !evp_update(c, EVP_DecryptUpdate, nullptr, ad.data(), ad.size())) {
    return open_result::unavailable;
  }
  if (!evp_update(c, EVP_DecryptUpdate, out, cipher, clen)) return open_result::unavailable;
  int len = 0;
  return EVP_DecryptFinal_ex(c, out + clen, &len) == 1 ? open_result::ok : open_result::forged;
}

void sodium_seal(const aead_key& k, const nonce_bytes& nonce, bytes_view ad,
                 std::span<std::uint8_t> buf) {
  const std::size_t plen = buf.size() - aead_tag_size;
  unsigned long long maclen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf.data(), buf.data() + plen, &maclen,
                                                     buf.data(), plen, ad.data(), ad.size(),
                                                     nullptr, nonce.data(), k.data());
}

/// libsodium checks the tag before it decrypts: on `forged` the buffer still holds the
/// ciphertext.
open_result sodium_open(const aead_key& k, const nonce_bytes& nonce, bytes_view ad,
                        std::span<std::uint8_t> buf) {
  const std::size_t clen = buf.size() - aead_tag_size;
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(buf.data(), nullptr, buf.data(), clen,
                                                            buf.data() + clen, ad.data(), ad.size(),
                                                            nonce.data(), k.data()) == 0
             ? open_result::ok
             : open_result::forged;
}

/// Below this many bytes libsodium is the faster of the two: OpenSSL's per-call set-up through
/// its provider interface costs more than its faster cipher saves. Measured with
/// bench/aead_bench: 457 vs 541 ns at 64 bytes, 1083 vs 660 ns at 1024; even at about 230.
constexpr std::size_t openssl_min_size = 256;
}  // namespace

void fault::set_openssl_seal_failure(seal_step s) noexcept {
  t_seal_failure = s;
}

bool aead_encrypt(const aead_key& k, std::uint64_t n, bytes_view ad, bytes_view plain, bytes& out) {
  // In place on a copy, as aead_decrypt: the choice of backend lives in one function.
  out.assign(plain.begin(), plain.end());
  out.resize(plain.size() + aead_tag_size);
  if (aead_encrypt_inplace(k, n, ad, std::span<std::uint8_t>(out))) return true;
  out.clear();  // already wiped
  return false;
}

bool aead_decrypt(const aead_key& k, std::uint64_t n, bytes_view ad, bytes_view cipher,
                  bytes& out) {
  // In place on a copy: one code path (and one forgery rule) for both forms.
  if (cipher.size() < aead_tag_size) {
    out.clear();
    return false;
  }
  out.assign(cipher.begin(), cipher.end());
  if (!aead_decrypt_inplace(k, n, ad, std::span<std::uint8_t>(out))) return false;
  out.resize(out.size() - aead_tag_size);
  return true;
}

// The node's choice of backend (decision 0005): OpenSSL from openssl_min_size bytes on,
// libsodium below that and whenever OpenSSL fails before it has written anything.
bool aead_encrypt_inplace(const aead_key& k, std::uint64_t n, bytes_view ad,
                          std::span<std::uint8_t> buf) {
  if (buf.size() < aead_tag_size) return false;  // no room for the tag: nothing is touched
  const nonce_bytes nonce = noise_nonce(n);
  const std::size_t plen = buf.size() - aead_tag_size;
  if (plen >= openssl_min_size) {
    switch (openssl_seal(k, nonce, ad, buf.data(), buf.data(), plen, buf.data() + plen)) {
      case seal_result::ok:
        return true;
      case seal_result::unavailable:
        break;  // the buffer still holds the plaintext: libsodium seals it
      case seal_result::failed:
        // Part of the buffer may be ciphertext already. libsodium over it would apply the key
        // stream twice and put plaintext under a valid tag on the wire. Refuse the frame.
        sodium_memzero(buf.data(), buf.size());
        return false;
    }
  }
  sodium_seal(k, nonce, ad, buf);
  return true;
}

bool aead_decrypt_inplace(const aead_key& k, std::uint64_t n, bytes_view ad,
                          std::span<std::uint8_t> buf) {
  if (buf.size() < aead_tag_size) return false;
  const nonce_bytes nonce = noise_nonce(n);
  const std::size_t clen = buf.size() - aead_tag_size;
  open_result r = clen >= openssl_min_size
                      ? openssl_open(k, nonce, ad, buf.data(), buf.data(), clen, buf.data() + clen)
                      : open_result::unavailable;
  if (r == open_result::unavailable) r = sodium_open(k, nonce, ad, buf);
  if (r == open_result::ok) return true;
  // Forged: OpenSSL has left unauthenticated plaintext in the buffer, libsodium the
  // ciphertext. Either way the caller gets zeros, whichever backend ran.
  sodium_memzero(buf.data(), buf.size());
  return false;
}

// ---- prepared key streams ----
// The AEAD of RFC 8439 section 2.8, built from libsodium's ChaCha20 and Poly1305 so that the
// key stream can be made before the message exists. Checked byte for byte against
// libsodium's own AEAD in tests/unit/crypto_test.cpp.

aead_keystream::~aead_keystream() {
  sodium_memzero(bytes.data(), bytes.size());
  sodium_memzero(key.data(), key.size());
}

namespace {

/// Blocks 0-3 of the ChaCha20 key stream for `k` and `nonce` (block counter 0 upwards).
void fill_keystream(const aead_key& k, const nonce_bytes& nonce, aead_keystream& ks) noexcept {
  crypto_stream_chacha20_ietf(ks.bytes.data(), ks.bytes.size(), nonce.data(), k.data());
}

/// Marks `ks` used and wipes what it held.
void drop(aead_keystream& ks) noexcept {
  if (!ks.ready) return;
  ks.ready = false;
  sodium_memzero(ks.bytes.data(), ks.bytes.size());
  sodium_memzero(ks.key.data(), ks.key.size());
}

/// True when `ks` may serve key `k` and nonce `n` for `len` plaintext bytes. Either way it is
/// used up; when it may not serve, it is wiped.
bool take(aead_keystream& ks, const aead_key& k, std::uint64_t n, std::size_t len) noexcept {
  const bool ok = ks.ready && ks.nonce == n && len <= aead_keystream::max_plain &&
                  sodium_memcmp(ks.key.data(), k.data(), k.size()) == 0;
  if (!ok) drop(ks);
  ks.ready = false;
  return ok;
}

/// The Poly1305 tag of RFC 8439 over `ad` and the ciphertext `c`, keyed by block 0 of `ks`.
void prepared_tag(const aead_keystream& ks, bytes_view ad, const std::uint8_t* c, std::size_t clen,
                  std::uint8_t* tag) noexcept {
  static constexpr std::array<std::uint8_t, 16> zeros{};
  std::array<std::uint8_t, 16> lengths{};
  for (int i = 0; i < 8; ++i) {
    lengths[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(ad.size()) >> (8 * i));
    lengths[8 + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(clen) >> (8 * i));
  }
  crypto_onetimeauth_poly1305_state st;
  crypto_onetimeauth_poly1305_init(&st, ks.bytes.data());
  crypto_onetimeauth_poly1305_update(&st, ad.data(), ad.size());
  crypto_onetimeauth_poly1305_update(&st, zeros.data(), (16 - ad.size() % 16) % 16);
  crypto_onetimeauth_poly1305_update(&st, c, clen);
  crypto_onetimeauth_poly1305_update(&st, zeros.data(), (16 - clen % 16) % 16);
  crypto_onetimeauth_poly1305_update(&st, lengths.data(), lengths.size());
  crypto_onetimeauth_poly1305_final(&st, tag);
  sodium_memzero(&st, sizeof st);
}

void xor_keystream(const aead_keystream& ks, std::uint8_t* p, std::size_t len) noexcept {
  const std::uint8_t* k = ks.bytes.data() + 64;
  for (std::size_t i = 0; i < len; ++i)
    p[i] ^= k[i];
}

/// Seals `buf` (plaintext, then room for the tag) with the key stream in `ks`, then wipes it.
/// The plaintext is at most aead_keystream::max_plain bytes.
void keystream_seal(aead_keystream& ks, bytes_view ad, std::span<std::uint8_t> buf) noexcept {
  const std::size_t plen = buf.size() - aead_tag_size;
  xor_keystream(ks, buf.data(), plen);
  prepared_tag(ks, ad, buf.data(), plen, buf.data() + plen);
  sodium_memzero(ks.bytes.data(), ks.bytes.size());
  sodium_memzero(ks.key.data(), ks.key.size());
}

/// Opens `buf` (ciphertext, then its tag) with the key stream in `ks`, then wipes it. The tag
/// is checked before anything is decrypted; a forgery leaves zeros, as the ordinary path does.
bool keystream_open(aead_keystream& ks, bytes_view ad, std::span<std::uint8_t> buf) noexcept {
  const std::size_t clen = buf.size() - aead_tag_size;
  std::array<std::uint8_t, aead_tag_size> tag{};
  prepared_tag(ks, ad, buf.data(), clen, tag.data());
  const bool ok = crypto_verify_16(tag.data(), buf.data() + clen) == 0;
  if (ok) {
    xor_keystream(ks, buf.data(), clen);
  } else {
    sodium_memzero(buf.data(), buf.size());
  }
  sodium_memzero(tag.data(), tag.size());
  sodium_memzero(ks.bytes.data(), ks.bytes.size());
  sodium_memzero(ks.key.data(), ks.key.size());
  return ok;
}

}  // namespace

void aead_prepare(const aead_key& k, std::uint64_t n, aead_keystream& ks) {
  fill_keystream(k, noise_nonce(n), ks);
  ks.key = k;
  ks.nonce = n;
  ks.ready = true;
}

bool aead_encrypt_inplace(const aead_key& k, std::uint64_t n, bytes_view ad,
                          std::span<std::uint8_t> buf, aead_keystream& ks) {
  if (buf.size() < aead_tag_size) {
    drop(ks);
    return false;
  }
  const std::size_t plen = buf.size() - aead_tag_size;
  if (!take(ks, k, n, plen)) return aead_encrypt_inplace(k, n, ad, buf);
  keystream_seal(ks, ad, buf);
  return true;
}

bool aead_decrypt_inplace(const aead_key& k, std::uint64_t n, bytes_view ad,
                          std::span<std::uint8_t> buf, aead_keystream& ks) {
  if (buf.size() < aead_tag_size) {
    drop(ks);
    return false;
  }
  const std::size_t clen = buf.size() - aead_tag_size;
  if (!take(ks, k, n, clen)) return aead_decrypt_inplace(k, n, ad, buf);
  return keystream_open(ks, ad, buf);
}

// ---- a chosen backend and any 12-byte nonce (aead_backends.hpp) ----
// The same functions as above, without the size rule and the fallback: the caller names the
// backend, and hears when it cannot run.

aead_status aead_seal(aead_backend b, const aead_key& k, bytes_view nonce, bytes_view ad,
                      bytes_view plain, bytes& out) {
  out.clear();
  if (nonce.size() != aead_nonce_size) return aead_status::bad_nonce_size;
  if (b == aead_backend::keystream && plain.size() > aead_keystream::max_plain) {
    return aead_status::too_long;
  }
  nonce_bytes nb{};
  std::copy(nonce.begin(), nonce.end(), nb.begin());
  bytes buf(plain.begin(), plain.end());
  buf.resize(plain.size() + aead_tag_size);
  const std::span<std::uint8_t> s(buf);
  switch (b) {
    case aead_backend::libsodium:
      sodium_seal(k, nb, ad, s);
      break;
    case aead_backend::openssl:
      if (openssl_seal(k, nb, ad, s.data(), s.data(), plain.size(), s.data() + plain.size()) !=
          seal_result::ok) {
        sodium_memzero(buf.data(), buf.size());
        return aead_status::unavailable;
      }
      break;
    case aead_backend::keystream: {
      aead_keystream ks;
      fill_keystream(k, nb, ks);
      keystream_seal(ks, ad, s);
      break;
    }
  }
  out = std::move(buf);
  return aead_status::ok;
}

aead_status aead_open(aead_backend b, const aead_key& k, bytes_view nonce, bytes_view ad,
                      bytes_view cipher, bytes& out) {
  out.clear();
  if (nonce.size() != aead_nonce_size) return aead_status::bad_nonce_size;
  if (cipher.size() < aead_tag_size) return aead_status::short_input;
  const std::size_t clen = cipher.size() - aead_tag_size;
  if (b == aead_backend::keystream && clen > aead_keystream::max_plain) {
    return aead_status::too_long;
  }
  nonce_bytes nb{};
  std::copy(nonce.begin(), nonce.end(), nb.begin());
  bytes buf(cipher.begin(), cipher.end());
  const std::span<std::uint8_t> s(buf);
  open_result r = open_result::unavailable;
  switch (b) {
    case aead_backend::libsodium:
      r = sodium_open(k, nb, ad, s);
      break;
    case aead_backend::openssl:
      r = openssl_open(k, nb, ad, s.data(), s.data(), clen, s.data() + clen);
      break;
    case aead_backend::keystream: {
      aead_keystream ks;
      fill_keystream(k, nb, ks);
      r = keystream_open(ks, ad, s) ? open_result::ok : open_result::forged;
      break;
    }
  }
  if (r != open_result::ok) {
    // OpenSSL decrypts before it checks the tag: nothing it wrote may outlive the refusal.
    sodium_memzero(buf.data(), buf.size());
    return r == open_result::forged ? aead_status::forged : aead_status::unavailable;
  }
  buf.resize(clen);
  out = std::move(buf);
  return aead_status::ok;
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
