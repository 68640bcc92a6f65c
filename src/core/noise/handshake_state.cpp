#include "core/noise/handshake_state.hpp"

#include <algorithm>

#include "core/noise/errc.hpp"

namespace starling::noise {

namespace {
constexpr std::size_t dh_len = 32;
}

handshake_state::handshake_state(pattern p, std::string_view name, bool initiator, crypto::rng& r)
    : m_pattern(std::move(p)), m_ss(name), m_rng(&r), m_initiator(initiator) {}

result<handshake_state> handshake_state::create(const handshake_config& cfg, crypto::rng& r) {
  auto p = parse_protocol_name(cfg.protocol_name);
  if (!p) return make_error_code(errc::unsupported_protocol);
  handshake_state hs(std::move(*p), cfg.protocol_name, cfg.initiator, r);
  hs.m_s = cfg.local_static;
  hs.m_e = cfg.local_ephemeral;
  hs.m_rs = cfg.remote_static;
  hs.m_re = cfg.remote_ephemeral;
  hs.m_psks = cfg.psks;
  hs.m_ss.mix_hash(cfg.prologue);

  // Pre-messages: the initiator's first, then the responder's (section 5.3, Initialize()).
  const auto mix_pre = [&hs](const std::vector<token>& toks, bool ours) -> result<void> {
    for (token t : toks) {
      if (t == token::s) {
        if (ours) {
          if (!hs.m_s) return make_error_code(errc::missing_key);
          hs.m_ss.mix_hash(hs.m_s->pub);
        } else {
          if (!hs.m_rs) return make_error_code(errc::missing_key);
          hs.m_ss.mix_hash(*hs.m_rs);
        }
      } else if (t == token::e) {
        const crypto::x25519_key* k = nullptr;
        if (ours && hs.m_e) k = &hs.m_e->pub;
        if (!ours && hs.m_re) k = &*hs.m_re;
        if (k == nullptr) return make_error_code(errc::missing_key);
        hs.m_ss.mix_hash(*k);
        if (hs.m_pattern.has_psk) hs.m_ss.mix_key(*k);
      }
    }
    return {};
  };
  auto r1 = mix_pre(hs.m_pattern.pre_initiator, hs.m_initiator);
  if (!r1) return r1.error();
  auto r2 = mix_pre(hs.m_pattern.pre_responder, !hs.m_initiator);
  if (!r2) return r2.error();
  return hs;
}

result<void> handshake_state::dh_mix(const std::optional<crypto::x25519_keypair>& priv,
                                     const std::optional<crypto::x25519_key>& pub) {
  if (!priv || !pub) return make_error_code(errc::missing_key);
  crypto::x25519_key shared{};
  if (!crypto::x25519(priv->priv, *pub, shared)) return make_error_code(errc::invalid_dh);
  m_ss.mix_key(shared);
  return {};
}

result<void> handshake_state::mix_token_dh(token t) {
  // "es": initiator's ephemeral with responder's static; "se" the other way round.
  switch (t) {
    case token::ee:
      return dh_mix(m_e, m_re);
    case token::ss:
      return dh_mix(m_s, m_rs);
    case token::es:
      return m_initiator ? dh_mix(m_e, m_rs) : dh_mix(m_s, m_re);
    case token::se:
      return m_initiator ? dh_mix(m_s, m_re) : dh_mix(m_e, m_rs);
    default:
      return {};
  }
}

result<void> handshake_state::mix_psk() {
  if (m_psk_index >= m_psks.size()) return make_error_code(errc::missing_key);
  m_ss.mix_key_and_hash(m_psks[m_psk_index++]);
  return {};
}

result<void> handshake_state::write_message(bytes_view payload, bytes& out) {
  if (is_finished() || !is_my_turn()) return make_error_code(errc::wrong_turn);
  const std::size_t start = out.size();
  for (token t : m_pattern.messages[m_index]) {
    switch (t) {
      case token::e: {
        if (!m_e) m_e = crypto::x25519_generate(*m_rng);
        append(out, m_e->pub);
        m_ss.mix_hash(m_e->pub);
        if (m_pattern.has_psk) m_ss.mix_key(m_e->pub);
        break;
      }
      case token::s: {
        if (!m_s) return make_error_code(errc::missing_key);
        auto r = m_ss.encrypt_and_hash(m_s->pub, out);
        if (!r) return r;
        break;
      }
      case token::psk: {
        auto r = mix_psk();
        if (!r) return r;
        break;
      }
      default: {
        auto r = mix_token_dh(t);
        if (!r) return r;
      }
    }
  }
  auto r = m_ss.encrypt_and_hash(payload, out);
  if (!r) return r;
  if (out.size() - start > max_message_size) return make_error_code(errc::message_too_large);
  ++m_index;
  return {};
}

result<void> handshake_state::read_message(bytes_view msg, bytes& payload_out) {
  if (is_finished() || is_my_turn()) return make_error_code(errc::wrong_turn);
  if (msg.size() > max_message_size) return make_error_code(errc::message_too_large);
  for (token t : m_pattern.messages[m_index]) {
    switch (t) {
      case token::e: {
        if (msg.size() < dh_len) return make_error_code(errc::message_too_short);
        crypto::x25519_key re{};
        std::copy_n(msg.begin(), dh_len, re.begin());
        msg = msg.subspan(dh_len);
        m_re = re;
        m_ss.mix_hash(re);
        if (m_pattern.has_psk) m_ss.mix_key(re);
        break;
      }
      case token::s: {
        const std::size_t len = dh_len + (m_ss.has_key() ? crypto::aead_tag_size : 0);
        if (msg.size() < len) return make_error_code(errc::message_too_short);
        bytes plain;
        auto r = m_ss.decrypt_and_hash(msg.first(len), plain);
        if (!r) return r;
        crypto::x25519_key rs{};
        std::copy_n(plain.begin(), dh_len, rs.begin());
        m_rs = rs;
        msg = msg.subspan(len);
        break;
      }
      case token::psk: {
        auto r = mix_psk();
        if (!r) return r;
        break;
      }
      default: {
        auto r = mix_token_dh(t);
        if (!r) return r;
      }
    }
  }
  auto r = m_ss.decrypt_and_hash(msg, payload_out);
  if (!r) return r;
  ++m_index;
  return {};
}

result<std::pair<cipher_state, cipher_state>> handshake_state::split() const {
  if (!is_finished()) return make_error_code(errc::wrong_turn);
  return m_ss.split();
}

}  // namespace starling::noise
