#include "core/noise/libp2p_handshake.hpp"

#include <algorithm>
#include <string>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "core/multiformats/keys.hpp"
#include "core/noise/errc.hpp"
#include "core/proto/noise_payload.pb.h"

namespace starling::noise {

namespace {

handshake_state make_state(role rl, crypto::rng& r) {
  handshake_config c;
  c.protocol_name = libp2p_protocol_name;
  c.initiator = rl == role::initiator;
  c.local_static = crypto::x25519_generate(r);
  // XX has no pre-messages and we supply the static key, so creation cannot fail.
  return handshake_state::create(c, r).value();
}

bytes signed_data(const crypto::x25519_key& static_pub) {
  bytes d;
  append(d, as_bytes(libp2p_signature_prefix));
  append(d, static_pub);
  return d;
}

std::string serialize_deterministic(const google::protobuf::MessageLite& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream zs(&out);
    google::protobuf::io::CodedOutputStream cos(&zs);
    cos.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&cos);
  }
  return out;
}

}  // namespace

bytes encode_ed25519_public_key(const crypto::ed25519_public& pub) {
  return multiformats::encode_public_key(pub);
}

libp2p_handshake::libp2p_handshake(role rl, const crypto::ed25519_keypair& identity, crypto::rng& r,
                                   libp2p_config cfg)
    : m_role(rl), m_identity(identity), m_cfg(std::move(cfg)), m_hs(make_state(rl, r)) {
  m_cfg.max_message_size = std::min(m_cfg.max_message_size, max_frame_size);
  if (m_role == role::initiator) {
    // Message 1 carries no payload: nothing in it is secret yet.
    if (auto w = write({}); !w) m_error = w.error();
  }
}

result<void> libp2p_handshake::fail(std::error_code ec) {
  if (!m_error) m_error = ec;
  m_rx.clear();
  return m_error;
}

result<void> libp2p_handshake::write(bytes_view payload) {
  bytes msg;
  auto r = m_hs.write_message(payload, msg);
  if (!r) return r;
  if (msg.size() > max_frame_size) return make_error_code(errc::message_too_large);
  m_tx.push_back(static_cast<std::uint8_t>(msg.size() >> 8));
  m_tx.push_back(static_cast<std::uint8_t>(msg.size() & 0xff));
  append(m_tx, msg);
  return {};
}

bytes libp2p_handshake::make_payload() const {
  pb::NoiseHandshakePayload p;
  const bytes key = encode_ed25519_public_key(m_identity.pub);
  p.set_identity_key(key.data(), key.size());
  const auto sig = crypto::ed25519_sign(m_identity, signed_data(m_hs.local_static()->pub));
  p.set_identity_sig(sig.data(), sig.size());
  if (!m_cfg.muxers.empty()) {
    auto* ext = p.mutable_extensions();
    for (const auto& m : m_cfg.muxers)
      ext->add_stream_muxers(m);
  }
  if (!m_cfg.membership.empty()) {
    p.mutable_extensions()->set_starling_membership(m_cfg.membership.data(),
                                                    m_cfg.membership.size());
  }
  const std::string s = serialize_deterministic(p);
  return bytes(s.begin(), s.end());
}

result<void> libp2p_handshake::check_payload(bytes_view payload) {
  pb::NoiseHandshakePayload p;
  if (!p.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return make_error_code(errc::malformed_payload);
  }
  // The shared strict decoder: canonical encoding only, and no protobuf log line per bad key
  // (protobuf logs missing required fields to stderr, which a peer could use to flood logs).
  auto key = multiformats::decode_public_key(as_bytes(p.identity_key()));
  if (!key) {
    return make_error_code(key.error() == multiformats::errc::unsupported_key_type
                               ? errc::unsupported_key_type
                               : errc::malformed_payload);
  }
  const crypto::ed25519_public pub = *key;

  const auto& rs = m_hs.remote_static();
  if (!rs) return make_error_code(errc::missing_key);
  if (!crypto::ed25519_verify(pub, signed_data(*rs), as_bytes(p.identity_sig()))) {
    return make_error_code(errc::bad_signature);
  }
  if (m_cfg.expected_remote && *m_cfg.expected_remote != pub) {
    return make_error_code(errc::peer_id_mismatch);
  }
  m_remote_identity = pub;
  m_remote_muxers.clear();
  m_remote_membership.clear();
  if (p.has_extensions()) {
    for (const auto& m : p.extensions().stream_muxers())
      m_remote_muxers.push_back(m);
    const std::string& mem = p.extensions().starling_membership();
    if (mem.size() > max_membership_size) return make_error_code(errc::malformed_payload);
    m_remote_membership.assign(mem.begin(), mem.end());
  }

  // Inlined muxer only when both sides offered one; the initiator's order decides.
  m_negotiated.clear();
  if (!m_cfg.muxers.empty() && !m_remote_muxers.empty()) {
    const auto& init_list = m_role == role::initiator ? m_cfg.muxers : m_remote_muxers;
    const auto& resp_list = m_role == role::initiator ? m_remote_muxers : m_cfg.muxers;
    for (const auto& m : init_list) {
      if (std::find(resp_list.begin(), resp_list.end(), m) != resp_list.end()) {
        m_negotiated = m;
        break;
      }
    }
    if (m_negotiated.empty()) return make_error_code(errc::no_common_muxer);
  }
  return {};
}

result<void> libp2p_handshake::process_frame(bytes_view msg) {
  bytes payload;
  auto r = m_hs.read_message(msg, payload);
  if (!r) return r;
  if (m_role == role::responder && !m_hs.is_finished()) {
    // Message 1 read (its payload, which should be empty, is ignored): answer with message 2.
    return write(make_payload());
  }
  // Message 2 (initiator) or message 3 (responder) carries the peer's identity.
  auto c = check_payload(payload);
  if (!c) return c;
  if (m_role == role::initiator) {
    auto w = write(make_payload());
    if (!w) return w;
  }
  m_complete = true;
  return {};
}

result<void> libp2p_handshake::feed(bytes_view raw) {
  if (m_error) return m_error;
  if (m_complete) {
    if (raw.empty()) return {};
    return fail(make_error_code(errc::already_complete));
  }
  append(m_rx, raw);
  std::size_t off = 0;
  while (!m_complete && m_rx.size() - off >= 2) {
    const std::size_t len = (std::size_t{m_rx[off]} << 8) | m_rx[off + 1];
    if (len > m_cfg.max_message_size) return fail(make_error_code(errc::oversized_frame));
    if (m_rx.size() - off - 2 < len) break;
    auto r = process_frame(bytes_view(m_rx).subspan(off + 2, len));
    if (!r) return fail(r.error());
    off += 2 + len;
  }
  m_rx.erase(m_rx.begin(), m_rx.begin() + static_cast<std::ptrdiff_t>(off));
  return {};
}

void libp2p_handshake::poll_transmit(bytes& out) {
  append(out, m_tx);
  m_tx.clear();
}

result<secure_channel> libp2p_handshake::take_transport() {
  if (!m_complete || m_taken || m_error) return make_error_code(errc::not_complete);
  auto split = m_hs.split();
  if (!split) return split.error();
  m_taken = true;
  auto& [i2r, r2i] = *split;
  if (m_role == role::initiator) return secure_channel(i2r, r2i, std::move(m_rx));
  return secure_channel(r2i, i2r, std::move(m_rx));
}

}  // namespace starling::noise
