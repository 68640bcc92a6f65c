#pragma once
/// A Yamux session (libp2p/specs yamux/README.md) as a sans-I/O core.
///
/// The shell feeds bytes read from the (secured) connection into feed(), writes whatever
/// poll_transmit() appends, drains poll_event() after every call, and calls on_deadline() at
/// next_deadline(). Received data is handed out in stream_data events; the application calls
/// consume() when it has processed it, which reopens the peer's window. write() accepts what
/// the peer's window (plus a small slack) allows; the rest is retried after stream_writable.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/common/time.hpp"
#include "core/yamux/config.hpp"
#include "core/yamux/errc.hpp"
#include "core/yamux/frame.hpp"
#include "core/yamux/stream.hpp"

namespace starling::yamux {

/// One multiplexed connection. Not thread-safe: one owner drives it.
class session {
 public:
  /// A session for our side `r` of the connection.
  explicit session(role r, config cfg = {});

  /// Processes bytes from the connection (any split; partial frames are kept).
  /// Errors: a protocol violation (bad_version, bad_type, bad_flags, bad_stream_id,
  /// stream_id_reused, window_exceeded): the session queues GoAway(1) for poll_transmit and is
  /// dead; the shell writes it and closes the connection. session_dead: already dead.
  [[nodiscard]] result<void> feed(bytes_view in, time_point now);

  /// Appends every frame ready to go: control frames (pings, window updates, ACKs, RSTs,
  /// GoAway) first, then Data frames round-robin across streams, one frame per stream per turn.
  /// Data frames are sized so that the bytes appended stay within `max_bytes` (control frames
  /// always go out); call again for more.
  void poll_transmit(bytes& out, std::size_t max_bytes = SIZE_MAX);
  /// True when poll_transmit may append something (false means it certainly would not).
  bool wants_transmit() const noexcept;

  /// The next event, or nullopt. A stream_data view stays valid until the next call into the
  /// session. Drain after every feed/on_deadline/poll_transmit (sending a FIN can complete a
  /// close): events are queued without another bound than the input that caused them.
  std::optional<event> poll_event();
  /// True when poll_event() may return something (false: it certainly returns nullopt).
  bool has_events() const noexcept { return !m_events.empty() || m_closed_event_pending; }

  /// Opens an outbound stream; its SYN rides on its first frame (a zero-length WindowUpdate
  /// at the next poll_transmit when nothing else is written).
  /// Errors: session_dead; going_away (GoAway sent or received); too_many_unacked (ACK backlog
  /// full: retry after a stream_acked event); ids_exhausted (open a new connection).
  [[nodiscard]] result<stream_id> open_stream();

  /// Buffers up to data.size() bytes for sending; returns how many were accepted (0 when the
  /// peer's window is full: retry after stream_writable).
  /// Errors: session_dead; unknown_stream (reset, closed or never opened); write_closed.
  [[nodiscard]] result<std::size_t> write(stream_id id, bytes_view data);
  /// How many bytes write() would accept now (0 for a dead session or an unknown, closed or
  /// write-closed stream). A sender that writes at most this much never has bytes refused; a
  /// write when it is 0 is refused and makes stream_writable follow once there is room.
  std::size_t write_room(stream_id id) const noexcept;

  /// Half-closes our side: FIN goes out after the buffered data.
  /// Errors: session_dead; unknown_stream; write_closed (already called).
  [[nodiscard]] result<void> close_write(stream_id id);

  /// Resets the stream (RST) and forgets it at once; buffered data is dropped. Only events
  /// queued before the call (e.g. the peer's own stream_reset) may still name the id.
  /// Errors: session_dead; unknown_stream.
  [[nodiscard]] result<void> reset(stream_id id);

  /// The application has processed `n` received bytes of the stream; a window update goes out
  /// once half the window is free (the window may grow, see config::max_window).
  /// Errors: session_dead; unknown_stream (harmless after stream_reset/stream_closed);
  /// bad_consume (n above the bytes received and not consumed: an application bug).
  [[nodiscard]] result<void> consume(stream_id id, std::size_t n);

  /// Sends GoAway(code): 0 normal (no new streams either way; the frame goes out once every
  /// stream's written data and FIN are sent, then the shell may close the connection),
  /// 1 protocol error or 2 internal error (immediately; the session is dead afterwards).
  /// Errors: session_dead.
  [[nodiscard]] result<void> go_away(std::uint32_t code);

  /// Sends a ping now unless one is outstanding; its reply yields a ping_rtt event.
  /// Errors: session_dead.
  [[nodiscard]] result<void> ping(time_point now);

  /// When on_deadline() must be called next (time_point::min() = right away; no_deadline).
  time_point next_deadline() const noexcept;
  /// Runs timers: keep-alive pings and the ping timeout.
  /// Errors: keepalive_timeout (the session is now dead: close the connection); session_dead.
  [[nodiscard]] result<void> on_deadline(time_point now);

  /// True once the session failed or closed with an error; only poll_transmit (the GoAway)
  /// and poll_event (session_closed) do anything afterwards.
  bool is_dead() const noexcept { return m_dead; }
  /// Why the session died (empty while alive).
  std::error_code error() const noexcept { return m_error; }
  /// True once our GoAway frame has been handed to poll_transmit.
  bool go_away_sent() const noexcept { return m_goaway_sent; }
  /// Live streams (including closed ones whose stream_closed event is not yet polled).
  std::size_t stream_count() const noexcept { return m_streams.size(); }
  /// The last ping RTT (zero until a reply arrived).
  clock_duration rtt() const noexcept { return m_rtt; }
  /// Flow-control state of a live stream.
  std::optional<stream_info> info(stream_id id) const;

 private:
  enum class ev_kind : std::uint8_t {
    opened,
    acked,
    data,
    read_closed,
    reset,
    closed,
    writable,
    rtt,
    go_away
  };
  struct queued_event {
    ev_kind kind;
    std::uint32_t id;
    std::int64_t value;
  };

  detail::stream* find(std::uint32_t id) noexcept;
  const detail::stream* find(std::uint32_t id) const noexcept;
  void erase(std::uint32_t id);
  void push_event(ev_kind k, std::uint32_t id, std::int64_t value = 0) {
    m_events.push_back({k, id, value});
  }
  void die(std::error_code ec, std::optional<std::uint32_t> go_away_code);
  void touch(time_point now) noexcept;
  void send_ping(time_point now);
  void queue_control(std::uint16_t flag_bits, std::uint32_t id);
  void enqueue_ctrl(detail::stream& s);
  void enqueue_send(detail::stream& s);
  void check_writable(detail::stream& s);
  void maybe_finish(detail::stream& s);
  std::uint64_t write_cap() const noexcept {
    return std::min<std::uint64_t>(m_cfg.max_window, m_cfg.max_write_buffer);
  }

  // feed helpers (session_feed.cpp)
  std::error_code on_header(const header& h);
  std::error_code on_stream_header(const header& h);
  void on_ping(const header& h);
  void on_go_away(const header& h);
  void deliver(bytes_view chunk);
  void finish_frame();

  // transmit helpers (session_transmit.cpp)
  void emit_window_updates(bytes& out);
  void emit_data(bytes& out, std::size_t budget);
  bool all_flushed() const noexcept;

  role m_role;
  config m_cfg;
  std::unordered_map<std::uint32_t, detail::stream> m_streams;
  std::uint64_t m_next_id;  ///< next id we open; above 2^32-1 means exhausted
  std::uint32_t m_last_inbound = 0;
  std::size_t m_inbound = 0;
  std::size_t m_unacked = 0;

  // parser
  std::uint8_t m_hdr[header_size] = {};
  std::size_t m_hdr_len = 0;
  std::uint32_t m_payload_left = 0;
  std::uint32_t m_frame_stream = 0;  ///< stream the current Data payload goes to (0 = skip)
  std::uint16_t m_frame_flags = 0;

  // output
  bytes m_ctrl;                             ///< serialized session frames and RSTs
  std::vector<std::uint32_t> m_ctrl_queue;  ///< streams needing a WindowUpdate/flags frame
  std::deque<std::uint32_t> m_send_queue;   ///< streams with sendable data, round-robin
  bool m_goaway_pending = false;            ///< GoAway(0) waits for the streams to flush
  std::uint32_t m_goaway_code = 0;
  bool m_goaway_sent = false;

  // events
  std::deque<queued_event> m_events;
  bytes m_lent;  ///< data of the last stream_data event
  bool m_closed_event_pending = false;

  // keep-alive and RTT
  bool m_clock_started = false;
  bool m_start_ping_due;
  bool m_ping_outstanding = false;
  std::uint32_t m_ping_value = 0;
  time_point m_ping_sent{};
  time_point m_next_ping{};
  time_point m_now{};
  clock_duration m_rtt{};

  bool m_local_goaway = false;
  bool m_remote_goaway = false;
  bool m_dead = false;
  std::error_code m_error;
};

}  // namespace starling::yamux
