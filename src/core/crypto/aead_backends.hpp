#pragma once
/// ChaCha20-Poly1305 (RFC 8439) with a chosen implementation and any 12-byte nonce.
///
/// The node seals and opens frames with the counter-nonce functions of crypto.hpp, which pick
/// the implementation by frame size (docs/decisions/0005-openssl-aead.md). These functions run
/// the same code with the choice made by the caller: test vectors use them to check every
/// implementation on every case, and a protocol whose nonces are not Noise counters can use
/// them. The bytes are the same whichever implementation runs.

#include <cstddef>

#include "core/common/bytes.hpp"
#include "core/crypto/crypto.hpp"

namespace starling::crypto {

/// The implementations behind aead_encrypt / aead_decrypt.
enum class aead_backend {
  libsodium,  ///< libsodium's crypto_aead_chacha20poly1305_ietf (small frames, and the fallback)
  openssl,    ///< OpenSSL 3's EVP "ChaCha20-Poly1305" (frames of 256 bytes or more)
  keystream,  ///< a key stream made ahead (aead_prepare): at most aead_keystream::max_plain
              ///< bytes of plaintext
};

/// The one nonce size of the IETF construction: 96 bits.
inline constexpr std::size_t aead_nonce_size = 12;

/// What aead_seal and aead_open report.
enum class aead_status {
  ok,
  bad_nonce_size,  ///< the nonce is not aead_nonce_size bytes; nothing was computed
  short_input,     ///< aead_open: fewer bytes than a tag
  too_long,        ///< aead_backend::keystream: more than aead_keystream::max_plain bytes
  forged,          ///< aead_open: the tag does not authenticate the ciphertext and `ad`
  unavailable,     ///< aead_backend::openssl: OpenSSL cannot provide the cipher in this process,
                   ///< or failed during the call
};

/// Encrypts `plain` under key `k` and `nonce` with backend `b`; `out` becomes the ciphertext
/// followed by the 16-byte tag. `out` may not overlap `plain`.
/// Errors (`out` then empty): bad_nonce_size (the caller's nonce is malformed: refuse the
/// message); too_long (keystream only: use another backend); unavailable (openssl only, e.g. a
/// FIPS-only provider configuration or a failure during the call: use libsodium, whose bytes
/// are the same; `plain` is untouched).
[[nodiscard]] aead_status aead_seal(aead_backend b, const aead_key& k, bytes_view nonce,
                                    bytes_view ad, bytes_view plain, bytes& out);

/// Decrypts `cipher` (ciphertext followed by its tag) under key `k` and `nonce` with backend
/// `b`; on ok `out` holds the plaintext. Nothing unauthenticated is ever returned: the tag is
/// checked before `out` is written, and a buffer decrypted ahead of the check (OpenSSL) is
/// wiped. `out` may not overlap `cipher`.
/// Errors (`out` then empty): forged (drop the message: it was altered, or the key, nonce or
/// `ad` differ from the sender's); bad_nonce_size and short_input (malformed input: drop it);
/// too_long (keystream only: use another backend); unavailable (openssl only: use libsodium).
[[nodiscard]] aead_status aead_open(aead_backend b, const aead_key& k, bytes_view nonce,
                                    bytes_view ad, bytes_view cipher, bytes& out);

}  // namespace starling::crypto
