#pragma once
/// One-shot callbacks on a steady_timer for objects that may go away while one is pending
/// (a stream handler whose connection closed, a daemon being torn down).
///
/// A bare `steady_timer::async_wait([this] ...)` is not enough for them: destroying or
/// cancelling the timer does not stop a completion that is already queued (it then runs with
/// success, into a dead `this` or a cancelled plan). node::timer checks, when the wait
/// completes, that the timer still exists and that the callback is still the one it holds.

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>

#include "core/common/time.hpp"
#include "io/clock.hpp"

namespace starling::node {

/// The clock node objects read (the `now` they hand to cores). A host takes one
/// (host_env::clock), so that a host, its connections and its services can run on a fake
/// clock; Asio's timers stay on the steady clock and wait for the time left on this one
/// (timer::schedule_at(at, clock, fn)).
class clock_source {
 public:
  virtual ~clock_source() = default;
  /// The time now on this clock (monotonic).
  virtual time_point now() const noexcept = 0;
};

namespace detail {
class steady_clock_source final : public clock_source {
 public:
  time_point now() const noexcept override { return io::now(); }
};
}  // namespace detail

/// The monotonic clock the shell reads (io::now()): the default everywhere.
inline const clock_source& steady_clock_source() noexcept {
  static const detail::steady_clock_source c;
  return c;
}

/// A clock that moves only when told: for tests (and simulations) of node objects.
class manual_clock final : public clock_source {
 public:
  explicit manual_clock(time_point start) : m_now(start) {}
  time_point now() const noexcept override { return m_now; }
  /// Moves the clock forward by `d` (a negative `d` is ignored: the clock is monotonic).
  void advance(clock_duration d) noexcept {
    if (d > clock_duration::zero()) m_now += d;
  }

 private:
  time_point m_now;
};

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

  /// Runs `fn()` once `clock` has reached `at`, as far as can be known now: waits (on the
  /// steady clock) for the time left on `clock`. A clock that jumps ahead meanwhile does not
  /// bring the callback forward; its owner checks again when it moves the clock.
  template <class Fn>
  void schedule_at(time_point at, const clock_source& clock, Fn fn) {
    const clock_duration left = at - clock.now();
    schedule(std::max(left, clock_duration::zero()), std::move(fn));
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
