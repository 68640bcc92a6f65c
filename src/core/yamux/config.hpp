#pragma once
/// Yamux session configuration and the events a session reports.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <variant>

#include "core/common/bytes.hpp"
#include "core/common/time.hpp"
#include "core/yamux/frame.hpp"

namespace starling::yamux {

/// Which side of the connection we are: the dialer opens odd stream ids, the listener even.
enum class role { dialer, listener };

/// Session limits and timers. The defaults match what js-libp2p and go-libp2p expect.
struct config {
  /// Receive window granted to every new stream (>= 256 KiB; more is announced with the
  /// stream's first frame).
  std::uint32_t initial_window = default_window;
  /// Largest receive window auto-tuning may grow a stream to.
  std::uint32_t max_window = 16 * 1024 * 1024;
  /// Live streams the peer may have open at once; further SYNs are answered with RST.
  std::size_t max_inbound_streams = 256;
  /// Streams we opened that the peer has not ACKed yet (spec ACK backlog, SHOULD be 256).
  std::size_t max_unacked_outbound = 256;
  /// Largest payload of a Data frame we send (also bounded by the peer's window).
  std::uint32_t max_frame_size = 256 * 1024;
  /// Bytes write() accepts beyond the peer's send window, per stream.
  std::size_t write_slack = 64 * 1024;
  /// Most bytes of the peer's window that write() buffers per stream (plus write_slack), even
  /// when the window is larger: what is buffered only has to cover the next few
  /// poll_transmit calls, and a window-sized buffer (up to 16 MiB) would cost memory and
  /// page faults. Never below the initial window.
  std::size_t max_write_buffer = 2 * 1024 * 1024;
  /// Send a keep-alive ping this long after the previous one; 0 disables keep-alive.
  clock_duration keepalive_interval = std::chrono::seconds(10);
  /// A ping without reply for this long kills the session (keepalive_timeout); 0 = never.
  clock_duration ping_timeout = std::chrono::seconds(10);
  /// Ping as soon as the session starts, to learn the RTT that window tuning uses.
  bool ping_on_start = true;
  /// ACK inbound streams at once instead of with the application's first frame (spec advice).
  bool ack_on_open = false;
};

/// The peer opened a stream (its SYN arrived and was accepted).
struct stream_opened {
  stream_id id;
};
/// The peer ACKed a stream we opened.
struct stream_acked {
  stream_id id;
};
/// Bytes received on a stream. `bytes` stays valid until the next call into the session.
/// The application calls consume(id, n) once it has processed them, to reopen the window.
struct stream_data {
  stream_id id;
  bytes_view bytes;
};
/// The peer half-closed the stream (FIN): no more data will arrive on it.
struct stream_read_closed {
  stream_id id;
};
/// The peer reset the stream (RST); the id is forgotten and unsent data dropped. Data that
/// arrived before the RST was reported first.
struct stream_reset {
  stream_id id;
};
/// Both sides sent FIN; the id is forgotten.
struct stream_closed {
  stream_id id;
};
/// A stream whose write() was cut short can take more bytes again.
struct stream_writable {
  stream_id id;
};
/// A reply to our ping arrived: the measured round-trip time.
struct ping_rtt {
  clock_duration rtt;
};
/// The peer sent GoAway with this code (0 normal, 1 protocol error, 2 internal error).
struct go_away_received {
  std::uint32_t code;
};
/// The session is dead (all streams gone); `error` says why.
struct session_closed {
  std::error_code error;
};

/// What poll_event() hands out.
using event =
    std::variant<stream_opened, stream_acked, stream_data, stream_read_closed, stream_reset,
                 stream_closed, stream_writable, ping_rtt, go_away_received, session_closed>;

/// A snapshot of one stream's flow-control state (diagnostics and tests).
struct stream_info {
  std::uint64_t send_window = 0;     ///< bytes the peer still lets us send
  std::uint32_t receive_window = 0;  ///< current receive window size (grows with tuning)
  std::uint64_t receive_credit = 0;  ///< bytes the peer may still send before our next update
  std::uint64_t unconsumed = 0;      ///< received but not yet consume()d
  std::size_t write_buffered = 0;    ///< written but not yet handed to poll_transmit
};

}  // namespace starling::yamux
