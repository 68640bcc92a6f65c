// Interop with js-libp2p: ping both ways (js's built-in ping, go/rust-style reuse, half-close;
// make_ping_client and `starling ping`), and js's connection monitor over two minutes.

#include "interop_support.hpp"

namespace starling::interop {
namespace {

TEST(JsPing, JsPingsStarling) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  const std::string target = h.addr().to_string();

  auto r = js.call({{"cmd", "ping"}, {"addr", target}, {"count", 3}});  // one stream per ping
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["rtts"].size(), 3u);
  r = js.call({{"cmd", "ping"}, {"addr", target}, {"count", 5}, {"reuse", true}});  // one stream
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["rtts"].size(), 5u);
  r = js.call(
      {{"cmd", "ping"}, {"addr", target}, {"count", 2}, {"halfClose", true}});  // FIN with the ping
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["rtts"].size(), 2u);
  ASSERT_TRUE(h.connection_to(js.peer_id()));
  EXPECT_EQ(h.find<node::peer_disconnected>(), nullptr);
}

TEST(JsPing, StarlingPingsJsInProcess) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  auto c = h.dial(ctx, js.maddr());
  ASSERT_TRUE(c);
  std::vector<result<clock_duration>> replies;
  bool done = false, open_failed = false;
  node::ping_options po;
  po.count = 4;
  po.interval = 20ms;
  po.timeout = 5000ms;
  c->open_stream({"/ipfs/ping/1.0.0"},
                 node::make_ping_client(
                     *h, po, [&](int, result<clock_duration> r) { replies.push_back(r); },
                     [&] { done = true; }),
                 [&](std::error_code) { open_failed = true; });
  ASSERT_TRUE(run_until(
      ctx, [&] { return done || open_failed; }, 20s));
  ASSERT_FALSE(open_failed);
  ASSERT_EQ(replies.size(), 4u);
  for (auto& r : replies) {
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_GT(r->count(), 0);
  }
}

TEST(JsPing, StarlingBinaryPingsJs) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  auto out = run_starling_cli(ctx, {"ping", js.addr(), "-c", "3", "-i", "0.05"});
  ASSERT_EQ(out.exit_code, 0);
  int replies = 0;
  for (auto& l : out.lines)
    replies += l.find("bytes from " + js.peer_id()) != std::string::npos;
  EXPECT_EQ(replies, 3);
  bool summary = false;
  for (auto& l : out.lines)
    summary |= l.find("3 transmitted, 3 received, 0% loss") != std::string::npos;
  EXPECT_TRUE(summary);
}

// js's connection monitor (on by default) pings every connection on a new /ipfs/ping/1.0.0
// stream and aborts the connection if a ping fails. Two js peers stay connected for two
// minutes with the monitor pinging every second (js's default is every 10 s): one dialled us,
// we dialled the other. About 2 x 120 monitor pings cross each connection's life; every one
// must succeed, and we must have served them.
TEST(JsPing, ConnectionMonitorKeepsConnectionsOpenForMinutes) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  js_options jo;
  jo.connection_monitor = true;
  jo.monitor_interval_ms = 1000;
  js_peer a(ctx, jo), b(ctx, jo);
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  auto r = a.call({{"cmd", "dial"}, {"addr", h.addr().to_string()}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  ASSERT_TRUE(h.dial(ctx, b.maddr()));
  const std::uint64_t streams_before = h->metrics().streams_opened_inbound;
  auto closed = [&] {
    return !a.named("connection:close").empty() || !b.named("connection:close").empty() ||
           h.find<node::peer_disconnected>() != nullptr;
  };
  EXPECT_TRUE(run_for(ctx, 120s, closed))
      << "a connection closed while js's monitor was pinging it";
  // Each js peer opens one ping stream per second; allow for start-up and scheduling slack.
  const std::uint64_t served = h->metrics().streams_opened_inbound - streams_before;
  std::fprintf(stderr, "js monitor pings served in 120 s: %llu\n",
               static_cast<unsigned long long>(served));
  EXPECT_GE(served, 160u) << "js's monitor pinged us only " << served << " times in 120 s";
  EXPECT_EQ(h->metrics().streams_reset_by_peer, 0u);
  for (js_peer* js : {&a, &b}) {
    auto peers = js->call({{"cmd", "peers"}});
    ASSERT_EQ(peers["ok"], true) << peers.dump();
    ASSERT_EQ(peers["connections"].size(), 1u) << peers.dump();
    const auto& conn = peers["connections"][0];
    EXPECT_EQ(conn["peerId"], h->id().to_string());
    EXPECT_EQ(conn["status"], "open");
    // The monitor sets rtt after a successful /ipfs/ping round trip.
    EXPECT_TRUE(conn["rtt"].is_number()) << conn.dump();
    EXPECT_TRUE(h.connection_to(js->peer_id())) << "we lost the connection to " << js->peer_id();
    EXPECT_TRUE(js->named("error").empty()) << js->named("error").front().dump();
  }
}

}  // namespace
}  // namespace starling::interop
