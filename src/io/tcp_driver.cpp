#include "io/tcp_driver.hpp"

#include <boost/asio/defer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <unistd.h>

#include <memory>
#include <span>

#include "io/clock.hpp"

namespace starling::io {

namespace {
constexpr std::size_t read_chunk = 256 * 1024;

/// One read buffer per network thread, shared by all its connections: a socket is read only
/// once it is readable (async_wait), and the core consumes the bytes before the next read.
/// Left uninitialised on purpose: its pages become resident only as reads fill them, so a node
/// that only ever sees small messages keeps one page of it, not 256 KiB.
std::span<std::uint8_t> shared_read_buffer() {
  thread_local const std::unique_ptr<std::uint8_t[]> buf(new std::uint8_t[read_chunk]);
  return {buf.get(), read_chunk};
}
}  // namespace

tcp_driver::tcp_driver(tcp::socket socket, byte_core& core, callbacks cb)
    : m_socket(std::move(socket)), m_timer(m_socket.get_executor()), m_core(core), m_cb(std::move(cb)) {
  boost::system::error_code ignored;
  m_remote = m_socket.remote_endpoint(ignored);
  m_local = m_socket.local_endpoint(ignored);
  m_socket.set_option(tcp::no_delay(true), ignored);
  reregister();
  m_socket.non_blocking(true, ignored);
}

void tcp_driver::reregister() {
  // A socket connected with async_connect keeps write interest (EPOLLOUT) registered with the
  // reactor for good. Each re-arm of our read wait (an EPOLL_CTL_MOD) then reports the socket
  // writable at once: one extra, empty reactor round per read on every dialled connection.
  // Handing the descriptor to the reactor afresh starts it with read interest only; writes
  // are direct and ask for write interest only when the socket is full.
  if (!m_socket.is_open()) return;
  boost::system::error_code ec;
  const auto protocol = m_local.protocol();
  const auto fd = m_socket.release(ec);
  if (ec) return;  // still ours and registered as before
  m_socket.assign(protocol, fd, ec);
  if (ec) ::close(fd);  // the socket stays closed: the first read fails and closes the driver
}

void tcp_driver::start(std::shared_ptr<void> keepalive) {
  m_keepalive = std::move(keepalive);
  do_read();
  flush();
}

void tcp_driver::flush() {
  if (m_closed || m_write_failed) return;
  if (m_lingering) return;  // our FIN is out: nothing more can be written
  write_pending();
  if (m_closed || m_write_failed) return;
  if (m_core.finished() && !m_closing) close();
  if (!m_closing) arm_timer();
  if (m_closing && !m_write_in_flight && m_pending.empty()) begin_linger();
}

// Direct writes. Asio's async_write would also send at once, but it posts its completion: one
// more reactor round (and epoll_wait) per write before the next flush can run. Here the bytes
// go straight to the non-blocking socket and only a remainder the socket refused waits for
// writability. Nothing in here calls the owner: on_progress is owed (m_progress_due) and paid
// by settle_progress() after the driver's own callback, or by a deferred handler.
void tcp_driver::write_pending() {
  // The core hands out at most ~1 MiB per poll; keep going while the socket takes it all.
  constexpr int max_rounds = 8;
  bool wrote = false;
  for (int round = 0; round < max_rounds; ++round) {
    m_core.poll_transmit(m_pending);
    if (m_write_in_flight || m_pending.empty()) break;
    boost::system::error_code ec;
    std::size_t n = m_socket.write_some(asio::buffer(m_pending), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec = {};
      n = 0;
    }
    if (ec) {
      write_failed(ec);
      return;
    }
    m_stats.bytes_out += n;
    wrote = wrote || n > 0;
    if (n < m_pending.size()) {
      start_async_write(n);
      break;
    }
    m_pending.clear();
    // Out of rounds with the core possibly holding more: the owed progress flushes again.
    if (round + 1 == max_rounds) m_progress_due = true;
  }
  if (wrote && m_core.wants_progress()) m_progress_due = true;
  if (m_progress_due && m_callback_depth == 0) defer_progress();
}

void tcp_driver::write_failed(std::error_code ec) {
  // Reported from a posted handler: flush() may be running inside a call of the owner, which
  // must not see its connection closed under its feet.
  m_write_failed = true;
  m_pending.clear();
  if (!m_keepalive) return;  // not started: nothing to report to
  asio::post(m_socket.get_executor(), [this, keep = m_keepalive, ec] { finish(ec); });
}

void tcp_driver::start_async_write(std::size_t skip) {
  m_writing.clear();
  std::swap(m_writing, m_pending);
  m_write_in_flight = true;
  asio::async_write(m_socket, asio::buffer(m_writing) + skip, [this, keep = m_keepalive](
                                                           boost::system::error_code ec, std::size_t n) {
    m_write_in_flight = false;
    if (m_closed) return;
    m_stats.bytes_out += n;
    if (ec) {
      m_pending.clear();
      finish(ec);
      return;
    }
    // Writing freed room: let the core refill (e.g. a perf sender waiting on the socket).
    m_progress_due = true;
    in_callback guard(*this);
    run_progress();
  });
}

void tcp_driver::defer_progress() {
  if (m_progress_posted || !m_keepalive || m_closed) return;
  m_progress_posted = true;
  // defer, not post: from inside a handler on this thread it queues without waking the reactor.
  asio::defer(m_socket.get_executor(), [this, keep = m_keepalive] {
    m_progress_posted = false;
    if (m_closed || !m_progress_due) return;
    in_callback guard(*this);
    run_progress();
  });
}

void tcp_driver::run_progress() {
  m_progress_due = false;
  if (m_cb.on_progress) m_cb.on_progress();
  if (m_closed) return;
  flush();
  settle_progress();
}

void tcp_driver::settle_progress() {
  // Output written by the flush after a callback may have queued events: on_progress again,
  // a few times at most, then from a deferred handler.
  for (int i = 0; i < 4 && m_progress_due && !m_closed; ++i) {
    m_progress_due = false;
    if (m_cb.on_progress) m_cb.on_progress();
    if (m_closed) return;
    flush();
  }
  if (m_progress_due && !m_closed) defer_progress();
}

void tcp_driver::close(std::error_code ec) {
  if (m_closed || m_closing || m_write_failed) return;
  // What the core still has queued (e.g. the GoAway of a session that just died) goes out
  // before the FIN.
  m_core.poll_transmit(m_pending);
  m_closing = true;
  m_close_reason = ec;
  m_timer.cancel();
  m_timer_at = no_deadline;
  write_pending();
  if (m_closed || m_write_failed) return;
  if (!m_write_in_flight && m_pending.empty()) begin_linger();
}

void tcp_driver::begin_linger() {
  if (m_lingering || m_closed) return;
  m_lingering = true;
  const clock_duration wait = m_close_reason ? m_linger / 4 : m_linger;
  boost::system::error_code ec;
  if (wait.count() > 0) m_socket.shutdown(tcp::socket::shutdown_send, ec);
  if (wait.count() <= 0 || ec) {
    finish(m_close_reason);
    return;
  }
  m_timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait));
  m_timer.async_wait([this, keep = m_keepalive](boost::system::error_code e) {
    if (e || m_closed) return;
    finish(m_close_reason);  // the peer did not close in time
  });
  if (!m_read_in_flight) do_read();
}

void tcp_driver::abort(std::error_code ec) {
  if (m_closed) return;
  m_pending.clear();
  finish(ec);
}

void tcp_driver::do_read() {
  m_read_in_flight = true;
  // Asio re-arms this wait with an epoll_ctl each time. A queued async_read_some would not,
  // but Boost 1.81's reactor then tries every next read speculatively (it stops only at EOF),
  // so an EAGAIN recv replaces the epoll_ctl, and it needs a buffer per connection because
  // the reactor may read before our handler runs. Measured: no change in ping round trips
  // (docs/benchmarks.md), so the shared buffer and the wait stay.
  m_socket.async_wait(tcp::socket::wait_read, [this, keep = m_keepalive](boost::system::error_code ec) {
    m_read_in_flight = false;
    if (m_closed) return;
    const std::span<std::uint8_t> buf = shared_read_buffer();
    std::size_t n = 0;
    if (!ec) n = m_socket.read_some(asio::buffer(buf.data(), buf.size()), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      do_read();  // spurious wake-up
      return;
    }
    if (ec) {
      // EOF or reset from the peer: nothing more to write to it. While we close, the reason
      // stays ours.
      m_pending.clear();
      if (m_closing) {
        finish(m_close_reason);
      } else {
        finish(ec == asio::error::eof ? std::error_code{} : std::error_code(ec));
      }
      return;
    }
    m_stats.bytes_in += n;
    // Once closing, the core is done: what the peer still sends is read and dropped so
    // that its EOF can be seen (and the socket closes without an RST).
    if (!m_closing) after_core_call(m_core.feed_inplace(buf.first(n), now()));
    if (m_closed) return;
    do_read();
    // What the read produced is written: the core's work for the next message, which would
    // otherwise lie between a peer's request and our answer (and, on a client, between its
    // next request and the socket), happens now.
    if (!m_closing) m_core.prepare();
  });
}

void tcp_driver::after_core_call(result<void> r) {
  in_callback guard(*this);
  if (m_cb.on_progress && !m_closed) m_cb.on_progress();
  if (m_closed) return;
  if (!r) {
    m_core.poll_transmit(m_pending);  // the core's goodbye (e.g. a GoAway) goes out first
    close(r.error());
  }
  flush();
  settle_progress();
}

void tcp_driver::arm_timer() {
  // Lazy re-arming: Yamux moves its keep-alive deadline on every frame, and re-arming an Asio
  // timer costs a timerfd syscall plus a cancelled handler. A later deadline leaves the armed
  // (earlier) one alone; when it fires, on_deadline() is a no-op for the core (cores accept
  // early calls) and the timer is armed again at the real deadline.
  const time_point at = m_core.next_deadline();
  if (at == no_deadline || at >= m_timer_at) return;
  m_timer_at = at;
  m_timer.expires_at(std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(at.time_since_epoch())));
  m_timer.async_wait([this, keep = m_keepalive](boost::system::error_code ec) {
    if (ec || m_closing) return;  // cancelled, re-armed, or the timer now serves the linger
    m_timer_at = no_deadline;
    after_core_call(m_core.on_deadline(now()));
  });
}

void tcp_driver::finish(std::error_code ec) {
  if (m_closed) return;
  m_closed = true;
  m_closing = true;
  boost::system::error_code ignored;
  m_timer.cancel();
  m_socket.shutdown(tcp::socket::shutdown_both, ignored);
  m_socket.close(ignored);
  auto cb = std::move(m_cb.on_closed);
  auto keep = std::move(m_keepalive);  // released after the callback returns
  if (cb) cb(ec);
}

}  // namespace starling::io
