// Hostile and excessive peers against a real host: connection limits, silent and garbage
// clients, oversized Noise frames, malformed Yamux frames, stream floods, streams parked in
// negotiation, the per-peer bound. The host must stay up and keep serving others.
#include "core/yamux/frame.hpp"
#include "harness.hpp"

using namespace starling;
using namespace starling::test;

namespace {

class limits_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
  asio::io_context ctx;
  std::vector<std::shared_ptr<raw_peer>> raws;

  void TearDown() override {
    for (auto& r : raws)
      r->abort();
  }
  bool run(std::function<bool()> pred, std::chrono::milliseconds limit = 10s) {
    return run_until(ctx, std::move(pred), limit);
  }
  std::shared_ptr<raw_peer> raw(const multiformats::multiaddr& to, raw_peer::options o) {
    auto p = make_raw_peer(ctx, std::move(o));
    raws.push_back(p);
    p->connect(to);
    return p;
  }
  /// A well-behaved host can still connect to `a` and ping it.
  void expect_still_serving(test_node& a) {
    test_node good(ctx);
    auto r = dial(good.h, a.h.listen_addrs().front());
    ASSERT_TRUE(run([&] { return r->done; }));
    ASSERT_FALSE(r->ec) << r->ec.message();
    bool done = false;
    int replies = 0;
    node::ping_options po;
    po.count = 1;
    r->conn->open_stream(
        {"/ipfs/ping/1.0.0"},
        node::make_ping_client(
            good.h, po, [&](int, result<clock_duration> x) { replies += x ? 1 : 0; },
            [&] { done = true; }));
    ASSERT_TRUE(run([&] { return done; }));
    EXPECT_EQ(replies, 1);
  }
};

TEST_F(limits_test, max_connections_refuses_extra_inbound) {
  auto cfg = test_node::quiet_config();
  cfg.max_connections = 2;
  test_node a(ctx, cfg), b(ctx), c(ctx), d(ctx);
  a.listen();
  auto rb = dial(b.h, a.h.listen_addrs().front());
  auto rc = dial(c.h, a.h.listen_addrs().front());
  ASSERT_TRUE(run([&] { return rb->done && rc->done && a.established_count() == 2; }));
  auto rd = dial(d.h, a.h.listen_addrs().front());
  ASSERT_TRUE(run([&] { return rd->done; }));
  EXPECT_TRUE(rd->ec);
  EXPECT_EQ(a.h.connections().size(), 2u);
  EXPECT_EQ(a.h.metrics().inbound_refused_limit, 1u);
  // Outbound dials count too.
  auto out = dial(a.h, d.listen().without_peer());
  ASSERT_TRUE(run([&] { return out->done; }));
  EXPECT_EQ(out->ec, node::host_errc::too_many_connections);
}

TEST_F(limits_test, max_pending_handshakes_refuses_extra_and_silent_client_times_out) {
  auto cfg = test_node::quiet_config();
  cfg.max_pending_handshakes = 1;
  cfg.handshake_timeout = 300ms;
  test_node a(ctx, cfg);
  auto addr = a.listen();
  raw_peer::options silent;
  silent.handshake = false;
  auto first = raw(addr, silent);
  ASSERT_TRUE(run([&] { return first->connected && a.h.connections().size() == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  auto second = raw(addr, silent);
  ASSERT_TRUE(run([&] { return second->closed; }));  // refused at accept
  EXPECT_EQ(second->bytes_received, 0u);
  EXPECT_EQ(a.h.metrics().inbound_refused_limit, 1u);
  // The silent one is dropped after the handshake timeout (it got the mss header first).
  ASSERT_TRUE(run([&] { return first->closed; }, 3s));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 200ms);
  EXPECT_LT(waited, 2s);
  ASSERT_TRUE(run([&] { return a.h.connections().empty(); }));
  EXPECT_EQ(a.h.metrics().handshake_failures_timeout, 1u);
  expect_still_serving(a);
}

TEST_F(limits_test, max_pending_per_ip_refuses_one_address_but_not_others) {
  auto cfg = test_node::quiet_config();
  cfg.max_pending_handshakes = 8;
  cfg.max_pending_per_ip = 2;
  test_node a(ctx, cfg);
  auto addr = a.listen();  // 127.0.0.1; the silent peers come from 127.0.0.2 (also loopback)
  raw_peer::options silent;
  silent.handshake = false;
  silent.source_ip = "127.0.0.2";
  auto first = raw(addr, silent);
  auto second = raw(addr, silent);
  ASSERT_TRUE(
      run([&] { return first->connected && second->connected && a.h.connections().size() == 2; }));
  auto third = raw(addr, silent);
  ASSERT_TRUE(run([&] { return third->closed; }));  // refused at accept
  EXPECT_EQ(third->bytes_received, 0u);
  EXPECT_EQ(a.h.metrics().inbound_refused_per_ip, 1u);
  EXPECT_EQ(a.h.metrics().inbound_refused_limit, 0u);
  // Another address (127.0.0.1) still gets in while both silent handshakes are pending.
  expect_still_serving(a);
  EXPECT_FALSE(first->closed);
  EXPECT_FALSE(second->closed);
}

TEST_F(limits_test, garbage_before_handshake_closes_that_connection) {
  test_node a(ctx);
  auto addr = a.listen();
  raw_peer::options o;
  o.handshake = false;
  const std::string junk = "\x13/multistream/1.0.0\n\x05junk!";  // a message without its newline
  o.preamble = bytes(junk.begin(), junk.end());
  auto p = raw(addr, o);
  ASSERT_TRUE(run([&] { return p->closed; }));
  ASSERT_TRUE(run([&] { return a.h.connections().empty(); }));
  EXPECT_EQ(a.h.metrics().handshake_failures_negotiation, 1u);
  EXPECT_EQ(a.h.metrics().protocol_errors, 1u);
  expect_still_serving(a);
}

TEST_F(limits_test, garbage_after_handshake_closes_that_connection) {
  test_node a(ctx);
  auto addr = a.listen();
  raw_peer::options o;
  const std::string junk =
      std::string("\x00\x30", 2) + std::string(48, 'g');  // a frame that cannot decrypt
  o.raw_after_handshake = bytes(junk.begin(), junk.end());
  auto p = raw(addr, o);
  ASSERT_TRUE(run([&] { return p->closed; }));
  EXPECT_TRUE(p->established);
  ASSERT_TRUE(run([&] { return a.h.connections().empty(); }));
  EXPECT_EQ(a.h.metrics().protocol_errors, 1u);
  EXPECT_EQ(a.h.metrics().connections_closed_by_error, 1u);
  expect_still_serving(a);
}

TEST_F(limits_test, maximal_noise_frame_of_junk_is_bounded) {
  test_node a(ctx);
  auto addr = a.listen();
  raw_peer::options o;
  bytes big = {0xff, 0xff};  // the largest length a Noise frame can announce
  big.resize(2 + 65535, 0xab);
  o.raw_after_handshake = big;
  auto p = raw(addr, o);
  ASSERT_TRUE(run([&] { return p->closed; }));
  ASSERT_TRUE(run([&] { return a.h.connections().empty(); }));
  EXPECT_EQ(a.h.metrics().protocol_errors, 1u);
  expect_still_serving(a);
}

TEST_F(limits_test, malformed_yamux_frame_gets_go_away_and_close) {
  test_node a(ctx);
  auto addr = a.listen();
  raw_peer::options o;
  bytes frame(yamux::header_size);
  yamux::encode_header({1 /*bad version*/, yamux::frame_type::data, 0, 1, 0}, frame.data());
  o.after_handshake = frame;
  auto p = raw(addr, o);
  ASSERT_TRUE(run([&] { return p->closed; }));
  ASSERT_TRUE(p->go_away) << p->close_ec.message() << " resets " << p->streams_reset << " got "
                          << p->bytes_received << " est " << p->established << " proto "
                          << a.h.metrics().protocol_errors;
  EXPECT_EQ(*p->go_away, yamux::go_away_code::protocol_error);
  ASSERT_TRUE(run([&] { return a.h.connections().empty(); }));
  EXPECT_EQ(a.h.metrics().protocol_errors, 1u);
  expect_still_serving(a);
}

// A peer that sends GoAway(0) takes no new streams; the host must not keep the useless
// connection open: it lets the streams already open finish (here: its identify stream, which
// the raw peer never answers, until the negotiation timeout), then closes with its own GoAway.
TEST_F(limits_test, peer_go_away_normal_closes_the_connection_once_streams_finish) {
  node::host_config cfg = test_node::quiet_config();
  cfg.stream_negotiation_timeout = 500ms;
  test_node a(ctx, cfg);
  auto addr = a.listen();
  raw_peer::options o;
  bytes frame(yamux::header_size);
  yamux::encode_header({0, yamux::frame_type::go_away, 0, 0, yamux::go_away_code::normal},
                       frame.data());
  o.after_handshake = frame;
  auto p = raw(addr, o);
  ASSERT_TRUE(run([&] { return p->established; }));
  ASSERT_TRUE(run([&] { return p->closed; }, 5s))
      << "the host kept a connection whose peer said GoAway";
  ASSERT_TRUE(p->go_away);
  EXPECT_EQ(*p->go_away, yamux::go_away_code::normal);
  ASSERT_TRUE(run([&] { return a.h.connections().empty(); }));
  EXPECT_EQ(a.h.metrics().protocol_errors, 0u);
  EXPECT_EQ(a.h.metrics().connections_closed_by_error, 0u);
  expect_still_serving(a);
}

TEST_F(limits_test, stream_flood_is_bounded) {
  auto cfg = test_node::quiet_config();
  cfg.max_inbound_streams = 64;
  cfg.max_negotiating_streams = 1000;  // this test is about the muxer's bound
  test_node a(ctx, cfg), b(ctx);
  a.listen();
  auto r = dial(b.h, a.h.listen_addrs().front());
  ASSERT_TRUE(run([&] { return r->done; }));
  ASSERT_TRUE(r->conn);
  int opened = 0, failed = 0;
  constexpr int n = 150;
  std::vector<std::shared_ptr<recorder_state>> st;
  for (int i = 0; i < n; ++i) {
    st.push_back(std::make_shared<recorder_state>());
    r->conn->open_stream({sink_protocol}, std::make_unique<recorder>(st.back(), "x"),
                         [&](std::error_code) { ++failed; });
  }
  ASSERT_TRUE(run([&] {
    opened = 0;
    for (auto& s : st)
      opened += s->opened ? 1 : 0;
    return opened + failed >= n;
  }));
  // At most the limit (minus identify's streams, which may still be open) got through.
  EXPECT_LE(opened, 64);
  EXPECT_GE(opened, 60);
  EXPECT_GE(failed, n - 64);
  auto conns = a.h.connections();
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_LE(conns[0]->stream_count(), 64u + 1);  // + our own identify stream to b
  EXPECT_FALSE(conns[0]->closing());
}

TEST_F(limits_test, streams_parked_in_negotiation_are_bounded_and_time_out) {
  auto cfg = test_node::quiet_config();
  cfg.max_negotiating_streams = 8;
  cfg.stream_negotiation_timeout = 300ms;
  test_node a(ctx, cfg);
  auto addr = a.listen();
  raw_peer::options o;
  o.silent_streams = 20;
  const auto t0 = std::chrono::steady_clock::now();
  auto p = raw(addr, o);
  ASSERT_TRUE(run([&] { return p->established && a.h.metrics().streams_refused >= 12; }));
  ASSERT_EQ(a.h.connections().size(), 1u);
  EXPECT_LE(a.h.connections()[0]->negotiating_streams(), 8u);
  // The parked ones are reset once the negotiation timeout passes; the connection stays.
  ASSERT_TRUE(run([&] { return a.h.metrics().stream_negotiation_timeouts >= 8; }, 3s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 300ms);
  ASSERT_TRUE(run([&] { return p->streams_reset >= 20; }));
  EXPECT_EQ(a.h.connections()[0]->negotiating_streams(), 0u);
  EXPECT_FALSE(p->closed);
  EXPECT_FALSE(a.h.connections()[0]->closing());
}

TEST_F(limits_test, per_peer_limit_drops_the_extra_connection) {
  auto cfg = test_node::quiet_config();
  cfg.max_per_peer = 1;
  test_node a(ctx, cfg);
  auto addr = a.listen();
  crypto::seeded_rng r(7);
  raw_peer::options o;
  o.identity = crypto::ed25519_generate(r);
  auto p1 = raw(addr, o);
  ASSERT_TRUE(run([&] { return p1->established && a.established_count() == 1; }));
  auto p2 = raw(addr, o);  // the same peer again: over the limit, dropped at once
  ASSERT_TRUE(run([&] { return p2->closed; }));
  EXPECT_EQ(a.h.metrics().refused_per_peer, 1u);
  EXPECT_EQ(a.h.metrics().duplicates_closed, 0u);
  ASSERT_TRUE(run([&] { return a.h.connections().size() == 1; }));
  EXPECT_FALSE(p1->closed);
  EXPECT_EQ(a.of<node::peer_connected>().size(), 1u);
  EXPECT_TRUE(a.of<node::peer_disconnected>().empty());
}

}  // namespace
