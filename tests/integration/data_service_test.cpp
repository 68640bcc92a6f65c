// The data layer over real connections on 127.0.0.1: three hosts in a chain A - B - C (A and
// C never connect), each with a data_service. A sample put on A reaches C's subscriber through
// B; a node that drops out takes its subscriptions with it.
#include "data_node.hpp"

using namespace starling;
using namespace starling::test;

namespace {

class data_service_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
  asio::io_context ctx;
};

}  // namespace

TEST_F(data_service_test, samples_cross_a_relay_to_matching_subscribers) {
  data_node a(ctx), b(ctx), c(ctx);
  auto d1 = dial(a.n.h, b.addr);
  auto d2 = dial(c.n.h, b.addr);
  ASSERT_TRUE(run_until(ctx, [&] { return b.svc.links().size() == 2; }));
  c.subscribe("home/*/temp");
  b.subscribe("office/**");
  // A learns C's subscription through B's flooding.
  ASSERT_TRUE(run_until(ctx, [&] { return a.svc.engine().routes().reachable(c.n.h.id()); }));
  ASSERT_TRUE(run_until(ctx, [&] {
    const auto* r = a.svc.engine().routes().find(c.n.h.id());
    return r && !r->decls.empty();
  }));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(a.svc.put("home/kitchen/temp", as_bytes(std::to_string(i)), "text/plain"));
  }
  ASSERT_TRUE(run_until(ctx, [&] { return c.samples.size() == 100; }));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(c.samples[i].payload, std::to_string(i));
    EXPECT_EQ(c.samples[i].seq, static_cast<std::uint64_t>(i + 1));
  }
  EXPECT_EQ(c.samples[0].encoding, "text/plain");
  EXPECT_TRUE(b.samples.empty());  // the relay forwards what it does not subscribe to
  EXPECT_EQ(b.svc.engine().stats().samples_forwarded, 100u);
  EXPECT_EQ(a.svc.engine().stats().protocol_errors + b.svc.engine().stats().protocol_errors +
                c.svc.engine().stats().protocol_errors,
            0u);
}

TEST_F(data_service_test, a_node_that_leaves_takes_its_subscriptions_along) {
  data_node a(ctx), b(ctx);
  auto d = dial(a.n.h, b.addr);
  ASSERT_TRUE(
      run_until(ctx, [&] { return a.svc.links().size() == 1 && b.svc.links().size() == 1; }));
  b.subscribe("**");
  ASSERT_TRUE(run_until(ctx, [&] {
    const auto* r = a.svc.engine().routes().find(b.n.h.id());
    return r && !r->decls.empty();
  }));
  ASSERT_TRUE(a.svc.put("x", as_bytes("1"), ""));
  ASSERT_TRUE(run_until(ctx, [&] { return b.samples.size() == 1; }));
  // B's connection goes: A no longer routes to it.
  for (auto& conn : b.n.h.connections())
    conn->close();
  ASSERT_TRUE(run_until(ctx, [&] { return a.svc.links().empty(); }));
  EXPECT_FALSE(a.svc.engine().routes().reachable(b.n.h.id()));
  const auto forwarded = a.svc.engine().stats().samples_forwarded;
  ASSERT_TRUE(a.svc.put("x", as_bytes("2"), ""));
  EXPECT_EQ(a.svc.engine().stats().samples_forwarded, forwarded);
}
