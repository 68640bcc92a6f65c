// Who serves perf: a daemon serves ping but refuses /perf/1.0.0 (multistream-select answers
// "na") unless daemon_config::serve_perf (`starling node --serve-perf`) turns it on, and a
// perf server refuses requests above its per-request limit. In-process daemons on
// 127.0.0.1, mDNS, control socket and peer store off.
#include <optional>

#include "core/mss/errors.hpp"
#include "harness.hpp"
#include "node/daemon.hpp"

using namespace starling;
using namespace starling::test;

namespace {

class perf_service_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }

  static node::daemon_config config(bool serve_perf) {
    node::daemon_config c;
    c.listen = {*multiformats::multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
    c.mdns = false;
    c.use_control_socket = false;
    c.use_peer_store = false;
    c.host.close_linger = 200ms;
    c.serve_perf = serve_perf;
    return c;
  }
  std::unique_ptr<node::daemon> start(node::daemon_config c) {
    auto d = node::daemon::start(ctx, test_node::make_identity(0), std::move(c));
    EXPECT_TRUE(d) << (d ? "" : d.error().message);
    return d ? std::move(*d) : nullptr;
  }
  /// Dials `d` from `client` and waits until the daemon's identify record has arrived.
  std::shared_ptr<node::connection> connect(test_node& client, node::daemon& d) {
    auto r = dial(client.h, d.get_host().listen_addrs().front());
    if (!run_until(ctx, [&] { return r->done && !client.of<node::peer_identified>().empty(); }))
      return nullptr;
    return r->conn;
  }
  static bool announces(const test_node& client, std::string_view protocol) {
    const auto p = client.of<node::peer_identified>().front().info.protocols;
    return std::find(p.begin(), p.end(), protocol) != p.end();
  }

  struct perf_outcome {
    std::optional<std::error_code> ec;
    std::optional<perf::report> final_report;
  };
  /// Runs one perf request on `c` to its end.
  std::shared_ptr<perf_outcome> run_perf(test_node& client,
                                         const std::shared_ptr<node::connection>& c,
                                         std::uint64_t up, std::uint64_t down) {
    auto out = std::make_shared<perf_outcome>();
    c->open_stream({std::string(perf::protocol_id)},
                   node::make_perf_client(
                       client.h, up, down,
                       [out](const perf::report& r) {
                         if (r.type == perf::report::kind::final) out->final_report = r;
                       },
                       [out](std::error_code ec) { out->ec = ec; }),
                   [out](std::error_code ec) { out->ec = ec; });
    EXPECT_TRUE(run_until(
        ctx, [&] { return out->ec.has_value(); }, 20s))
        << "perf did not end";
    return out;
  }

  asio::io_context ctx;
};

TEST_F(perf_service_test, a_daemon_refuses_perf_by_default_and_still_serves_ping) {
  auto d = start(config(false));
  ASSERT_TRUE(d);
  test_node client(ctx);
  auto c = connect(client, *d);
  ASSERT_TRUE(c);
  EXPECT_FALSE(announces(client, perf::protocol_id));
  EXPECT_TRUE(announces(client, ping::protocol_id));

  auto perf_run = run_perf(client, c, 1000, 1000);
  EXPECT_EQ(*perf_run->ec, mss::errc::no_protocol) << perf_run->ec->message();
  EXPECT_FALSE(perf_run->final_report);

  // The connection is fine and ping is served.
  int replies = 0;
  bool done = false;
  node::ping_options po;
  po.count = 2;
  po.interval = 1ms;
  c->open_stream({std::string(ping::protocol_id)},
                 node::make_ping_client(
                     client.h, po, [&](int, result<clock_duration> r) { replies += r ? 1 : 0; },
                     [&] { done = true; }),
                 [&](std::error_code) { done = true; });
  ASSERT_TRUE(run_until(ctx, [&] { return done; }));
  EXPECT_EQ(replies, 2);
  EXPECT_FALSE(c->closed());
}

TEST_F(perf_service_test, a_daemon_with_serve_perf_serves_it) {
  auto d = start(config(true));
  ASSERT_TRUE(d);
  test_node client(ctx);
  auto c = connect(client, *d);
  ASSERT_TRUE(c);
  EXPECT_TRUE(announces(client, perf::protocol_id));

  auto r = run_perf(client, c, 3'000'000, 5'000'000);
  EXPECT_FALSE(*r->ec) << r->ec->message();
  ASSERT_TRUE(r->final_report);
  EXPECT_EQ(r->final_report->upload_bytes, 3'000'000u);
  EXPECT_EQ(r->final_report->download_bytes, 5'000'000u);
}

TEST_F(perf_service_test, default_limit_is_one_gib_per_request) {
  EXPECT_EQ(node::perf_server_limits{}.max_bytes, std::uint64_t{1} << 30);
  EXPECT_FALSE(node::daemon_config{}.serve_perf);
}

TEST_F(perf_service_test, a_request_above_the_limit_is_reset_before_anything_is_sent) {
  auto cfg = config(true);
  cfg.perf_limits.max_bytes = 1 << 20;
  auto d = start(std::move(cfg));
  ASSERT_TRUE(d);
  test_node client(ctx);
  auto c = connect(client, *d);
  ASSERT_TRUE(c);

  // At the limit: served in full.
  auto at = run_perf(client, c, 0, 1 << 20);
  EXPECT_FALSE(*at->ec) << at->ec->message();
  ASSERT_TRUE(at->final_report);
  EXPECT_EQ(at->final_report->download_bytes, 1u << 20);

  // One byte over, with an upload the server never waits for: reset as soon as the header
  // is in, so the run fails (and does not pretend to have finished).
  const auto bytes_out_before = d->get_host().metrics().bytes_out;
  auto over = run_perf(client, c, 64 << 20, (1 << 20) + 1);
  EXPECT_EQ(*over->ec, node::host_errc::stream_reset_by_peer) << over->ec->message();
  EXPECT_FALSE(over->final_report);
  EXPECT_LT(d->get_host().metrics().bytes_out - bytes_out_before, 64u << 10)
      << "the server sent data anyway";
  EXPECT_FALSE(c->closed()) << "a refused request must cost only its stream";
}

}  // namespace

// Members may measure, not keep a node busy: past its per-peer budget (here 2 at once, then
// one a minute) a request is reset before anything is sent, and the peer is reported; ten
// floods ban it (the connection closes) and a new connection of it is refused.
TEST_F(perf_service_test, requests_over_the_per_peer_budget_are_refused_and_a_flood_bans) {
  auto cfg = config(true);
  cfg.perf_limits.requests_per_minute = 1;
  cfg.perf_limits.request_burst = 2;
  auto d = start(cfg);
  ASSERT_TRUE(d);
  test_node client(ctx);
  auto c = connect(client, *d);
  ASSERT_TRUE(c);
  for (int i = 0; i < 2; ++i) {
    auto ok = run_perf(client, c, 0, 1000);
    EXPECT_FALSE(*ok->ec) << ok->ec->message();
  }
  auto refused = run_perf(client, c, 0, 1000);
  EXPECT_TRUE(*refused->ec);
  EXPECT_FALSE(refused->final_report);
  EXPECT_EQ(d->get_host().metrics().misbehaviour_reports, 1u);
  // Flood offences weigh 10, the ban comes at 100 (a point a second is forgiven meanwhile).
  for (int i = 0; i < 20 && !c->closed(); ++i)
    run_perf(client, c, 0, 1000);
  EXPECT_TRUE(run_until(ctx, [&] { return c->closed(); }))
      << "a flood bans the peer; reports: " << d->get_host().metrics().misbehaviour_reports;
  EXPECT_EQ(d->get_host().metrics().peers_banned, 1u);
  EXPECT_TRUE(d->get_host().banned_until(client.h.id()));
  auto again = dial(client.h, d->get_host().listen_addrs().front());
  ASSERT_TRUE(run_until(ctx, [&] { return d->get_host().metrics().refused_banned >= 1; }));
  (void)again;
}
