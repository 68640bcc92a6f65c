// Parsing input: frame headers, Data payloads, and what each frame does to the session.
#include <algorithm>

#include "core/yamux/session.hpp"

namespace starling::yamux {

result<void> session::feed(bytes_view in, time_point now) {
  if (m_dead) return errc::session_dead;
  touch(now);
  std::size_t pos = 0;
  while (pos < in.size()) {
    if (m_payload_left > 0) {
      const auto n =
          static_cast<std::uint32_t>(std::min<std::size_t>(m_payload_left, in.size() - pos));
      if (m_frame_stream != 0) deliver(in.subspan(pos, n));
      pos += n;
      m_payload_left -= n;
      if (m_payload_left == 0) finish_frame();
      continue;
    }
    const std::uint8_t* raw;
    if (m_hdr_len == 0 && in.size() - pos >= header_size) {
      raw = in.data() + pos;  // common case: the whole header is in this input
      pos += header_size;
    } else {
      const std::size_t n = std::min(header_size - m_hdr_len, in.size() - pos);
      std::copy_n(in.data() + pos, n, m_hdr + m_hdr_len);
      m_hdr_len += n;
      pos += n;
      if (m_hdr_len < header_size) break;
      m_hdr_len = 0;
      raw = m_hdr;
    }
    header h;
    std::error_code ec = decode_header(raw, h);
    if (!ec) ec = on_header(h);
    if (ec) {
      die(ec, go_away_code::protocol_error);
      return ec;
    }
    if (m_dead) return {};  // the peer's GoAway(error) ended the session
  }
  return {};
}

std::error_code session::on_header(const header& h) {
  switch (h.type) {
    case frame_type::ping:
      on_ping(h);
      return {};
    case frame_type::go_away:
      on_go_away(h);
      return {};
    case frame_type::data:
    case frame_type::window_update:
      return on_stream_header(h);
  }
  return errc::bad_type;
}

void session::on_ping(const header& h) {
  if (h.flags == flags::syn) {
    append_header({0, frame_type::ping, flags::ack, 0, h.length}, m_ctrl);
    return;
  }
  // A reply. One we did not ask for, or with another value, is ignored (not an error).
  if (!m_ping_outstanding || h.length != m_ping_value) return;
  m_ping_outstanding = false;
  m_rtt = std::max(m_now - m_ping_sent, clock_duration(1));
  push_event(ev_kind::rtt, 0, m_rtt.count());
}

void session::on_go_away(const header& h) {
  if (h.length == go_away_code::normal) {
    if (!m_remote_goaway) push_event(ev_kind::go_away, 0, 0);
    m_remote_goaway = true;
    return;
  }
  die(errc::remote_go_away, std::nullopt);
  push_event(ev_kind::go_away, 0, h.length);
}

std::error_code session::on_stream_header(const header& h) {
  const bool is_data = h.type == frame_type::data;
  m_frame_flags = h.flags;
  m_frame_stream = 0;
  m_payload_left = is_data ? h.length : 0;
  detail::stream* s = nullptr;

  if (h.flags & flags::syn) {
    const bool peer_parity = (h.stream % 2 == 1) == (m_role == role::listener);
    if (!peer_parity) return errc::bad_stream_id;
    if (h.stream <= m_last_inbound) return errc::stream_id_reused;
    m_last_inbound = h.stream;
    if (m_local_goaway || m_inbound >= m_cfg.max_inbound_streams) {
      queue_control(flags::rst, h.stream);  // refuse; its payload is skipped
      if (m_payload_left == 0) m_frame_flags = 0;
      return {};
    }
    auto [it, inserted] = m_streams.try_emplace(h.stream, h.stream, false, m_cfg.initial_window);
    (void)inserted;
    s = &it->second;
    ++m_inbound;
    s->recv.start(m_now);
    s->ack_pending = true;
    if (m_cfg.ack_on_open || s->recv.update_due()) enqueue_ctrl(*s);
    push_event(ev_kind::opened, h.stream);
  } else {
    s = find(h.stream);
    // Unknown or finished streams: late window updates, data after RST. Ignored.
    if (s == nullptr || s->closed) {
      if (m_payload_left == 0) m_frame_flags = 0;
      return {};
    }
  }

  if ((h.flags & flags::ack) && s->outbound && !s->acked) {
    s->acked = true;
    --m_unacked;
    push_event(ev_kind::acked, s->id);
  }

  if (is_data) {
    if (!s->recv.on_data(h.length)) return errc::window_exceeded;
    // Data after the peer's own FIN is dropped (counted in the window, never delivered).
    if (!s->remote_fin) m_frame_stream = s->id;
  } else {
    s->send.grow(h.length);
    enqueue_send(*s);
    check_writable(*s);
  }
  if (m_payload_left == 0) {
    m_frame_stream = s->id;
    finish_frame();
  }
  return {};
}

void session::deliver(bytes_view chunk) {
  auto* s = find(m_frame_stream);
  if (s == nullptr || s->closed) {  // reset locally while its payload was arriving
    m_frame_stream = 0;
    return;
  }
  s->rx.insert(s->rx.end(), chunk.begin(), chunk.end());
  if (!s->data_event_queued) {
    s->data_event_queued = true;
    push_event(ev_kind::data, s->id);
  }
}

void session::finish_frame() {
  const std::uint32_t id = m_frame_stream;
  const std::uint16_t f = m_frame_flags;
  m_frame_stream = 0;
  m_frame_flags = 0;
  if (id == 0 || (f & (flags::fin | flags::rst)) == 0) return;
  auto* s = find(id);
  if (s == nullptr || s->closed) return;
  if (f & flags::rst) {
    // Kept (frames ignored) until its stream_reset event is polled, so that data received
    // before the RST is still handed out first, however the input was split.
    s->closed = true;
    s->tx = bytes{};
    s->tx_head = 0;
    push_event(ev_kind::reset, id);
    return;
  }
  if (!s->remote_fin) {
    s->remote_fin = true;
    push_event(ev_kind::read_closed, id);
    maybe_finish(*s);
  }
}

}  // namespace starling::yamux
