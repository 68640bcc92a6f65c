#include "core/noise/symmetric_state.hpp"

#include <cstring>

namespace starling::noise {

namespace detail {
void hkdf(const crypto::sha256_digest& ck, bytes_view ikm, crypto::sha256_digest* out1,
          crypto::sha256_digest* out2, crypto::sha256_digest* out3) {
  const crypto::sha256_digest temp = crypto::hmac_sha256(ck, ikm);
  const std::uint8_t one = 0x01;
  *out1 = crypto::hmac_sha256(temp, bytes_view(&one, 1));
  std::array<std::uint8_t, 33> buf{};
  std::memcpy(buf.data(), out1->data(), 32);
  buf[32] = 0x02;
  *out2 = crypto::hmac_sha256(temp, buf);
  if (out3 != nullptr) {
    std::memcpy(buf.data(), out2->data(), 32);
    buf[32] = 0x03;
    *out3 = crypto::hmac_sha256(temp, buf);
  }
}
}  // namespace detail

symmetric_state::symmetric_state(std::string_view protocol_name) {
  if (protocol_name.size() <= m_h.size()) {
    std::memcpy(m_h.data(), protocol_name.data(), protocol_name.size());
  } else {
    m_h = crypto::sha256(as_bytes(protocol_name));
  }
  m_ck = m_h;
}

void symmetric_state::mix_key(bytes_view ikm) {
  crypto::sha256_digest ck{}, k{};
  detail::hkdf(m_ck, ikm, &ck, &k, nullptr);
  m_ck = ck;
  m_cipher.initialize_key(k);
}

void symmetric_state::mix_hash(bytes_view data) {
  // h is small; one contiguous buffer keeps the crypto wrapper's one-shot interface.
  bytes buf;
  buf.reserve(m_h.size() + data.size());
  append(buf, m_h);
  append(buf, data);
  m_h = crypto::sha256(buf);
}

void symmetric_state::mix_key_and_hash(bytes_view ikm) {
  crypto::sha256_digest ck{}, th{}, k{};
  detail::hkdf(m_ck, ikm, &ck, &th, &k);
  m_ck = ck;
  mix_hash(th);
  m_cipher.initialize_key(k);
}

result<void> symmetric_state::encrypt_and_hash(bytes_view plain, bytes& out) {
  const std::size_t at = out.size();
  auto r = m_cipher.encrypt_with_ad(m_h, plain, out);
  if (!r) return r;
  mix_hash(bytes_view(out).subspan(at));
  return {};
}

result<void> symmetric_state::decrypt_and_hash(bytes_view cipher, bytes& out) {
  auto r = m_cipher.decrypt_with_ad(m_h, cipher, out);
  if (!r) return r;
  mix_hash(cipher);
  return {};
}

std::pair<cipher_state, cipher_state> symmetric_state::split() const {
  crypto::sha256_digest k1{}, k2{};
  detail::hkdf(m_ck, {}, &k1, &k2, nullptr);
  std::pair<cipher_state, cipher_state> p;
  p.first.initialize_key(k1);
  p.second.initialize_key(k2);
  return p;
}

}  // namespace starling::noise
