// A host on injected surroundings (node::host_env): a manual clock that the test moves, so
// that stream negotiation times out without waiting for it, and a seeded RNG.
#include "harness.hpp"

using namespace starling;
using namespace starling::test;

namespace {

class host_clock_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
  asio::io_context ctx;
  node::manual_clock clock{time_point{} + std::chrono::hours(1)};
  crypto::seeded_rng rng{7};
  std::vector<std::shared_ptr<raw_peer>> raws;

  void TearDown() override {
    for (auto& r : raws)
      r->abort();
  }
  bool run(std::function<bool()> pred, std::chrono::milliseconds limit = 10s) {
    return run_until(ctx, std::move(pred), limit);
  }
  node::host_env env() {
    node::host_env e;
    e.clock = &clock;
    e.rng = &rng;
    return e;
  }
};

}  // namespace

TEST_F(host_clock_test, negotiation_times_out_when_the_clock_moves_not_before) {
  auto cfg = test_node::quiet_config();
  cfg.stream_negotiation_timeout = 10s;
  node::host a(ctx, test_node::make_identity(0), cfg, env());
  EXPECT_EQ(&a.clock(), &clock);
  EXPECT_EQ(&a.rng(), &rng);
  auto addr = a.listen(*multiformats::multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
  ASSERT_TRUE(addr);
  raw_peer::options o;
  o.silent_streams = 3;  // opened and never negotiated
  auto p = make_raw_peer(ctx, o);
  raws.push_back(p);
  const auto started = std::chrono::steady_clock::now();
  p->connect(*addr);
  ASSERT_TRUE(run([&] {
    auto cs = a.connections();
    return cs.size() == 1 && cs[0]->negotiating_streams() == 3;
  }));
  auto c = a.connections()[0];
  EXPECT_EQ(c->since(), clock.now());  // connection timestamps come from the host's clock

  // Just before the deadline nothing happens.
  clock.advance(10s - 1ms);
  a.on_clock_advanced();
  run([] { return false; }, 50ms);
  EXPECT_EQ(c->negotiating_streams(), 3u);
  EXPECT_EQ(a.metrics().stream_negotiation_timeouts, 0u);

  // At the deadline every parked stream is reset, at once, and the connection stays. Four:
  // the peer's three and our own identify stream, which the silent peer never answered.
  clock.advance(1ms);
  a.on_clock_advanced();
  EXPECT_EQ(a.metrics().stream_negotiation_timeouts, 4u);
  EXPECT_EQ(c->negotiating_streams(), 0u);
  ASSERT_TRUE(run([&] { return p->streams_reset >= 3; }));
  EXPECT_FALSE(c->closing());
  // Far less than the 10 s the timeout stands for went by on the real clock.
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST_F(host_clock_test, steady_clock_and_own_rng_by_default) {
  node::host a(ctx, test_node::make_identity(0));
  EXPECT_EQ(&a.clock(), &node::steady_clock_source());
  EXPECT_NE(&a.rng(), &rng);
  const auto before = io::now();
  EXPECT_GE(a.clock().now(), before);
}
