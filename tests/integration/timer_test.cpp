// node::timer on a real io_context: a callback runs once, never after cancel(), a later
// schedule() or the timer's destruction, not even when its completion was already queued.
// Every run is bounded by run_until's watchdog; "did not run" is checked against a later
// sentinel callback, never against a sleep.
#include "node/timer.hpp"

#include <memory>

#include "harness.hpp"

using namespace starling;
using namespace starling::test;

namespace {

class timer_test : public ::testing::Test {
 protected:
  /// Runs the io_context until a sentinel scheduled `after` from now has run.
  void run_past(std::chrono::milliseconds after) {
    node::timer sentinel(ctx);
    bool done = false;
    sentinel.schedule(after, [&] { done = true; });
    ASSERT_TRUE(run_until(
        ctx, [&] { return done; }, 5s));
  }

  asio::io_context ctx;
};

TEST_F(timer_test, runs_once_after_the_delay) {
  node::timer t(ctx);
  int runs = 0;
  const auto start = std::chrono::steady_clock::now();
  t.schedule(20ms, [&] { ++runs; });
  ASSERT_TRUE(run_until(
      ctx, [&] { return runs > 0; }, 5s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  run_past(20ms);
  EXPECT_EQ(runs, 1);
}

TEST_F(timer_test, schedule_at_takes_a_core_time_point) {
  node::timer t(ctx);
  bool ran = false;
  const auto at = io::now() + 10ms;
  t.schedule_at(at, [&] { ran = true; });
  ASSERT_TRUE(run_until(
      ctx, [&] { return ran; }, 5s));
  EXPECT_GE(io::now(), at);
}

TEST_F(timer_test, cancel_drops_the_callback) {
  node::timer t(ctx);
  bool ran = false;
  t.schedule(1ms, [&] { ran = true; });
  t.cancel();
  run_past(30ms);
  EXPECT_FALSE(ran);
}

TEST_F(timer_test, a_later_schedule_replaces_the_pending_callback) {
  node::timer t(ctx);
  int first = 0, second = 0;
  t.schedule(5ms, [&] { ++first; });
  t.schedule(1ms, [&] { ++second; });
  ASSERT_TRUE(run_until(
      ctx, [&] { return second > 0; }, 5s));
  run_past(30ms);
  EXPECT_EQ(first, 0);
  EXPECT_EQ(second, 1);
}

TEST_F(timer_test, destroying_the_timer_drops_the_callback_and_frees_its_captures) {
  auto t = std::make_unique<node::timer>(ctx);
  auto token = std::make_shared<int>(0);
  bool ran = false;
  t->schedule(1ms, [&ran, token] { ran = true; });
  EXPECT_EQ(token.use_count(), 2);
  t.reset();
  run_past(30ms);
  EXPECT_FALSE(ran);
  EXPECT_EQ(token.use_count(), 1) << "the dropped callback is still held somewhere";
}

// Two timers due at the same moment complete in the same pass of the reactor: both
// completions are queued before either callback runs. Each callback cancels the other timer,
// so exactly one may run (a bare steady_timer would run both).
TEST_F(timer_test, cancel_stops_a_completion_that_is_already_queued) {
  node::timer a(ctx), b(ctx);
  int a_runs = 0, b_runs = 0;
  const auto at = io::now() + 5ms;
  a.schedule_at(at, [&] {
    ++a_runs;
    b.cancel();
  });
  b.schedule_at(at, [&] {
    ++b_runs;
    a.cancel();
  });
  ASSERT_TRUE(run_until(
      ctx, [&] { return a_runs + b_runs > 0; }, 5s));
  run_past(30ms);
  EXPECT_EQ(a_runs + b_runs, 1);
}

// The same when the callback destroys the other timer's owner.
TEST_F(timer_test, destroying_stops_a_completion_that_is_already_queued) {
  auto a = std::make_unique<node::timer>(ctx);
  auto b = std::make_unique<node::timer>(ctx);
  int a_runs = 0, b_runs = 0;
  const auto at = io::now() + 5ms;
  a->schedule_at(at, [&] {
    ++a_runs;
    b.reset();
  });
  b->schedule_at(at, [&] {
    ++b_runs;
    a.reset();
  });
  ASSERT_TRUE(run_until(
      ctx, [&] { return a_runs + b_runs > 0; }, 5s));
  run_past(30ms);
  EXPECT_EQ(a_runs + b_runs, 1);
}

TEST_F(timer_test, a_callback_may_reschedule_itself) {
  node::timer t(ctx);
  int runs = 0;
  std::function<void()> tick = [&] {
    if (++runs < 3) t.schedule(1ms, tick);
  };
  t.schedule(1ms, tick);
  ASSERT_TRUE(run_until(
      ctx, [&] { return runs == 3; }, 5s));
  run_past(20ms);
  EXPECT_EQ(runs, 3);
}

TEST_F(timer_test, a_callback_may_destroy_its_own_timer) {
  auto t = std::make_unique<node::timer>(ctx);
  auto token = std::make_shared<int>(7);
  int seen = 0;
  t->schedule(1ms, [&, token] {
    t.reset();
    seen = *token;  // the callback's captures outlive the timer until it returns
  });
  ASSERT_TRUE(run_until(
      ctx, [&] { return seen != 0; }, 5s));
  EXPECT_EQ(seen, 7);
  EXPECT_EQ(t, nullptr);
}

}  // namespace
