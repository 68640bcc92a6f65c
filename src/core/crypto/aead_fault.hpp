#pragma once
/// Test-only failure points in the OpenSSL sealing path of crypto.cpp.
///
/// OpenSSL can fail at any step of a seal (a provider error, an allocation failure), and what
/// the wrapper must do depends on whether the buffer was already written: before that,
/// libsodium seals the same plaintext; after it, the frame is refused
/// (docs/decisions/0005-openssl-aead.md, "Fallback"). Such failures cannot be provoked from
/// outside, so the path has named failure points. They are compiled into every build, cost one
/// thread-local read per seal, and are armed only by tests (tests/unit/crypto_test.cpp):
/// nothing else includes this header. Arming is per thread.

#include <cstdint>

namespace starling::crypto::fault {

/// The steps of an OpenSSL seal, in order. Before `update` nothing has been written.
enum class seal_step : std::uint8_t {
  none,    ///< no failure (the default)
  init,    ///< setting the key and nonce fails
  ad,      ///< feeding the associated data fails (only when there is some)
  update,  ///< encrypting fails after the first half of the plaintext was encrypted in place
  final,   ///< EVP_EncryptFinal_ex fails: the plaintext is encrypted, there is no tag
  tag,     ///< reading the tag fails: the plaintext is encrypted, there is no tag
};

/// Makes every OpenSSL seal on the calling thread fail at `s` until set back to none.
void set_openssl_seal_failure(seal_step s) noexcept;

/// Arms a failure point for a scope.
class scoped_openssl_seal_failure {
 public:
  explicit scoped_openssl_seal_failure(seal_step s) noexcept { set_openssl_seal_failure(s); }
  ~scoped_openssl_seal_failure() { set_openssl_seal_failure(seal_step::none); }
  scoped_openssl_seal_failure(const scoped_openssl_seal_failure&) = delete;
  scoped_openssl_seal_failure& operator=(const scoped_openssl_seal_failure&) = delete;
};

}  // namespace starling::crypto::fault
