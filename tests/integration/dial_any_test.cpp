// host::dial_any: candidate addresses dialled at once, the first that connects and passes the
// handshake wins; dead, refused and wrong-identity addresses are survived.
#include <boost/asio/ip/tcp.hpp>

#include "core/noise/errc.hpp"
#include "harness.hpp"

using namespace starling;
using namespace starling::test;

namespace {

class dial_any_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
  asio::io_context ctx;

  struct outcome {
    bool done = false;
    std::shared_ptr<node::connection> conn;
    std::error_code ec;
  };
  std::shared_ptr<outcome> dial_any(node::host& h, std::optional<multiformats::peer_id> expected,
                                    std::vector<multiformats::multiaddr> addrs,
                                    std::chrono::milliseconds timeout = 2000ms) {
    auto o = std::make_shared<outcome>();
    h.dial_any(std::move(expected), std::move(addrs), timeout,
               [o](result<std::shared_ptr<node::connection>> r) {
                 EXPECT_FALSE(o->done) << "completion called twice";
                 o->done = true;
                 if (r) {
                   o->conn = *r;
                 } else {
                   o->ec = r.error();
                 }
               });
    return o;
  }
  /// A port on 127.0.0.1 where nothing listens (bound, then closed).
  multiformats::multiaddr refused_addr() {
    asio::ip::tcp::acceptor a(ctx, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    auto port = a.local_endpoint().port();
    a.close();
    return *multiformats::multiaddr::parse("/ip4/127.0.0.1/tcp/" + std::to_string(port));
  }
};

TEST_F(dial_any_test, refused_address_does_not_stop_the_good_one) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto o = dial_any(b.h, a.h.id(), {refused_addr(), a.h.listen_addrs().front().without_peer()});
  ASSERT_TRUE(run_until(ctx, [&] { return o->done; }));
  ASSERT_TRUE(o->conn) << o->ec.message();
  EXPECT_EQ(o->conn->peer(), a.h.id());
}

TEST_F(dial_any_test, wrong_identity_address_is_skipped_for_the_right_one) {
  // c answers at the first address, but we want a: the handshake fails there and the reserve
  // socket (or the other attempt) gets a.
  test_node a(ctx), b(ctx), c(ctx);
  a.listen();
  c.listen();
  auto o = dial_any(
      b.h, a.h.id(),
      {c.h.listen_addrs().front().without_peer(), a.h.listen_addrs().front().without_peer()});
  ASSERT_TRUE(run_until(ctx, [&] { return o->done; }));
  ASSERT_TRUE(o->conn) << o->ec.message();
  EXPECT_EQ(o->conn->peer(), a.h.id());
  EXPECT_TRUE(run_until(ctx, [&] {
    auto cs = b.h.connections();
    return cs.size() == 1 && cs.front()->peer() == a.h.id();
  }));
}

TEST_F(dial_any_test, every_address_failing_reports_the_error_once) {
  test_node b(ctx);
  auto o = dial_any(b.h, std::nullopt, {refused_addr(), refused_addr()});
  ASSERT_TRUE(run_until(ctx, [&] { return o->done; }));
  EXPECT_FALSE(o->conn);
  EXPECT_EQ(o->ec, std::errc::connection_refused);
  EXPECT_TRUE(b.h.connections().empty());
}

TEST_F(dial_any_test, no_tcp_address_is_not_tcp) {
  test_node b(ctx);
  auto o = dial_any(b.h, std::nullopt,
                    {*multiformats::multiaddr::parse("/ip4/127.0.0.1/udp/5/quic-v1")});
  ASSERT_TRUE(o->done);
  EXPECT_EQ(o->ec, node::host_errc::not_tcp);
}

TEST_F(dial_any_test, a_stalled_handshake_times_out_and_the_other_address_wins) {
  // A listener that accepts at the kernel level but never speaks: the TCP connect succeeds at
  // once, the handshake stalls. With a short handshake timeout, the second address still wins.
  asio::ip::tcp::acceptor mute(ctx,
                               asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto mute_addr = *multiformats::multiaddr::parse("/ip4/127.0.0.1/tcp/" +
                                                   std::to_string(mute.local_endpoint().port()));
  node::host_config cfg = test_node::quiet_config();
  cfg.handshake_timeout = 300ms;
  test_node a(ctx), b(ctx, cfg);
  a.listen();
  auto o = dial_any(b.h, a.h.id(), {mute_addr, a.h.listen_addrs().front().without_peer()});
  ASSERT_TRUE(run_until(
      ctx, [&] { return o->done; }, 5s));
  ASSERT_TRUE(o->conn) << o->ec.message();
  EXPECT_EQ(o->conn->peer(), a.h.id());
}

TEST_F(dial_any_test, reuses_an_established_connection) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto first = dial_any(b.h, a.h.id(), {a.h.listen_addrs().front().without_peer()});
  ASSERT_TRUE(run_until(ctx, [&] { return first->done; }));
  ASSERT_TRUE(first->conn);
  auto second = dial_any(b.h, a.h.id(), {refused_addr()});
  ASSERT_TRUE(second->done);
  EXPECT_EQ(second->conn, first->conn);
}

}  // namespace
