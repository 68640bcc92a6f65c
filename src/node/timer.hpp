#pragma once
/// One-shot callbacks on a steady_timer for objects that may go away while one is pending
/// (a stream handler whose connection closed, a daemon being torn down).
///
/// A bare `steady_timer::async_wait([this] ...)` is not enough for them: destroying or
/// cancelling the timer does not stop a completion that is already queued (it then runs with
/// success, into a dead `this` or a cancelled plan). node::timer checks, when the wait
/// completes, that the timer still exists and that the callback is still the one it holds.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>

#include "core/common/time.hpp"

namespace starling::node {

/// A steady_timer holding at most one pending callback. Network thread only.
///
/// The callback runs at most once, on the io_context's thread, and never after cancel(), after
/// a later schedule(), or once the timer is destroyed. It may schedule again, cancel, or
/// destroy the timer's owner (the callback itself lives until it returns).
class timer {
 public:
  /// An idle timer on `ctx`.
  explicit timer(boost::asio::io_context& ctx)
      : m_timer(ctx), m_generation(std::make_shared<std::uint64_t>(0)) {}
  /// Drops the pending callback, if any (it never runs).
  ~timer() = default;
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;

  /// Runs `fn()` once `after` has passed, replacing any callback still pending.
  template <class Fn>
  void schedule(std::chrono::steady_clock::duration after, Fn fn) {
    m_timer.expires_after(after);
    wait(std::move(fn));
  }

  /// Runs `fn()` at `at` (a time in the past runs it as soon as the io_context gets to it),
  /// replacing any callback still pending.
  template <class Fn>
  void schedule_at(time_point at, Fn fn) {
    m_timer.expires_at(std::chrono::time_point_cast<boost::asio::steady_timer::duration>(at));
    wait(std::move(fn));
  }

  /// Drops the pending callback, if any.
  void cancel() {
    ++*m_generation;
    m_timer.cancel();
  }

 private:
  template <class Fn>
  void wait(Fn fn) {
    const std::uint64_t mine = ++*m_generation;
    m_timer.async_wait([gen = std::weak_ptr<std::uint64_t>(m_generation), mine,
                        fn = std::move(fn)](boost::system::error_code ec) mutable {
      const auto g = gen.lock();
      if (ec || !g || *g != mine) return;  // cancelled, replaced, or the timer is gone
      fn();
    });
  }

  boost::asio::steady_timer m_timer;
  /// Bumped by every schedule() and cancel(); a completion runs its callback only if the
  /// count is still the one it was scheduled with. Waits hold it weakly: once the timer is
  /// destroyed, nothing runs.
  std::shared_ptr<std::uint64_t> m_generation;
};

}  // namespace starling::node
