#include "io/tcp_driver.hpp"

#include <boost/asio/defer.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/write.hpp>
#include <boost/version.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <memory>
#include <span>

#include "io/clock.hpp"

namespace starling::io {

namespace {
constexpr std::size_t read_chunk = std::size_t{256} * 1024;

/// One read buffer per network thread, shared by all its connections: a socket is read only
/// from our own handler (after a wait, or straight after a read that may have left more), and
/// the core consumes the bytes before the next read.
/// Left uninitialised on purpose: its pages become resident only as reads fill them, so a node
/// that only ever sees small messages keeps one page of it, not 256 KiB.
std::span<std::uint8_t> shared_read_buffer() {
  thread_local const std::unique_ptr<std::uint8_t[]> buf(new std::uint8_t[read_chunk]);
  return {buf.get(), read_chunk};
}
}  // namespace

// A read wait without a system call (decision 0007). Asio's reactor registers each socket with
// epoll once, edge-triggered. Its async_wait re-arms that registration with an epoll_ctl on
// every wait, since it cannot know whether the edge was already consumed; async_read_some
// instead tries a recv first, which fails with EAGAIN after every message. Either is one
// system call per read, paid while the peer waits for our answer.
//
// The driver knows more than Asio: a recv that returned less than it asked for emptied the
// socket, so new data will raise a new edge, and read_waiter, our own reactor operation, joins
// the socket's read queue without a system call and completes on that edge. One thing a short
// read does not tell is whether the peer's FIN or RST came with the data: the kernel reports
// it by the next recv, and its edge may be spent. So the socket is also registered for
// EPOLLRDHUP, the waiter looks at the events of the wake-up that completed it, and a short
// read after a wake-up that reported a hang-up, or that may have let the reactor wait again
// before our recv (see perform()), or after any wake-up but the waiter's, is not taken as
// empty: the driver reads again at once, like async_read_some would. All of this assumes one
// thread runs the io_context, as everywhere in Starling: with several, another thread's
// epoll_wait could spend an edge between our recv and the queueing of the waiter.
//
// Asio offers none of this publicly: the waiter reads three of its private members (the
// reactor's epoll descriptor, a descriptor's registered events, an operation's result). So
// it is built only for the reactor it was written against, Boost 1.81's epoll reactor (Debian
// 12); anywhere else every wait is an async_wait, as before.
#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && \
    BOOST_VERSION == 108100
#define STARLING_QUIET_READ_WAIT 1
namespace {
using reactor_type = asio::detail::epoll_reactor;
using descriptor_state = reactor_type::descriptor_state;

/// Access to a private member M, named by a tag type: explicit instantiation is exempt from
/// access checks ([temp.spec.general]/6), so the instantiation below may name M and leaves
/// behind a friend function that returns the pointer to it.
template <class Tag, typename Tag::type M>
struct private_member {
  friend typename Tag::type member(Tag) { return M; }
};
struct epoll_fd_tag {
  using type = int reactor_type::*;
  friend type member(epoll_fd_tag);
};
struct registered_events_tag {
  using type = std::uint32_t descriptor_state::*;
  friend type member(registered_events_tag);
};
struct task_result_tag {  // a descriptor's ready events while the reactor performs its ops
  using type = unsigned int asio::detail::scheduler_operation::*;
  friend type member(task_result_tag);
};
template struct private_member<epoll_fd_tag, &reactor_type::epoll_fd_>;
template struct private_member<registered_events_tag, &descriptor_state::registered_events_>;
template struct private_member<task_result_tag, &asio::detail::scheduler_operation::task_result_>;

/// basic_socket's protected implementation: the descriptor and its reactor data.
struct socket_access : tcp::socket {
  using tcp::socket::impl_;
};
auto& socket_impl(tcp::socket& s) {
  return (s.*(&socket_access::impl_)).get_implementation();
}

/// True while this thread starts a read_waiter: its perform() then declines, so the reactor
/// queues it instead of completing it. Per thread, so a reactor run on another thread is
/// never mistaken for the start.
thread_local bool t_starting_wait = false;

constexpr std::uint32_t hangup_events = EPOLLRDHUP | EPOLLHUP | EPOLLERR;
}  // namespace

struct tcp_driver::read_waiter : asio::detail::reactor_op {
  read_waiter(tcp_driver& d, reactor_type& r)
      : reactor_op(boost::system::error_code(), &perform, &complete), driver(d), reactor(r) {}

  /// Adds EPOLLRDHUP to the socket's registration (one epoll_ctl per connection), so that a
  /// wake-up says when the peer's FIN is in. False if that failed: the driver then waits with
  /// async_wait only.
  bool watch_hangups() {
    auto& impl = socket_impl(driver.m_socket);
    descriptor_state* state = impl.reactor_data_;
    if (state == nullptr) return false;
    std::uint32_t& registered = state->*member(registered_events_tag{});
    epoll_event ev{};
    ev.events = registered | EPOLLRDHUP;
    ev.data.ptr = state;
    if (::epoll_ctl(reactor.*member(epoll_fd_tag{}), EPOLL_CTL_MOD, impl.socket_, &ev) != 0)
      return false;
    registered |= EPOLLRDHUP;  // Asio's later re-registrations (write interest) keep it
    return true;
  }

  void start(std::shared_ptr<void> keepalive) {
    queued = true;
    keep = std::move(keepalive);
    auto& impl = socket_impl(driver.m_socket);
    t_starting_wait = true;
    reactor.start_op(reactor_type::read_op, impl.socket_, impl.reactor_data_, this,
                     /*is_continuation=*/true, /*allow_speculative=*/true);
    t_starting_wait = false;
  }

  /// Called by the reactor: from start_op (declined, so it queues; start_op calls epoll_ctl
  /// only for write operations) and, with the descriptor's ready events, on an edge.
  static status perform(reactor_op* base) {
    if (t_starting_wait) return not_done;
    auto* self = static_cast<read_waiter*>(base);
    std::uint32_t events = 0;
    if (descriptor_state* state = socket_impl(self->driver.m_socket).reactor_data_) {
      // A C-style cast, the one cast that may reach a private base class.
      const auto* op = (const asio::detail::scheduler_operation*)state;  // NOLINT
      events = op->*member(task_result_tag{});
    }
    // The reactor completes at once only the first of a socket's operations that finish in
    // one wake-up, and it performs writes before reads. When our write finished too, this
    // completion is posted behind the reactor's next epoll_wait, which may spend the edge of
    // a FIN that arrives meanwhile on an empty read queue. So with a write in flight, a
    // short read is not trusted either.
    self->trusted = (events & hangup_events) == 0 && !self->driver.m_write_in_flight;
    return done;
  }

  static void complete(void* owner, asio::detail::scheduler_operation* base,
                       const boost::system::error_code&, std::size_t) {
    auto* self = static_cast<read_waiter*>(base);
    const std::shared_ptr<void> keep = std::move(self->keep);  // may own *self: released last
    const boost::system::error_code ec = self->ec_;
    const bool trusted = self->trusted;
    self->ec_ = {};
    self->trusted = false;
    self->queued = false;
    if (owner == nullptr) return;  // the io_context is being destroyed
    self->driver.on_readable(ec, /*short_read_empties=*/trusted);
  }

  tcp_driver& driver;
  reactor_type& reactor;
  std::shared_ptr<void> keep;  ///< the driver's owner, held while queued
  bool trusted = false;        ///< the wake-up reported no hang-up and no write finished
  bool queued = false;         ///< in the reactor's or the scheduler's queue: not startable
};
#else
struct tcp_driver::read_waiter {};
#endif

tcp_driver::tcp_driver(tcp::socket socket, byte_core& core, callbacks cb)
    : m_socket(std::move(socket)),
      m_timer(m_socket.get_executor()),
      m_core(core),
      m_cb(std::move(cb)) {
  boost::system::error_code ignored;
  m_remote = m_socket.remote_endpoint(ignored);
  m_local = m_socket.local_endpoint(ignored);
  m_socket.set_option(tcp::no_delay(true), ignored);
  reregister();
  m_socket.non_blocking(true, ignored);
#ifdef STARLING_QUIET_READ_WAIT
  if (m_socket.is_open()) {
    auto& context = asio::query(m_socket.get_executor(), asio::execution::context);
    m_waiter = std::make_unique<read_waiter>(*this, asio::use_service<reactor_type>(context));
    if (!m_waiter->watch_hangups()) m_waiter.reset();
  }
#endif
}

tcp_driver::~tcp_driver() = default;

bool tcp_driver::quiet_wait_supported() noexcept {
#ifdef STARLING_QUIET_READ_WAIT
  return true;
#else
  return false;
#endif
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
  asio::async_write(m_socket, asio::buffer(m_writing) + skip,
                    [this, keep = m_keepalive](boost::system::error_code ec, std::size_t n) {
                      m_write_in_flight = false;
                      if (m_closed) return;
                      m_stats.bytes_out += n;
                      if (ec) {
                        m_pending.clear();
                        finish(ec);
                        return;
                      }
                      // Writing freed room: let the core refill (e.g. a perf sender waiting on the
                      // socket).
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

void tcp_driver::do_read(bool drained) {
  // One read at a time: a close() from inside the read handler may already have started the
  // linger's read, and an operation must never be queued twice.
  if (m_read_in_flight) return;
  m_read_in_flight = true;
#ifdef STARLING_QUIET_READ_WAIT
  if (m_waiter && !m_waiter->queued) {
    if (drained) {
      ++m_stats.quiet_waits;
      m_waiter->start(m_keepalive);
    } else {
      // Not known to be empty (the first read, a full buffer, a hang-up reported): read again
      // at once. The recv says which: more data, the peer's EOF, or EAGAIN, and then the
      // socket is empty.
      asio::defer(m_socket.get_executor(), [this, keep = m_keepalive] { on_readable({}, false); });
    }
    return;
  }
#else
  (void)drained;
#endif
  m_socket.async_wait(
      tcp::socket::wait_read,
      [this, keep = m_keepalive](boost::system::error_code ec) { on_readable(ec, false); });
}

void tcp_driver::on_readable(boost::system::error_code ec, bool short_read_empties) {
  m_read_in_flight = false;
  if (m_closed) return;
  const std::span<std::uint8_t> buf = shared_read_buffer();
  std::size_t n = 0;
  if (!ec) n = m_socket.read_some(asio::buffer(buf.data(), buf.size()), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    do_read(/*drained=*/true);  // nothing there: the socket is empty
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
  // A short read emptied the socket (a stream recv stops only when the data runs out), unless
  // a FIN or RST may wait behind the data (see read_waiter).
  do_read(/*drained=*/short_read_empties && n < buf.size());
  // What the read produced is written: the core's work for the next message, which would
  // otherwise lie between a peer's request and our answer (and, on a client, between its
  // next request and the socket), happens now.
  if (!m_closing) m_core.prepare();
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
