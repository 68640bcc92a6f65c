#pragma once
/// Thin wrapper over libsodium: the only primitives the cores use.
/// Every function is deterministic given its inputs; randomness comes from an `rng`.

#include <array>
#include <cstdint>
#include <span>

#include "core/common/bytes.hpp"

namespace starling::crypto {

/// Must be called once before any other function (idempotent, thread-safe). Returns false if
/// libsodium could not initialise.
bool init() noexcept;

/// Source of randomness injected into cores. Tests use a seeded fake.
class rng {
 public:
  virtual ~rng() = default;
  /// Fill `out` with random bytes.
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

/// The operating system's CSPRNG through libsodium. Requests up to 256 bytes come from a
/// per-thread pool of 1 KiB refilled in one call (not one syscall per ping or key).
class system_rng final : public rng {
 public:
  void fill(std::span<std::uint8_t> out) override;
};

/// Deterministic generator for tests and simulations (ChaCha20 keystream over a seed).
class seeded_rng final : public rng {
 public:
  explicit seeded_rng(std::uint64_t seed);
  void fill(std::span<std::uint8_t> out) override;

 private:
  std::array<std::uint8_t, 32> m_key{};
  std::uint64_t m_counter = 0;
};

// ---- Ed25519 ----
using ed25519_seed = std::array<std::uint8_t, 32>;
using ed25519_public = std::array<std::uint8_t, 32>;
using ed25519_signature = std::array<std::uint8_t, 64>;

struct ed25519_keypair {
  ed25519_seed seed{};   ///< the 32-byte private seed
  ed25519_public pub{};  ///< the public key derived from the seed
};

/// Derive the keypair of a 32-byte seed.
ed25519_keypair ed25519_from_seed(const ed25519_seed& seed);
/// Generate a fresh keypair.
ed25519_keypair ed25519_generate(rng& r);
/// Sign a message (deterministic, RFC 8032).
ed25519_signature ed25519_sign(const ed25519_keypair& kp, bytes_view msg);
/// Verify; false on any failure, including malformed keys. Strict, so that a signature has one
/// encoding only (member certificates and the membership log rely on it): libsodium 1.0.18's
/// crypto_sign_verify_detached, built without ED25519_COMPAT as Debian builds it, already
/// refuses S >= L, non-canonical encodings of A (y >= p) and of R (it compares R's bytes with
/// the canonical encoding it computes), and A or R of small order (any encoding of the eight
/// torsion points, sign bit ignored). Its equation is the cofactorless [S]B == R + [k]A, so a
/// signature that holds only under the cofactored one is refused; points of mixed order pass
/// only when that equation holds. tests/vectors/ed25519_test.cpp pins this against Wycheproof
/// and the 12 speccheck cases (accepted: case 3 alone), so another libsodium that differs fails
/// there; a wrapper with extra checks is not needed.
bool ed25519_verify(const ed25519_public& pub, bytes_view msg, bytes_view sig);

// ---- X25519 ----
using x25519_key = std::array<std::uint8_t, 32>;

struct x25519_keypair {
  x25519_key priv{};
  x25519_key pub{};
};

x25519_keypair x25519_from_private(const x25519_key& priv);
x25519_keypair x25519_generate(rng& r);
/// Diffie-Hellman (RFC 7748). Returns false, with `out` all zeros, when the shared secret would
/// be all zeros: `pub` is a point of low order (or an encoding of one), so the result does not
/// depend on `priv` and a peer could force it. The caller refuses the peer (Noise: invalid_dh).
/// Wycheproof calls these results "acceptable"; we refuse them, as the Noise specification
/// allows (tests/vectors/wycheproof_x25519_test.cpp).
bool x25519(const x25519_key& priv, const x25519_key& pub, x25519_key& out);

// ---- ChaCha20-Poly1305 (IETF: 12-byte nonce) ----
using aead_key = std::array<std::uint8_t, 32>;
inline constexpr std::size_t aead_tag_size = 16;

/// Encrypt `plain` into `out` (resized to plain.size() + 16). The nonce is 4 zero bytes
/// followed by the 64-bit little-endian counter `n`, as Noise specifies. Returns false, with
/// `out` empty, when the cipher failed after it had begun to write (OpenSSL, rare): the message
/// cannot be sent and the nonce must not be used again (the caller closes the connection).
[[nodiscard]] bool aead_encrypt(const aead_key& k, std::uint64_t n, bytes_view ad, bytes_view plain,
                                bytes& out);
/// Decrypt `cipher` (including its tag) into `out`. Returns false on authentication failure
/// (`out` then holds zeros) or input shorter than a tag (`out` then empty). (Frames under 256 bytes
/// go through libsodium, larger ones through OpenSSL: docs/decisions/0005-openssl-aead.md.)
bool aead_decrypt(const aead_key& k, std::uint64_t n, bytes_view ad, bytes_view cipher, bytes& out);
/// In-place variants for the hot path: `buf` holds plaintext followed by room for the tag
/// (encrypt), or ciphertext+tag (decrypt, plaintext length = size - 16).
/// Encryption returns false when `buf` is shorter than a tag (nothing is touched) or when the
/// cipher failed after it had begun to write (`buf` then holds zeros). Either way nothing may
/// be sent, and after the second the caller closes the connection.
[[nodiscard]] bool aead_encrypt_inplace(const aead_key& k, std::uint64_t n, bytes_view ad,
                                        std::span<std::uint8_t> buf_with_tag_room);
bool aead_decrypt_inplace(const aead_key& k, std::uint64_t n, bytes_view ad,
                          std::span<std::uint8_t> cipher_with_tag);

/// The ChaCha20 key stream for one nonce, computed before the message that uses it: block 0
/// (its first 32 bytes are the Poly1305 key) and blocks 1-3, enough for 192 bytes of plaintext.
/// A node computes it for the next nonce of each direction once it has answered what it read
/// (aead_prepare), so that the next small message costs only an XOR and a Poly1305 pass while
/// someone waits for it. The four blocks cost about what one does: ChaCha20 runs them side by
/// side. Each key stream serves exactly one operation with exactly its key and nonce, and is
/// wiped when used.
struct aead_keystream {
  static constexpr std::size_t max_plain = 192;
  std::array<std::uint8_t, 64 + max_plain> bytes{};
  aead_key key{};  ///< the key it was made for: a key stream never serves another (a rekey)
  std::uint64_t nonce = 0;
  bool ready = false;

  aead_keystream() = default;
  aead_keystream(const aead_keystream&) = default;
  aead_keystream& operator=(const aead_keystream&) = default;
  ~aead_keystream();
};
/// Fills `ks` for key `k` and nonce `n`.
void aead_prepare(const aead_key& k, std::uint64_t n, aead_keystream& ks);
/// aead_encrypt_inplace / aead_decrypt_inplace that use `ks` when it was prepared for `k` and
/// `n` and the plaintext fits, and the ordinary path otherwise; either way `ks` is used up. The
/// output and the errors are the same.
[[nodiscard]] bool aead_encrypt_inplace(const aead_key& k, std::uint64_t n, bytes_view ad,
                                        std::span<std::uint8_t> buf_with_tag_room,
                                        aead_keystream& ks);
bool aead_decrypt_inplace(const aead_key& k, std::uint64_t n, bytes_view ad,
                          std::span<std::uint8_t> cipher_with_tag, aead_keystream& ks);

// ---- SHA-256 and HMAC-SHA-256 ----
using sha256_digest = std::array<std::uint8_t, 32>;
sha256_digest sha256(bytes_view data);
sha256_digest hmac_sha256(bytes_view key, bytes_view data);

}  // namespace starling::crypto
