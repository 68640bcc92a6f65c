#pragma once
/// Drives one byte_core over one TCP socket: a read loop, direct writes with an asynchronous
/// tail, and one timer for the core's next deadline.
///
/// Writes: flush() writes what the core queued straight to the non-blocking socket; only what
/// the socket does not take goes through an asynchronous write, behind which later output
/// waits (order is kept). A direct write never calls the owner back from inside flush() or
/// close(): an error is reported from a posted handler, and the on_progress that follows
/// written output (see byte_core::wants_progress) runs after the driver's own callback, or
/// from a deferred handler when the owner called flush() itself.

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
  /// Read waits that needed no system call (tcp_driver::quiet_wait_supported).
  std::uint64_t quiet_waits = 0;
};

/// Owned as a member by an object that lives in a shared_ptr; that owner passes itself as the
/// keep-alive so pending async operations never outlive the core. Single-threaded: every call
/// is made on the socket's executor.
class tcp_driver {
 public:
  struct callbacks {
    /// After the core consumed input or handled a deadline, and after output was written
    /// (writing may free room or queue events): the owner polls the core's events. Never
    /// called from inside flush(), close() or abort().
    std::function<void()> on_progress;
    /// Exactly once, when the connection is gone. `ec` is empty on a clean close.
    std::function<void(std::error_code ec)> on_closed;
  };

  tcp_driver(tcp::socket socket, byte_core& core, callbacks cb);
  tcp_driver(const tcp_driver&) = delete;
  tcp_driver& operator=(const tcp_driver&) = delete;
  ~tcp_driver();

  /// Start reading and flush whatever the core has queued.
  void start(std::shared_ptr<void> keepalive);
  /// Write whatever the core has queued now and re-arm the timer. Call after any API call
  /// into the core from outside the driver's own callbacks. Calls no callback itself (an
  /// on_closed for a clean close with no linger excepted, as close()).
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

  /// Whether this build waits for reads without re-arming the socket after a read that
  /// emptied it (Boost 1.81's epoll reactor; decision 0007). Elsewhere every wait re-arms.
  static bool quiet_wait_supported() noexcept;

  bool is_open() const noexcept { return !m_closed; }
  const driver_stats& stats() const noexcept { return m_stats; }
  tcp::endpoint remote_endpoint() const noexcept { return m_remote; }
  tcp::endpoint local_endpoint() const noexcept { return m_local; }

 private:
  void reregister();
  /// Waits until the socket is readable. `drained`: our last recv emptied the socket (it
  /// would block, or returned less than asked with no hang-up reported), so waiting needs no
  /// system call (see read_waiter).
  void do_read(bool drained = false);
  /// Reads once. `short_read_empties`: a read shorter than the buffer leaves nothing behind.
  void on_readable(boost::system::error_code ec, bool short_read_empties);
  void write_pending();
  void start_async_write(std::size_t skip);
  void write_failed(std::error_code ec);
  void arm_timer();
  void finish(std::error_code ec);
  void begin_linger();
  void after_core_call(result<void> r);
  void run_progress();
  void settle_progress();
  void defer_progress();

  /// Marks the driver's own callbacks (read, timer, write completion, deferred progress).
  struct in_callback {
    explicit in_callback(tcp_driver& d) : m_d(d) { ++m_d.m_callback_depth; }
    ~in_callback() { --m_d.m_callback_depth; }
    in_callback(const in_callback&) = delete;
    in_callback& operator=(const in_callback&) = delete;
    tcp_driver& m_d;
  };

  struct read_waiter;  ///< a read wait on Asio's reactor without a system call (tcp_driver.cpp)

  tcp::socket m_socket;
  std::unique_ptr<read_waiter> m_waiter;  ///< null where that wait is not available
  asio::steady_timer m_timer;
  byte_core& m_core;
  callbacks m_cb;
  std::shared_ptr<void> m_keepalive;
  bytes m_pending;  ///< filled by the core; written directly unless a write is in flight
  bytes m_writing;  ///< the buffer of the asynchronous write in flight
  bool m_write_in_flight = false;
  bool m_write_failed = false;  ///< a direct write failed; finish() is posted
  bool m_progress_due = false;  ///< output was written: on_progress owes the owner a call
  bool m_progress_posted = false;
  int m_callback_depth = 0;
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
