// Session construction, the stream API and event delivery.
#include "core/yamux/session.hpp"

#include <algorithm>

namespace starling::yamux {

namespace {
config sanitize(config c) noexcept {
  c.initial_window = std::max(c.initial_window, default_window);
  c.max_window = std::max(c.max_window, c.initial_window);
  c.max_frame_size = std::max<std::uint32_t>(c.max_frame_size, 1);
  c.max_write_buffer = std::max<std::size_t>(c.max_write_buffer, c.initial_window);
  return c;
}
}  // namespace

session::session(role r, config cfg)
    : m_role(r),
      m_cfg(sanitize(cfg)),
      m_next_id(r == role::dialer ? 1 : 2),
      m_start_ping_due(m_cfg.ping_on_start) {}

detail::stream* session::find(std::uint32_t id) noexcept {
  auto it = m_streams.find(id);
  return it == m_streams.end() ? nullptr : &it->second;
}

const detail::stream* session::find(std::uint32_t id) const noexcept {
  auto it = m_streams.find(id);
  return it == m_streams.end() ? nullptr : &it->second;
}

std::optional<stream_info> session::info(stream_id id) const {
  auto it = m_streams.find(static_cast<std::uint32_t>(id));
  if (it == m_streams.end()) return std::nullopt;
  const auto& s = it->second;
  return stream_info{s.send.available(), s.recv.size(), s.recv.credit(), s.recv.unconsumed(),
                     s.tx_pending()};
}

void session::erase(std::uint32_t id) {
  auto it = m_streams.find(id);
  if (it == m_streams.end()) return;
  if (it->second.outbound) {
    if (!it->second.acked) --m_unacked;
  } else {
    --m_inbound;
  }
  m_streams.erase(it);
}

void session::die(std::error_code ec, std::optional<std::uint32_t> go_away_code) {
  if (m_dead) return;
  m_dead = true;
  m_error = ec;
  if (go_away_code && !m_goaway_sent) {
    append_header({0, frame_type::go_away, 0, 0, *go_away_code}, m_ctrl);
    m_goaway_sent = true;
  }
  m_goaway_pending = false;
  m_streams.clear();
  m_inbound = m_unacked = 0;
  m_ctrl_queue.clear();
  m_send_queue.clear();
  m_events.clear();
  m_closed_event_pending = true;
  m_ping_outstanding = false;
}

void session::touch(time_point now) noexcept {
  m_now = now;
  if (!m_clock_started) {
    m_clock_started = true;
    m_next_ping = now + m_cfg.keepalive_interval;
  }
}

void session::queue_control(std::uint16_t flag_bits, std::uint32_t id) {
  append_header({0, frame_type::window_update, flag_bits, id, 0}, m_ctrl);
}

void session::enqueue_ctrl(detail::stream& s) {
  if (s.in_ctrl_queue) return;
  s.in_ctrl_queue = true;
  m_ctrl_queue.push_back(s.id);
}

void session::enqueue_send(detail::stream& s) {
  if (s.in_send_queue || !s.sendable()) return;
  s.in_send_queue = true;
  m_send_queue.push_back(s.id);
}

void session::check_writable(detail::stream& s) {
  if (!s.write_blocked || s.fin_queued) return;
  if (s.send.buffer_limit(write_cap(), m_cfg.write_slack) > s.tx_pending()) {
    s.write_blocked = false;
    push_event(ev_kind::writable, s.id);
  }
}

void session::maybe_finish(detail::stream& s) {
  if (s.closed || !s.fin_sent || !s.remote_fin) return;
  s.closed = true;
  s.tx = bytes{};
  s.tx_head = 0;
  push_event(ev_kind::closed, s.id);
}

result<stream_id> session::open_stream() {
  if (m_dead) return errc::session_dead;
  if (m_local_goaway || m_remote_goaway) return errc::going_away;
  if (m_unacked >= m_cfg.max_unacked_outbound) return errc::too_many_unacked;
  if (m_next_id > UINT32_MAX) return errc::ids_exhausted;
  const auto id = static_cast<std::uint32_t>(m_next_id);
  m_next_id += 2;
  auto [it, inserted] = m_streams.try_emplace(id, id, true, m_cfg.initial_window);
  (void)inserted;
  auto& s = it->second;
  s.syn_pending = true;
  s.recv.start(m_now);
  ++m_unacked;
  enqueue_ctrl(s);
  return stream_id{id};
}

result<std::size_t> session::write(stream_id id, bytes_view data) {
  if (m_dead) return errc::session_dead;
  auto* s = find(static_cast<std::uint32_t>(id));
  if (s == nullptr || s->closed) return errc::unknown_stream;
  if (s->fin_queued) return errc::write_closed;
  const std::uint64_t limit = s->send.buffer_limit(write_cap(), m_cfg.write_slack);
  const std::uint64_t room = limit > s->tx_pending() ? limit - s->tx_pending() : 0;
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(room, data.size()));
  if (n < data.size()) s->write_blocked = true;
  if (n == 0) return std::size_t{0};
  if (s->tx_head > 0 && s->tx_head >= s->tx.size() / 2) {  // compact before growing
    s->tx.erase(s->tx.begin(), s->tx.begin() + static_cast<std::ptrdiff_t>(s->tx_head));
    s->tx_head = 0;
  }
  s->tx.insert(s->tx.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
  enqueue_send(*s);
  return n;
}

std::size_t session::write_room(stream_id id) const noexcept {
  if (m_dead) return 0;
  const auto* s = find(static_cast<std::uint32_t>(id));
  if (s == nullptr || s->closed || s->fin_queued) return 0;
  const std::uint64_t limit = s->send.buffer_limit(write_cap(), m_cfg.write_slack);
  return limit > s->tx_pending() ? static_cast<std::size_t>(limit - s->tx_pending()) : 0;
}

result<void> session::close_write(stream_id id) {
  if (m_dead) return errc::session_dead;
  auto* s = find(static_cast<std::uint32_t>(id));
  if (s == nullptr || s->closed) return errc::unknown_stream;
  if (s->fin_queued) return errc::write_closed;
  s->fin_queued = true;
  s->write_blocked = false;
  enqueue_send(*s);
  return {};
}

result<void> session::reset(stream_id id) {
  if (m_dead) return errc::session_dead;
  const auto raw = static_cast<std::uint32_t>(id);
  auto* s = find(raw);
  if (s == nullptr) return errc::unknown_stream;
  // A stream the peer never heard of (SYN unsent) or that is fully closed needs no RST.
  if (!s->closed && !s->syn_pending) queue_control(flags::rst, raw);
  erase(raw);
  return {};
}

result<void> session::consume(stream_id id, std::size_t n) {
  if (m_dead) return errc::session_dead;
  auto* s = find(static_cast<std::uint32_t>(id));
  if (s == nullptr) return errc::unknown_stream;
  if (!s->recv.consume(n)) return errc::bad_consume;
  if (!s->remote_fin && !s->closed && s->recv.update_due()) enqueue_ctrl(*s);
  return {};
}

result<void> session::go_away(std::uint32_t code) {
  if (m_dead) return errc::session_dead;
  if (code != go_away_code::normal) {
    if (!m_goaway_sent) {
      m_goaway_pending = false;
      die(errc::going_away, code);
    } else {
      die(errc::going_away, std::nullopt);
    }
    return {};
  }
  if (m_local_goaway) return {};
  m_local_goaway = true;
  m_goaway_pending = true;
  m_goaway_code = code;
  return {};
}

std::optional<event> session::poll_event() {
  while (!m_events.empty()) {
    const queued_event q = m_events.front();
    m_events.pop_front();
    const stream_id id{q.id};
    switch (q.kind) {
      case ev_kind::opened:
        return stream_opened{id};
      case ev_kind::acked:
        return stream_acked{id};
      case ev_kind::read_closed:
        return stream_read_closed{id};
      case ev_kind::reset:
        if (auto* s = find(q.id); s != nullptr && s->closed) erase(q.id);
        return stream_reset{id};
      case ev_kind::rtt:
        return ping_rtt{clock_duration(q.value)};
      case ev_kind::go_away:
        return go_away_received{static_cast<std::uint32_t>(q.value)};
      case ev_kind::closed:
        if (auto* s = find(q.id); s != nullptr && s->closed) erase(q.id);
        return stream_closed{id};
      case ev_kind::writable: {
        auto* s = find(q.id);
        if (s == nullptr || s->closed) continue;
        return stream_writable{id};
      }
      case ev_kind::data: {
        auto* s = find(q.id);
        if (s == nullptr) continue;
        s->data_event_queued = false;
        if (s->rx.empty()) continue;
        m_lent.clear();
        m_lent.swap(s->rx);  // the stream reuses the previous event's storage
        return stream_data{id, bytes_view(m_lent)};
      }
    }
  }
  if (m_closed_event_pending) {
    m_closed_event_pending = false;
    return session_closed{m_error};
  }
  return std::nullopt;
}

}  // namespace starling::yamux
