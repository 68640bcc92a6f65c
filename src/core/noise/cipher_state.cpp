#include "core/noise/cipher_state.hpp"

#include "core/noise/errc.hpp"

namespace starling::noise {

void cipher_state::initialize_key(const crypto::aead_key& k) noexcept {
  m_k = k;
  m_n = 0;
  m_has_key = true;
  m_ks.ready = false;
}

void cipher_state::prepare() {
  if (!m_has_key || m_n == max_nonce || (m_ks.ready && m_ks.nonce == m_n)) return;
  crypto::aead_prepare(m_k, m_n, m_ks);
}

result<void> cipher_state::encrypt_with_ad(bytes_view ad, bytes_view plain, bytes& out) {
  if (!m_has_key) {
    append(out, plain);
    return {};
  }
  if (m_n == max_nonce) return make_error_code(errc::nonce_exhausted);
  const std::size_t at = out.size();
  out.insert(out.end(), plain.begin(), plain.end());
  out.resize(at + plain.size() + crypto::aead_tag_size);
  if (!crypto::aead_encrypt_inplace(m_k, m_n, ad, std::span<std::uint8_t>(out).subspan(at))) {
    out.resize(at);
    return make_error_code(errc::encrypt_failed);
  }
  ++m_n;
  return {};
}

result<void> cipher_state::decrypt_with_ad(bytes_view ad, bytes_view cipher, bytes& out) {
  if (!m_has_key) {
    append(out, cipher);
    return {};
  }
  if (m_n == max_nonce) return make_error_code(errc::nonce_exhausted);
  if (cipher.size() < crypto::aead_tag_size) return make_error_code(errc::message_too_short);
  const std::size_t at = out.size();
  out.insert(out.end(), cipher.begin(), cipher.end());
  if (!crypto::aead_decrypt_inplace(m_k, m_n, ad, std::span<std::uint8_t>(out).subspan(at))) {
    out.resize(at);
    return make_error_code(errc::decrypt_failed);
  }
  out.resize(out.size() - crypto::aead_tag_size);
  ++m_n;
  return {};
}

result<void> cipher_state::encrypt_inplace(bytes_view ad, std::span<std::uint8_t> buf) {
  if (m_n == max_nonce) return make_error_code(errc::nonce_exhausted);
  if (buf.size() < crypto::aead_tag_size) return make_error_code(errc::message_too_short);
  if (!crypto::aead_encrypt_inplace(m_k, m_n, ad, buf, m_ks))
    return make_error_code(errc::encrypt_failed);
  ++m_n;
  return {};
}

result<void> cipher_state::decrypt_inplace(bytes_view ad, std::span<std::uint8_t> buf) {
  if (m_n == max_nonce) return make_error_code(errc::nonce_exhausted);
  if (buf.size() < crypto::aead_tag_size) return make_error_code(errc::message_too_short);
  if (!crypto::aead_decrypt_inplace(m_k, m_n, ad, buf, m_ks))
    return make_error_code(errc::decrypt_failed);
  ++m_n;
  return {};
}

}  // namespace starling::noise
