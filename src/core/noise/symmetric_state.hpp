#pragma once
/// Noise SymmetricState (Noise spec rev 34, section 5.2) with SHA-256 and HKDF over HMAC-SHA-256.

#include <string_view>
#include <utility>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/crypto/crypto.hpp"
#include "core/noise/cipher_state.hpp"

namespace starling::noise {

namespace detail {
/// HKDF as Noise defines it (HMAC-SHA-256): fills 2 or 3 outputs of 32 bytes.
void hkdf(const crypto::sha256_digest& ck, bytes_view ikm, crypto::sha256_digest* out1,
          crypto::sha256_digest* out2, crypto::sha256_digest* out3);
}  // namespace detail

/// Chaining key, handshake hash and the cipher state of a handshake in progress.
class symmetric_state {
 public:
  /// InitializeSymmetric(protocol_name).
  explicit symmetric_state(std::string_view protocol_name);

  /// MixKey: derive a new chaining key and cipher key from `ikm`.
  void mix_key(bytes_view ikm);
  /// MixHash: h = SHA256(h || data).
  void mix_hash(bytes_view data);
  /// MixKeyAndHash (used for psk tokens).
  void mix_key_and_hash(bytes_view ikm);
  /// EncryptAndHash: appends the ciphertext to `out` and mixes it into h.
  /// Errors: nonce_exhausted.
  result<void> encrypt_and_hash(bytes_view plain, bytes& out);
  /// DecryptAndHash: appends the plaintext to `out` and mixes the ciphertext into h.
  /// Errors: decrypt_failed, message_too_short.
  result<void> decrypt_and_hash(bytes_view cipher, bytes& out);
  /// Split: the two transport cipher states (initiator->responder first).
  std::pair<cipher_state, cipher_state> split() const;

  /// The handshake hash h.
  const crypto::sha256_digest& h() const noexcept { return m_h; }
  /// True once a key was mixed in (payloads and static keys are then encrypted).
  bool has_key() const noexcept { return m_cipher.has_key(); }

 private:
  crypto::sha256_digest m_ck{};
  crypto::sha256_digest m_h{};
  cipher_state m_cipher;
};

}  // namespace starling::noise
