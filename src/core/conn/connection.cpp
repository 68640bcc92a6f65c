#include "core/conn/connection.hpp"

#include <algorithm>
#include <string>

namespace starling::conn {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "connection"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::handshake_timeout:
        return "handshake timed out";
      case errc::unsupported_muxer:
        return "the peer chose a stream muxer we do not support";
      case errc::closed:
        return "connection closed";
    }
    return "connection error";
  }
};

noise::libp2p_config noise_config(const config& cfg) {
  noise::libp2p_config n;
  if (cfg.early_muxer) n.muxers = {yamux_protocol};
  n.expected_remote = cfg.expected_remote;
  n.membership = cfg.membership;
  return n;
}
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

connection::connection(const config& cfg, const crypto::ed25519_keypair& identity, crypto::rng& rng,
                       time_point now)
    : m_cfg(cfg),
      m_identity(identity),
      m_rng(rng),
      m_handshake_deadline(now + cfg.handshake_timeout),
      m_now(now) {
  if (cfg.dir == direction::outbound) {
    auto d = mss::dialer::create({noise_protocol},
                                 cfg.lazy_security ? mss::mode::lazy : mss::mode::wait_echo);
    m_sec_dialer.emplace(std::move(*d));  // a fixed, valid protocol list cannot fail
    m_sec_dialer->poll_transmit(m_out);
    if (cfg.lazy_security) {
      m_noise.emplace(noise::role::initiator, m_identity, m_rng, noise_config(m_cfg));
      m_noise->poll_transmit(m_out);
    }
  } else {
    m_sec_listener.emplace(std::vector<std::string>{noise_protocol});
  }
}

result<void> connection::fail(std::error_code ec) {
  if (m_stage != stage::dead) {
    m_stage = stage::dead;
    m_error = ec;
  }
  return m_error;
}

result<void> connection::feed(bytes_view raw, time_point now) {
  m_now = now;
  switch (m_stage) {
    case stage::security_mss:
      return run_security_mss(raw);
    case stage::handshake:
      return run_handshake(raw);
    case stage::muxer_mss:
    case stage::muxed: {
      m_plain_in.clear();
      auto r = m_channel->feed(raw, m_plain_in);
      if (!r) return fail(r.error());
      if (m_stage == stage::muxed) return feed_mux(m_plain_in);
      return run_plaintext(m_plain_in);
    }
    case stage::dead:
      return m_error ? m_error : make_error_code(errc::closed);
  }
  return {};
}

result<void> connection::feed_inplace(std::span<std::uint8_t> raw, time_point now) {
  if (m_stage != stage::muxed) return feed(raw, now);
  m_now = now;
  m_frames.clear();
  auto r = m_channel->open_inplace(raw, m_frames);
  if (!r) return fail(r.error());
  for (bytes_view f : m_frames) {
    if (m_mux->is_dead()) break;  // e.g. the peer's GoAway(error): the rest is ignored
    if (auto y = feed_mux(f); !y) return y;
  }
  return {};
}

result<void> connection::run_security_mss(bytes_view in) {
  bytes rest;
  if (m_sec_dialer) {
    if (auto r = m_sec_dialer->feed(in); !r) return fail(r.error());
    m_sec_dialer->poll_transmit(m_out);
    if (!m_sec_dialer->is_done()) return {};
    rest = m_sec_dialer->take_remaining();
    m_sec_dialer.reset();
    if (!m_noise) {
      m_noise.emplace(noise::role::initiator, m_identity, m_rng, noise_config(m_cfg));
      m_noise->poll_transmit(m_out);
    }
  } else {
    if (auto r = m_sec_listener->feed(in); !r) return fail(r.error());
    m_sec_listener->poll_transmit(m_out);
    if (!m_sec_listener->is_done()) return {};
    rest = m_sec_listener->take_remaining();
    m_sec_listener.reset();
    m_noise.emplace(noise::role::responder, m_identity, m_rng, noise_config(m_cfg));
  }
  m_stage = stage::handshake;
  if (!rest.empty()) return run_handshake(rest);
  return {};
}

result<void> connection::run_handshake(bytes_view in) {
  if (auto r = m_noise->feed(in); !r) return fail(r.error());
  m_noise->poll_transmit(m_out);
  if (!m_noise->is_complete()) return {};
  const bool early = !m_noise->negotiated_muxer().empty();
  if (early && m_noise->negotiated_muxer() != yamux_protocol) {
    return fail(make_error_code(errc::unsupported_muxer));
  }
  m_established = established{m_noise->remote_identity(), early, m_noise->remote_membership()};
  auto ch = m_noise->take_transport();
  if (!ch) return fail(ch.error());
  m_noise.reset();
  return start_secure(std::move(*ch));
}

result<void> connection::start_secure(noise::secure_channel ch) {
  m_channel.emplace(std::move(ch));
  if (m_established->early_muxer) {
    start_mux();
  } else {
    m_stage = stage::muxer_mss;
    if (m_cfg.dir == direction::outbound) {
      auto d = mss::dialer::create({yamux_protocol}, mss::mode::wait_echo);
      m_mux_dialer.emplace(std::move(*d));
      m_plain_out.clear();
      m_mux_dialer->poll_transmit(m_plain_out);
      if (auto r = m_channel->encrypt(m_plain_out, m_out); !r) return fail(r.error());
    } else {
      m_mux_listener.emplace(std::vector<std::string>{yamux_protocol});
    }
  }
  // Bytes that arrived behind the last handshake message sit inside the channel.
  if (m_channel->has_buffered_input()) {
    m_plain_in.clear();
    if (auto r = m_channel->feed({}, m_plain_in); !r) return fail(r.error());
    if (m_plain_in.empty()) return {};
    if (m_stage == stage::muxed) return feed_mux(m_plain_in);
    bytes copy = m_plain_in;
    return run_plaintext(copy);
  }
  return {};
}

result<void> connection::run_plaintext(bytes_view plain) {
  bytes rest;
  m_plain_out.clear();
  if (m_mux_dialer) {
    if (auto r = m_mux_dialer->feed(plain); !r) return fail(r.error());
    m_mux_dialer->poll_transmit(m_plain_out);
    if (m_mux_dialer->is_done()) {
      rest = m_mux_dialer->take_remaining();
      m_mux_dialer.reset();
    }
  } else if (m_mux_listener) {
    if (auto r = m_mux_listener->feed(plain); !r) return fail(r.error());
    m_mux_listener->poll_transmit(m_plain_out);
    if (m_mux_listener->is_done()) {
      rest = m_mux_listener->take_remaining();
      m_mux_listener.reset();
    }
  }
  if (!m_plain_out.empty()) {
    if (auto r = m_channel->encrypt(m_plain_out, m_out); !r) return fail(r.error());
  }
  if (m_mux_dialer || m_mux_listener) return {};
  start_mux();
  if (!rest.empty()) return feed_mux(rest);
  return {};
}

// The initiator's hold.
// As the Noise initiator we send the last handshake message (XX message 3). Yamux frames
// written right behind it reach the responder in the same segment, and a responder may not be
// ready for them yet: js-libp2p (3.x) starts its muxer reading before the code that accepts
// inbound streams has subscribed, so a stream we open in that window is silently lost (it is
// reset 10 s later). So, as initiator, every Yamux byte (not the handshake or muxer
// multistream-select bytes, and not inject_plaintext) waits until the responder's first Yamux
// frame has arrived, or until `mux_hold` has passed. The responder never holds. Every libp2p
// implementation (js, go, rust, Starling) opens identify as soon as its connection exists, so
// that first frame proves the responder is ready; a peer that never writes first costs the
// hold time once. A closing or failed connection stops holding, so its GoAway goes out.
void connection::start_mux() {
  m_mux.emplace(m_cfg.dir == direction::outbound ? yamux::role::dialer : yamux::role::listener,
                m_cfg.mux);
  m_stage = stage::muxed;
  if (m_cfg.dir == direction::outbound && m_cfg.mux_hold.count() > 0) {
    m_holding = true;
    m_hold_until = m_now + m_cfg.mux_hold;
  }
}

result<void> connection::feed_mux(bytes_view plain) {
  if (plain.empty()) return {};
  m_holding = false;  // the responder's muxer is running
  if (auto y = m_mux->feed(plain, m_now); !y) return fail(y.error());
  return {};
}

void connection::poll_transmit(bytes& out) {
  if (m_holding && (m_closing || m_stage == stage::dead || m_mux->is_dead())) m_holding = false;
  if (m_mux && m_channel && !m_holding) {
    // Let the session write each Noise frame's plaintext straight into the output, behind
    // room for the length prefix, and encrypt it there: no intermediate copy.
    // At most ~1 MiB per call: the shell asks again when its write completes.
    while (m_out.size() < (std::size_t{1} << 20) && m_mux->wants_transmit()) {
      const std::size_t at = m_out.size();
      m_out.resize(at + noise::frame_header_size);
      m_mux->poll_transmit(m_out, noise::max_frame_plaintext);
      if (m_out.size() == at + noise::frame_header_size) {
        m_out.resize(at);
        break;
      }
      if (auto r = m_channel->seal(m_out, at); !r) {
        fail(r.error());
        break;
      }
    }
  }
  if (out.empty()) {
    std::swap(out, m_out);
  } else {
    append(out, m_out);
  }
  m_out.clear();
}

std::optional<event> connection::poll_event() {
  // `established` promises a running muxer: hold it back while /yamux/1.0.0 is still being
  // negotiated with multistream-select (no early muxer).
  if (m_established && m_mux) {
    event e = *m_established;
    m_established.reset();
    return e;
  }
  if (m_mux) {
    if (auto e = m_mux->poll_event()) return event{std::move(*e)};
  }
  return std::nullopt;
}

time_point connection::next_deadline() const noexcept {
  if (m_stage == stage::dead) return no_deadline;
  if (m_stage != stage::muxed) return m_handshake_deadline;
  const time_point mux = m_mux->next_deadline();
  return m_holding ? std::min(mux, m_hold_until) : mux;
}

result<void> connection::on_deadline(time_point now) {
  m_now = now;
  if (m_stage == stage::dead) return m_error;
  if (m_stage != stage::muxed) {
    if (now >= m_handshake_deadline) return fail(make_error_code(errc::handshake_timeout));
    return {};
  }
  if (m_holding && now >= m_hold_until) m_holding = false;
  if (auto r = m_mux->on_deadline(now); !r) return fail(r.error());
  return {};
}

result<void> connection::inject_plaintext(bytes_view plain) {
  if (!m_channel || m_stage == stage::dead) return make_error_code(errc::closed);
  if (auto r = m_channel->encrypt(plain, m_out); !r) return fail(r.error());
  return {};
}

void connection::close() {
  if (m_closing) return;
  m_closing = true;
  if (m_mux && !m_mux->is_dead()) {
    (void)m_mux->go_away(0);
  } else {
    fail(make_error_code(errc::closed));
  }
}

bool connection::finished() const noexcept {
  if (m_stage == stage::dead) return true;
  return m_closing && m_mux && m_mux->go_away_sent();
}

}  // namespace starling::conn
