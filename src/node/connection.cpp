#include "node/connection.hpp"

#include <spdlog/spdlog.h>

#include "io/clock.hpp"
#include "node/host.hpp"

namespace starling::node {

multiformats::multiaddr to_multiaddr(const io::tcp::endpoint& ep) {
  multiformats::ip_endpoint ip;
  const auto a = ep.address();
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), ip.ip.begin());
  } else {
    auto b = a.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), ip.ip.begin());
    ip.is_v6 = true;
  }
  ip.port = ep.port();
  return multiformats::multiaddr::from_tcp_endpoint(ip);
}

// ---- stream ----

const multiformats::peer_id& stream::peer() const noexcept {
  return m_conn.peer();
}

void stream::write(bytes_view data) {
  if (write_closed() || data.empty()) return;
  if (buffered() == 0) {
    // Nothing queued ahead: hand the bytes to the muxer directly; only its refusal is copied.
    if (auto* mux = m_conn.m_core.mux()) {
      auto n = mux->write(m_id, data);
      if (n) data = data.subspan(*n);
    }
  }
  if (!data.empty()) append(m_out, data);
  m_conn.pump(*this);
}

std::size_t stream::write_room() const noexcept {
  if (write_closed() || buffered() > 0) return 0;
  auto* mux = m_conn.m_core.mux();  // m_conn is a reference: not const here
  return mux ? mux->write_room(m_id) : 0;
}

void stream::close_write() {
  if (write_closed()) return;
  m_close_write_requested = true;
  m_conn.pump(*this);
}

void stream::reset() {
  if (m_reset) return;
  m_reset = true;
  m_out.clear();
  m_out_pos = 0;
  m_conn.note_local_reset();
  if (auto* mux = m_conn.m_core.mux()) (void)mux->reset(m_id);
  // The entry (and this object) is destroyed later, in reap(): callers up the stack may still
  // hold references to it.
  m_conn.m_reap.emplace_back(m_id, make_error_code(host_errc::stream_reset_locally));
  m_conn.flush();
}

// ---- connection ----

connection::connection(const connection_env& env, io::tcp::socket socket, const conn::config& cfg,
                       std::optional<multiformats::peer_id> expected, time_point now)
    : m_owner(env.owner),
      m_metrics(env.metrics),
      m_clock(env.clock),
      m_cfg(cfg),
      // The core runs on the driver's clock (the steady one), whatever the host's clock is.
      m_core(cfg, env.identity, env.rng, io::now()),
      m_driver(std::move(socket), *this,
               {[this] { on_progress(); }, [this](std::error_code ec) { on_closed(ec); }}),
      m_expected(std::move(expected)),
      m_since(now),
      m_negotiations(env.negotiation) {
  m_remote_addr = to_multiaddr(m_driver.remote_endpoint());
  m_local_addr = to_multiaddr(m_driver.local_endpoint());
  m_driver.set_linger(env.close_linger);
}

connection::~connection() = default;

void connection::start() {
  m_driver.start(shared_from_this());
}

clock_duration connection::rtt() const noexcept {
  auto* self = const_cast<connection*>(this);
  if (auto* mux = self->m_core.mux()) return mux->rtt();
  return {};
}

void connection::flush() {
  if (m_in_progress || m_closed) return;
  reap();
  m_driver.flush();
}

void connection::reap() {
  while (!m_reap.empty()) {
    auto batch = std::move(m_reap);
    m_reap.clear();
    for (auto& [id, ec] : batch)
      finish_stream(id, ec);
  }
}

void connection::poll_transmit(bytes& out) {
  pump_all();
  // GoAway(0) waits until every stream's queued bytes and FIN are inside the muxer; the muxer
  // then sends it after they are on the wire.
  if (m_close_pending && all_streams_drained()) {
    m_close_pending = false;
    m_core.close();
  }
  m_core.poll_transmit(out);
}

bool connection::all_streams_drained() const {
  for (const auto& [id, en] : m_streams) {
    if (en.s->m_reset) continue;
    if (en.s->buffered() > 0 || (en.s->m_close_write_requested && !en.s->m_close_write_sent))
      return false;
  }
  return true;
}

void connection::close() {
  if (m_closed) return;
  m_closing = true;
  for (auto& [id, en] : m_streams) {
    if (en.open && !en.s->write_closed()) en.s->close_write();
  }
  m_pending_opens.clear();
  m_close_pending = true;
  flush();
}

void connection::abort(std::error_code ec) {
  m_closing = true;
  m_driver.abort(ec);
}

void connection::note_local_reset() {
  m_metrics.count(stream_event::reset_locally);
}

void connection::drop() {
  if (m_closed) return;
  m_closed = true;
  m_closing = true;
  auto keep = shared_from_this();
  auto streams = std::move(m_streams);  // handlers die here, without callbacks
  m_streams.clear();
  streams.clear();
  m_pending_opens.clear();
  m_reap.clear();
  m_negotiations.clear();
  m_driver.abort({});  // on_closed sees m_closed and returns
}

time_point connection::next_deadline() const {
  const time_point core = m_core.next_deadline();
  const time_point neg = m_negotiations.next_deadline();
  if (neg == no_deadline) return core;
  // Negotiation deadlines are on the host's clock, the driver's timer on the steady clock:
  // wait for the time left. (With the steady clock, this is the deadline itself.)
  const clock_duration left = neg - m_clock.now();
  return std::min(core, io::now() + std::max(left, clock_duration::zero()));
}

result<void> connection::on_deadline(time_point now) {
  expire_negotiations(m_clock.now());
  return m_core.on_deadline(now);
}

void connection::check_deadlines() {
  if (m_closed || m_in_progress) return;
  expire_negotiations(m_clock.now());
  flush();
}

void connection::expire_negotiations(time_point now) {
  const bool was = m_in_progress;
  m_in_progress = true;  // resets below flush once, from the driver
  for (const auto id : m_negotiations.expire(now)) {
    auto it = m_streams.find(id);
    if (it == m_streams.end() || it->second.open || it->second.s->m_reset) continue;
    entry& en = it->second;
    m_metrics.count(stream_event::negotiation_timed_out);
    spdlog::debug("stream {} with {}: protocol negotiation timed out",
                  static_cast<std::uint32_t>(id), m_peer.to_string());
    auto failed = std::move(en.failed);
    en.s->reset();
    if (failed) failed(make_error_code(host_errc::negotiation_timeout));
  }
  m_in_progress = was;
}

void connection::leave_negotiation(entry& en) {
  en.listener.reset();
  en.dialer.reset();
  m_negotiations.leave(en.s->m_id);
}

void connection::on_progress() {
  m_in_progress = true;
  auto keep = shared_from_this();
  while (auto ev = m_core.poll_event()) {
    if (auto* est = std::get_if<conn::established>(&*ev)) {
      on_established(*est);
    } else {
      on_mux_event(std::get<yamux::event>(*ev));
    }
    if (m_closed) break;
    reap();
  }
  reap();
  m_in_progress = false;
}

void connection::on_established(const conn::established& e) {
  m_peer = multiformats::peer_id::from_public_key(e.remote_identity);
  m_established = true;
  auto self = shared_from_this();
  m_owner.connection_established(self, e);
  if (m_closed) return;
  auto pending = std::move(m_pending_opens);
  m_pending_opens.clear();
  for (auto& p : pending)
    start_open(std::move(p));
}

void connection::open_stream(std::vector<std::string> protocols, std::unique_ptr<stream_handler> h,
                             open_failed_fn failed) {
  pending_open p{std::move(protocols), std::move(h), std::move(failed)};
  if (closing()) {
    if (p.failed) p.failed(make_error_code(host_errc::connection_closed));
    return;
  }
  if (!m_established) {
    m_pending_opens.push_back(std::move(p));
    return;
  }
  start_open(std::move(p));
  flush();
}

void connection::start_open(pending_open p) {
  auto* mux = m_core.mux();
  auto id = mux ? mux->open_stream()
                : result<yamux::stream_id>(make_error_code(host_errc::connection_closed));
  if (!id) {
    if (p.failed) p.failed(id.error());
    return;
  }
  auto d = mss::dialer::create(std::move(p.protocols), mss::mode::wait_echo);
  if (!d) {
    (void)mux->reset(*id);
    if (p.failed) p.failed(d.error());
    return;
  }
  entry en;
  en.s.reset(new stream(*this, *id, false));
  en.dialer.emplace(std::move(*d));
  en.handler = std::move(p.handler);
  en.failed = std::move(p.failed);
  bytes hello;
  en.dialer->poll_transmit(hello);
  auto& ref = m_streams.emplace(*id, std::move(en)).first->second;
  m_negotiations.start_outbound(*id, m_clock.now());
  ref.s->write(hello);
}

void connection::on_mux_event(const yamux::event& ev) {
  std::visit(
      [this](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, yamux::stream_opened>) {
          on_inbound_stream(e.id);
        } else if constexpr (std::is_same_v<T, yamux::stream_data>) {
          auto it = m_streams.find(e.id);
          if (it == m_streams.end()) return;
          const std::size_t n = e.bytes.size();
          on_stream_data(it->second, e.bytes);
          if (auto* mux = m_core.mux()) (void)mux->consume(e.id, n);
        } else if constexpr (std::is_same_v<T, yamux::stream_read_closed>) {
          auto it = m_streams.find(e.id);
          if (it == m_streams.end()) return;
          if (!it->second.open) {
            it->second.s->reset();  // EOF during negotiation: nothing sensible to run
            return;
          }
          it->second.handler->on_read_closed(*it->second.s);
        } else if constexpr (std::is_same_v<T, yamux::stream_reset>) {
          m_metrics.count(stream_event::reset_by_peer);
          finish_stream(e.id, make_error_code(host_errc::stream_reset_by_peer));
        } else if constexpr (std::is_same_v<T, yamux::stream_closed>) {
          finish_stream(e.id, {});
        } else if constexpr (std::is_same_v<T, yamux::stream_writable>) {
          auto it = m_streams.find(e.id);
          if (it == m_streams.end()) return;
          pump(*it->second.s);
          if (it->second.open) it->second.handler->on_writable(*it->second.s);
        } else if constexpr (std::is_same_v<T, yamux::session_closed>) {
          m_driver.close(e.error);
        } else if constexpr (std::is_same_v<T, yamux::go_away_received>) {
          // GoAway with an error code kills the session (session_closed follows). A normal
          // GoAway means the peer takes no new streams: let the open ones finish, then close
          // our side too instead of keeping a connection nobody can use.
          if (e.code == 0 && !m_peer_going_away) {
            m_peer_going_away = true;
            spdlog::debug("{} sent GoAway: closing once {} open stream(s) finish",
                          m_peer.to_string(), m_streams.size());
            auto pending = std::move(m_pending_opens);
            m_pending_opens.clear();
            for (auto& p : pending) {
              if (p.failed) p.failed(make_error_code(host_errc::connection_closed));
            }
            close_if_peer_gone();
          }
        } else {
          // stream_acked, ping_rtt (read through rtt()): nothing to do.
        }
      },
      ev);
}

void connection::on_inbound_stream(yamux::stream_id id) {
  auto* mux = m_core.mux();
  if (!mux) return;
  // A peer may not park streams in negotiation without bound.
  if (closing() || !m_negotiations.admit_inbound(id, m_clock.now())) {
    m_metrics.count(stream_event::refused);
    spdlog::debug("refusing stream {} from {}: {} streams in negotiation",
                  static_cast<std::uint32_t>(id), m_peer.to_string(), m_negotiations.inbound());
    (void)mux->reset(id);
    return;
  }
  entry en;
  en.s.reset(new stream(*this, id, true));
  en.listener.emplace([this](std::string_view p) { return m_owner.serves(*this, p); },
                      m_owner.protocols_for(*this));
  m_streams.emplace(id, std::move(en));
}

void connection::on_stream_data(entry& en, bytes_view data) {
  if (en.open) {
    en.handler->on_data(*en.s, data);
    return;
  }
  negotiate(en, data);
}

void connection::negotiate(entry& en, bytes_view data) {
  bytes reply;
  result<void> r = en.listener ? en.listener->feed(data) : en.dialer->feed(data);
  if (en.listener)
    en.listener->poll_transmit(reply);
  else
    en.dialer->poll_transmit(reply);
  if (!reply.empty()) en.s->write(reply);
  if (!r) {
    spdlog::debug("stream negotiation with {} failed: {}", m_peer.to_string(), r.error().message());
    m_metrics.count(stream_event::negotiation_failed);
    auto failed = std::move(en.failed);
    en.s->reset();
    if (failed) failed(r.error());
    return;
  }
  const bool done = en.listener ? en.listener->is_done() : en.dialer->is_done();
  if (!done) return;
  bytes rest;
  if (en.listener) {
    en.s->m_protocol = en.listener->selected();
    rest = en.listener->take_remaining();
    leave_negotiation(en);
    m_metrics.count(stream_event::opened_inbound);
    en.handler = m_owner.make_handler(*this, en.s->m_protocol);
    if (!en.handler) {  // cannot happen: the listener accepts only served protocols
      en.s->reset();
      return;
    }
  } else {
    en.s->m_protocol = en.dialer->selected();
    rest = en.dialer->take_remaining();
    leave_negotiation(en);
    m_metrics.count(stream_event::opened_outbound);
  }
  en.open = true;
  en.failed = nullptr;
  stream& s = *en.s;
  stream_handler& h = *en.handler;
  h.on_open(s);
  if (!rest.empty() && !s.m_reset) h.on_data(s, rest);
}

void connection::finish_stream(yamux::stream_id id, std::error_code ec) {
  auto it = m_streams.find(id);
  if (it == m_streams.end()) return;
  entry en = std::move(it->second);
  m_streams.erase(it);
  leave_negotiation(en);
  if (en.open && en.handler) {
    en.handler->on_closed(*en.s, ec);
  } else if (en.failed) {
    en.failed(ec ? ec : make_error_code(host_errc::connection_closed));
  }
  close_if_peer_gone();
}

void connection::close_if_peer_gone() {
  if (m_peer_going_away && !m_closing && !m_closed && m_streams.empty()) close();
}

void connection::pump(stream& s) {
  pump_quietly(s);
  flush();
}

void connection::pump_quietly(stream& s) {
  if (s.m_reset) return;
  auto* mux = m_core.mux();
  if (!mux) return;
  while (s.buffered() > 0) {
    auto n = mux->write(s.m_id, bytes_view(s.m_out).subspan(s.m_out_pos));
    if (!n || *n == 0) break;
    s.m_out_pos += *n;
  }
  if (s.buffered() == 0) {
    s.m_out.clear();
    s.m_out_pos = 0;
    if (s.m_close_write_requested && !s.m_close_write_sent) {
      s.m_close_write_sent = true;
      (void)mux->close_write(s.m_id);
    }
  }
}

void connection::pump_all() {
  for (auto& [id, en] : m_streams) {
    if (en.s->buffered() > 0 || (en.s->m_close_write_requested && !en.s->m_close_write_sent)) {
      pump_quietly(*en.s);
    }
  }
}

void connection::on_closed(std::error_code ec) {
  if (m_closed) return;
  m_closed = true;
  auto self = shared_from_this();
  const auto why = ec ? ec : make_error_code(host_errc::connection_closed);
  auto streams = std::move(m_streams);
  m_streams.clear();
  m_negotiations.clear();
  for (auto& [id, en] : streams) {
    if (en.open && en.handler) {
      en.handler->on_closed(*en.s, why);
    } else if (en.failed) {
      en.failed(why);
    }
  }
  for (auto& p : m_pending_opens) {
    if (p.failed) p.failed(why);
  }
  m_pending_opens.clear();
  m_owner.connection_closed(self, ec ? ec : m_core.error());
}

}  // namespace starling::node
