// Output: control frames, window updates, round-robin Data frames; keep-alive timers.
#include <algorithm>

#include "core/yamux/session.hpp"

namespace starling::yamux {

bool session::wants_transmit() const noexcept {
  if (!m_ctrl.empty()) return true;
  if (m_dead) return false;
  return !m_ctrl_queue.empty() || !m_send_queue.empty() || m_goaway_pending;
}

void session::poll_transmit(bytes& out, std::size_t max_bytes) {
  const std::size_t start = out.size();
  if (!m_ctrl.empty()) {
    out.insert(out.end(), m_ctrl.begin(), m_ctrl.end());
    m_ctrl.clear();
  }
  if (m_dead) return;
  emit_window_updates(out);
  const std::size_t used = out.size() - start;
  if (used < max_bytes) emit_data(out, max_bytes - used);
  // GoAway(0) goes last, once nothing written before it is still waiting (js ends every
  // stream when it sees GoAway, so data queued behind it would be lost).
  if (m_goaway_pending && all_flushed()) {
    append_header({0, frame_type::go_away, 0, 0, m_goaway_code}, out);
    m_goaway_pending = false;
    m_goaway_sent = true;
  }
}

void session::emit_window_updates(bytes& out) {
  for (const std::uint32_t id : m_ctrl_queue) {
    auto* s = find(id);
    if (s == nullptr) continue;
    s->in_ctrl_queue = false;
    if (s->closed) continue;
    const bool update = !s->remote_fin && s->recv.update_due();
    // SYN/ACK ride on the first Data or FIN frame when one is about to go out.
    const bool flags_alone = s->handshake_pending() && !s->sendable();
    if (!update && !flags_alone) continue;
    const std::uint32_t delta = update ? s->recv.take_update(m_now, m_rtt, m_cfg.max_window) : 0;
    append_header({0, frame_type::window_update, s->take_handshake_flags(), id, delta}, out);
  }
  m_ctrl_queue.clear();
}

void session::emit_data(bytes& out, std::size_t budget) {
  while (!m_send_queue.empty() && budget >= header_size) {
    const std::uint32_t id = m_send_queue.front();
    m_send_queue.pop_front();
    auto* s = find(id);
    if (s == nullptr) continue;
    s->in_send_queue = false;
    if (!s->sendable()) continue;
    const std::uint64_t room = budget - header_size;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(
        {s->tx_pending(), s->send.available(), m_cfg.max_frame_size, room}));
    if (n == 0 && s->tx_pending() > 0) {  // budget too small for a useful frame: next call
      s->in_send_queue = true;
      m_send_queue.push_front(id);
      break;
    }
    std::uint16_t f = s->take_handshake_flags();
    // FIN goes on its own zero-length frame after the last data: js-yamux (8.x) applies a Data
    // frame's flags before its payload, so data sharing a frame with FIN is dropped by a js
    // stream whose write side is already closed.
    if (n == 0 && s->tx_pending() == 0 && s->fin_queued && !s->fin_sent) f |= flags::fin;
    const header h{0, n > 0 ? frame_type::data : frame_type::window_update, f, id,
                   static_cast<std::uint32_t>(n)};
    // Header, then the payload copied straight from the stream's buffer (no zero-fill first).
    append_header(h, out);
    if (n > 0) {
      const auto* from = s->tx.data() + s->tx_head;
      out.insert(out.end(), from, from + n);
      s->tx_head += n;
      if (s->tx_head == s->tx.size()) {
        s->tx.clear();
        s->tx_head = 0;
      }
      s->send.spend(n);
    }
    budget -= header_size + n;
    if (f & flags::fin) {
      s->fin_sent = true;
      maybe_finish(*s);
    } else {
      check_writable(*s);
    }
    enqueue_send(*s);  // back of the queue: one frame per stream per turn
  }
}

bool session::all_flushed() const noexcept {
  return std::all_of(m_streams.begin(), m_streams.end(), [](const auto& kv) {
    const auto& s = kv.second;
    return s.closed || (s.tx_pending() == 0 && (!s.fin_queued || s.fin_sent));
  });
}

// --- keep-alive -------------------------------------------------------------------------

void session::send_ping(time_point now) {
  ++m_ping_value;
  append_header({0, frame_type::ping, flags::syn, 0, m_ping_value}, m_ctrl);
  m_ping_outstanding = true;
  m_ping_sent = now;
  m_next_ping = now + m_cfg.keepalive_interval;
  m_start_ping_due = false;
}

result<void> session::ping(time_point now) {
  if (m_dead) return errc::session_dead;
  touch(now);
  if (!m_ping_outstanding) send_ping(now);
  return {};
}

time_point session::next_deadline() const noexcept {
  if (m_dead) return no_deadline;
  const bool keepalive = m_cfg.keepalive_interval.count() > 0;
  if (m_start_ping_due || (!m_clock_started && keepalive)) return time_point::min();
  time_point t = no_deadline;
  if (m_ping_outstanding) {
    if (m_cfg.ping_timeout.count() > 0) t = m_ping_sent + m_cfg.ping_timeout;
  } else if (keepalive) {
    t = m_next_ping;
  }
  return t;
}

result<void> session::on_deadline(time_point now) {
  if (m_dead) return errc::session_dead;
  touch(now);
  if (m_ping_outstanding) {
    if (m_cfg.ping_timeout.count() > 0 && now - m_ping_sent >= m_cfg.ping_timeout) {
      die(errc::keepalive_timeout, std::nullopt);
      return errc::keepalive_timeout;
    }
    return {};
  }
  if (m_start_ping_due || (m_cfg.keepalive_interval.count() > 0 && now >= m_next_ping))
    send_ping(now);
  return {};
}

}  // namespace starling::yamux
