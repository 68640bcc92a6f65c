#pragma once
/// Drives one byte_core over one TCP socket: a read loop, a write loop that coalesces every
/// pending byte into one write, and one timer for the core's next deadline.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>

#include "io/byte_core.hpp"

namespace starling::io {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// Counters kept by the driver (read by metrics and `starling peers`).
struct driver_stats {
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

/// Owned as a member by an object that lives in a shared_ptr; that owner passes itself as the
/// keep-alive so pending async operations never outlive the core. Single-threaded: every call
/// is made on the socket's executor.
class tcp_driver {
public:
  struct callbacks {
    /// After the core consumed input or handled a deadline: the owner polls the core's events.
    std::function<void()> on_progress;
    /// Exactly once, when the connection is gone. `ec` is empty on a clean close.
    std::function<void(std::error_code ec)> on_closed;
  };

  tcp_driver(tcp::socket socket, byte_core& core, callbacks cb);
  tcp_driver(const tcp_driver&) = delete;
  tcp_driver& operator=(const tcp_driver&) = delete;

  /// Start reading and flush whatever the core has queued.
  void start(std::shared_ptr<void> keepalive);
  /// Write whatever the core has queued now and re-arm the timer. Call after any API call
  /// into the core from outside the driver's own callbacks.
  void flush();
  /// Flush what is queued, then half-close (FIN) and wait up to the linger time for the
  /// peer's EOF, discarding what it still sends, so that our last bytes are not lost to an
  /// RST; then close the socket and report `ec` (empty = clean). An error close lingers a
  /// quarter of the time.
  void close(std::error_code ec = {});
  /// How long close() waits for the peer's EOF (default 1 s; 0 = close at once).
  void set_linger(clock_duration d) noexcept { m_linger = d; }
  /// Close at once without flushing.
  void abort(std::error_code ec);

  bool is_open() const noexcept { return !m_closed; }
  const driver_stats& stats() const noexcept { return m_stats; }
  tcp::endpoint remote_endpoint() const noexcept { return m_remote; }
  tcp::endpoint local_endpoint() const noexcept { return m_local; }

private:
  void do_read();
  void do_write();
  void arm_timer();
  void finish(std::error_code ec);
  void begin_linger();
  void after_core_call(result<void> r);

  tcp::socket m_socket;
  asio::steady_timer m_timer;
  byte_core& m_core;
  callbacks m_cb;
  std::shared_ptr<void> m_keepalive;
  bytes m_pending;  ///< filled by the core, swapped into m_writing
  bytes m_writing;  ///< the buffer of the write in flight
  bool m_write_in_flight = false;
  bool m_read_in_flight = false;
  bool m_closing = false;    ///< close() called: flushing, then lingering
  bool m_lingering = false;  ///< FIN sent; waiting for the peer's EOF
  bool m_closed = false;
  clock_duration m_linger = std::chrono::seconds(1);
  std::error_code m_close_reason;
  time_point m_timer_at = no_deadline;
  driver_stats m_stats;
  tcp::endpoint m_remote, m_local;
};

}  // namespace starling::io
