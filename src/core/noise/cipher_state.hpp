#pragma once
/// Noise CipherState (Noise spec rev 34, section 5.1) for ChaChaPoly.

#include <cstdint>
#include <optional>
#include <span>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/crypto/crypto.hpp"

namespace starling::noise {

/// The nonce value Noise reserves; reaching it means the key is exhausted.
inline constexpr std::uint64_t max_nonce = ~std::uint64_t{0};

/// A key (possibly empty) and a 64-bit nonce. Without a key, encryption is the identity.
class cipher_state {
 public:
  /// An empty cipher state (no key).
  cipher_state() = default;
  /// Sets the key and resets the nonce to 0 (InitializeKey). A key stream prepared for the old
  /// key is dropped.
  void initialize_key(const crypto::aead_key& k) noexcept;
  /// True once a key was set.
  bool has_key() const noexcept { return m_has_key; }
  /// SetNonce: for tests of nonce exhaustion and for rekey-less resumption.
  void set_nonce(std::uint64_t n) noexcept {
    m_n = n;
    m_ks.ready = false;
  }
  /// The nonce the next operation will use.
  std::uint64_t nonce() const noexcept { return m_n; }

  /// EncryptWithAd: appends the ciphertext (plaintext + 16-byte tag, or the plaintext when no
  /// key is set) to `out`. On error `out` is unchanged. Errors: nonce_exhausted,
  /// encrypt_failed (the cipher failed; the nonce may have been partly used and must not
  /// encrypt anything else). On either, the caller drops the connection.
  result<void> encrypt_with_ad(bytes_view ad, bytes_view plain, bytes& out);
  /// DecryptWithAd: appends the plaintext to `out`. On error `out` is unchanged and the nonce is
  /// not advanced. Errors: decrypt_failed, message_too_short, nonce_exhausted.
  result<void> decrypt_with_ad(bytes_view ad, bytes_view cipher, bytes& out);

  /// Hot path: encrypts buf[0, size-16) in place and writes the tag into the last 16 bytes.
  /// Requires a key. Errors: message_too_short (buf is shorter than a tag; untouched),
  /// nonce_exhausted, encrypt_failed (buf then holds zeros: as for encrypt_with_ad, drop the
  /// connection and send nothing of buf).
  result<void> encrypt_inplace(bytes_view ad, std::span<std::uint8_t> buf_with_tag_room);
  /// Hot path: decrypts ciphertext+tag in place (plaintext = first size-16 bytes). Requires a
  /// key. Errors: decrypt_failed, message_too_short, nonce_exhausted.
  result<void> decrypt_inplace(bytes_view ad, std::span<std::uint8_t> cipher_with_tag);
  /// Computes the key stream of the next nonce now (crypto::aead_keystream), so that the next
  /// small encrypt_inplace / decrypt_inplace is cheaper. For a moment when nobody waits.
  void prepare();

 private:
  crypto::aead_key m_k{};
  std::uint64_t m_n = 0;
  bool m_has_key = false;
  crypto::aead_keystream m_ks;  ///< for nonce m_ks.nonce when m_ks.ready
};

}  // namespace starling::noise
