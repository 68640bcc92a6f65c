// Two or more node::host instances in one process, real sockets on 127.0.0.1: connecting,
// identify, ping, perf, many streams, half-close, reset, simultaneous dial, wrong peer id,
// graceful shutdown.
#include <algorithm>

#include "core/noise/errc.hpp"
#include "harness.hpp"

using namespace starling;
using namespace starling::test;

namespace {

class host_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
  asio::io_context ctx;  // first: outlives the hosts

  bool run(std::function<bool()> pred, std::chrono::milliseconds limit = 10s) {
    return run_until(ctx, std::move(pred), limit);
  }
  /// b dials a; both sides established.
  std::shared_ptr<node::connection> connect(test_node& b, test_node& a) {
    auto r = dial(b.h, a.h.listen_addrs().front());
    EXPECT_TRUE(run([&] { return r->done && a.established_count() == 1; }));
    EXPECT_FALSE(r->ec) << r->ec.message();
    return r->conn;
  }
};

TEST_F(host_test, connect_and_identify_both_sides) {
  test_node a(ctx), b(ctx);
  a.listen();
  b.listen();
  auto c = connect(b, a);
  ASSERT_TRUE(c);
  ASSERT_TRUE(run([&] {
    return a.of<node::peer_identified>().size() == 1 && b.of<node::peer_identified>().size() == 1;
  }));
  ASSERT_EQ(a.of<node::peer_connected>().size(), 1u);
  EXPECT_EQ(a.of<node::peer_connected>()[0].dir, conn::direction::inbound);
  EXPECT_TRUE(a.of<node::peer_connected>()[0].early_muxer);
  ASSERT_EQ(b.of<node::peer_connected>().size(), 1u);
  EXPECT_EQ(b.of<node::peer_connected>()[0].peer, a.h.id());

  for (auto [me, other] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
    auto seen = me->of<node::peer_identified>()[0];
    EXPECT_EQ(seen.peer, other->h.id());
    EXPECT_EQ(seen.info.agent_version, "starling/0.1.0");
    EXPECT_EQ(seen.info.protocol_version, "ipfs/0.1.0");
    for (const char* p : {"/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0", "/ipfs/ping/1.0.0",
                          "/perf/1.0.0", echo_protocol}) {
      EXPECT_NE(std::find(seen.info.protocols.begin(), seen.info.protocols.end(), p),
                seen.info.protocols.end())
          << p;
    }
    ASSERT_EQ(seen.info.listen_addrs.size(), 1u);
    auto la = multiformats::multiaddr::from_bytes(seen.info.listen_addrs[0]);
    ASSERT_TRUE(la);
    EXPECT_EQ(*la, other->h.listen_addrs().front().without_peer());
    // The observed address is our own end of the connection as the other side sees it.
    ASSERT_TRUE(seen.info.observed_addr);
    auto obs = multiformats::multiaddr::from_bytes(*seen.info.observed_addr);
    ASSERT_TRUE(obs);
    auto mine = me->h.connections();
    ASSERT_EQ(mine.size(), 1u);
    EXPECT_EQ(*obs, mine[0]->local_addr());
    EXPECT_TRUE(mine[0]->identify_info());
  }
}

TEST_F(host_test, dial_reuses_the_established_connection) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto c1 = connect(b, a);
  auto r = dial(b.h, a.h.listen_addrs().front());
  ASSERT_TRUE(run([&] { return r->done; }));
  EXPECT_EQ(r->conn, c1);
  EXPECT_EQ(b.h.connections().size(), 1u);
}

TEST_F(host_test, ping) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto c = connect(b, a);
  ASSERT_TRUE(c);
  std::vector<clock_duration> rtts;
  std::vector<std::error_code> errors;
  bool done = false;
  node::ping_options po;
  po.count = 3;
  po.interval = 10ms;
  c->open_stream({"/ipfs/ping/1.0.0"}, node::make_ping_client(
                                           b.h, po,
                                           [&](int, result<clock_duration> r) {
                                             if (r)
                                               rtts.push_back(*r);
                                             else
                                               errors.push_back(r.error());
                                           },
                                           [&] { done = true; }));
  ASSERT_TRUE(run([&] { return done; }));
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(rtts.size(), 3u);
  for (auto r : rtts)
    EXPECT_LT(r, 1s);
}

TEST_F(host_test, perf_64_mib_each_way) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto c = connect(b, a);
  ASSERT_TRUE(c);
  constexpr std::uint64_t n = 64ull << 20;
  std::optional<perf::report> final_report;
  std::optional<std::error_code> outcome;
  c->open_stream({"/perf/1.0.0"}, node::make_perf_client(
                                      b.h, n, n,
                                      [&](const perf::report& r) {
                                        if (r.type == perf::report::kind::final) final_report = r;
                                      },
                                      [&](std::error_code ec) { outcome = ec; }));
  ASSERT_TRUE(run([&] { return outcome.has_value(); }, 40s));
  EXPECT_FALSE(*outcome) << outcome->message();
  ASSERT_TRUE(final_report);
  EXPECT_EQ(final_report->upload_bytes, n);
  EXPECT_EQ(final_report->download_bytes, n);
  EXPECT_GT(b.h.metrics().bytes_out, n);
  EXPECT_GT(b.h.metrics().bytes_in, n);
}

TEST_F(host_test, two_hundred_concurrent_echo_streams) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto c = connect(b, a);
  ASSERT_TRUE(c);
  constexpr int n = 200;
  std::vector<std::shared_ptr<recorder_state>> st;
  std::vector<std::string> sent;
  int failed = 0;
  for (int i = 0; i < n; ++i) {
    st.push_back(std::make_shared<recorder_state>());
    std::string msg = "stream " + std::to_string(i) + " " +
                      std::string(1000 + i * 37, static_cast<char>('a' + i % 26));
    sent.push_back(msg);
    c->open_stream({echo_protocol}, std::make_unique<recorder>(st.back(), msg, true),
                   [&](std::error_code) { ++failed; });
  }
  // All open at once: before any completes, the far side holds many streams.
  std::size_t peak = 0;
  ASSERT_TRUE(run(
      [&] {
        for (auto& x : a.h.connections())
          peak = std::max(peak, x->stream_count());
        return failed > 0 || std::all_of(st.begin(), st.end(), [](auto& s) { return s->closed; });
      },
      20s));
  EXPECT_EQ(failed, 0);
  for (int i = 0; i < n; ++i) {
    EXPECT_TRUE(st[i]->read_closed) << i;
    EXPECT_FALSE(st[i]->close_ec) << i << st[i]->close_ec.message();
    EXPECT_EQ(st[i]->data, sent[i]) << i;
  }
  EXPECT_GT(peak, 100u);
  EXPECT_GE(a.h.metrics().streams_opened_inbound, static_cast<std::uint64_t>(n));
}

/// Server side of the half-close test: records EOF, then answers and closes.
struct half_state {
  std::string got;
  bool eof = false;
  bool closed = false;
  std::error_code ec;
};
class half_server final : public node::stream_handler {
 public:
  explicit half_server(std::shared_ptr<half_state> st) : m_st(std::move(st)) {}
  void on_data(node::stream&, bytes_view d) override { m_st->got.append(as_chars(d)); }
  void on_read_closed(node::stream& s) override {
    m_st->eof = true;
    s.write(as_bytes("after eof: " + m_st->got));
    s.close_write();
  }
  void on_closed(node::stream&, std::error_code ec) override {
    m_st->closed = true;
    m_st->ec = ec;
  }

 private:
  std::shared_ptr<half_state> m_st;
};

TEST_F(host_test, half_close_peer_sees_eof_and_can_still_write) {
  test_node a(ctx), b(ctx);
  auto server = std::make_shared<half_state>();
  a.h.set_handler("/starling/test/half/1.0.0",
                  [server] { return std::make_unique<half_server>(server); });
  a.listen();
  auto c = connect(b, a);
  auto st = std::make_shared<recorder_state>();
  c->open_stream({"/starling/test/half/1.0.0"}, std::make_unique<recorder>(st, "question", true));
  ASSERT_TRUE(run([&] { return st->closed && server->closed; }));
  EXPECT_TRUE(server->eof);
  EXPECT_EQ(server->got, "question");
  EXPECT_EQ(st->data, "after eof: question");
  EXPECT_TRUE(st->read_closed);
  EXPECT_FALSE(st->close_ec);
  EXPECT_FALSE(server->ec);
}

/// Resets the stream as soon as it gets a byte.
class resetter final : public node::stream_handler {
 public:
  void on_data(node::stream& s, bytes_view) override { s.reset(); }
};

TEST_F(host_test, reset_both_ways) {
  test_node a(ctx), b(ctx);
  auto server = std::make_shared<half_state>();
  a.h.set_handler("/starling/test/half/1.0.0",
                  [server] { return std::make_unique<half_server>(server); });
  a.h.set_handler("/starling/test/resetter/1.0.0", [] { return std::make_unique<resetter>(); });
  a.listen();
  auto c = connect(b, a);
  const auto base_a = a.h.metrics();

  // Dialer resets: the listener's handler ends with stream_reset_by_peer.
  auto st = std::make_shared<recorder_state>();
  c->open_stream({"/starling/test/half/1.0.0"}, std::make_unique<recorder>(st, "x"));
  ASSERT_TRUE(run([&] { return server->got == "x"; }));
  ASSERT_TRUE(st->s);
  st->s->reset();
  ASSERT_TRUE(run([&] { return server->closed && st->closed; }));
  EXPECT_EQ(server->ec, node::host_errc::stream_reset_by_peer);
  EXPECT_EQ(st->close_ec, node::host_errc::stream_reset_locally);
  EXPECT_FALSE(server->eof);

  // Listener resets: the dialer's handler ends with stream_reset_by_peer.
  auto st2 = std::make_shared<recorder_state>();
  c->open_stream({"/starling/test/resetter/1.0.0"}, std::make_unique<recorder>(st2, "boom"));
  ASSERT_TRUE(run([&] { return st2->closed; }));
  EXPECT_EQ(st2->close_ec, node::host_errc::stream_reset_by_peer);
  EXPECT_TRUE(st2->opened);
  EXPECT_EQ(a.h.metrics().streams_reset_by_peer, base_a.streams_reset_by_peer + 1);
  EXPECT_EQ(a.h.metrics().streams_reset_locally, base_a.streams_reset_locally + 1);
  // The connection survives both.
  EXPECT_FALSE(c->closing());
}

TEST_F(host_test, unsupported_protocol_fails_the_open) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto c = connect(b, a);
  std::optional<std::error_code> failed;
  auto st = std::make_shared<recorder_state>();
  c->open_stream({"/no/such/1.0.0"}, std::make_unique<recorder>(st),
                 [&](std::error_code ec) { failed = ec; });
  ASSERT_TRUE(run([&] { return failed.has_value(); }));
  EXPECT_FALSE(st->opened);
  EXPECT_FALSE(c->closing());
}

TEST_F(host_test, simultaneous_dial_keeps_one_shared_connection) {
  for (int round = 0; round < 3; ++round) {
    test_node a(ctx), b(ctx);
    a.listen();
    b.listen();
    auto ra = dial(a.h, b.h.listen_addrs().front());
    auto rb = dial(b.h, a.h.listen_addrs().front());
    ASSERT_TRUE(run([&] {
      return ra->done && rb->done && a.h.connections().size() == 1 &&
             b.h.connections().size() == 1 && a.established_count() == 1 &&
             b.established_count() == 1;
    }));
    ASSERT_FALSE(ra->ec) << ra->ec.message();
    ASSERT_FALSE(rb->ec) << rb->ec.message();
    auto ca = a.h.connections().front(), cb = b.h.connections().front();
    // The same TCP connection seen from both ends.
    EXPECT_EQ(ca->local_addr(), cb->remote_addr());
    EXPECT_EQ(ca->remote_addr(), cb->local_addr());
    // The dials were answered with a connection to the right peer: the survivor, or the
    // duplicate if that one was established first (it has been closed since).
    ASSERT_TRUE(ra->conn && rb->conn);
    EXPECT_EQ(ra->conn->peer(), b.h.id());
    EXPECT_EQ(rb->conn->peer(), a.h.id());
    EXPECT_TRUE(ra->conn == ca || ra->conn->closing());
    EXPECT_TRUE(rb->conn == cb || rb->conn->closing());
    // One peer_connected each, and no disconnect for the closed duplicate.
    EXPECT_EQ(a.of<node::peer_connected>().size(), 1u);
    EXPECT_EQ(b.of<node::peer_connected>().size(), 1u);
    EXPECT_TRUE(a.of<node::peer_disconnected>().empty());
    EXPECT_TRUE(b.of<node::peer_disconnected>().empty());
    // And it works.
    auto st = std::make_shared<recorder_state>();
    ca->open_stream({echo_protocol}, std::make_unique<recorder>(st, "hi", true));
    ASSERT_TRUE(run([&] { return st->closed; }));
    EXPECT_EQ(st->data, "hi");
  }
}

TEST_F(host_test, wrong_peer_id_fails_with_peer_id_mismatch) {
  test_node a(ctx), b(ctx), c(ctx);
  a.listen();
  auto wrong = *a.h.listen_addrs().front().without_peer().with_peer(c.h.id());
  auto r = dial(b.h, wrong);
  ASSERT_TRUE(run([&] { return r->done; }));
  EXPECT_EQ(r->ec, noise::errc::peer_id_mismatch);
  EXPECT_FALSE(r->conn);
  ASSERT_TRUE(run([&] { return b.h.connections().empty(); }));
  EXPECT_EQ(b.h.metrics().handshake_failures_security, 1u);
  EXPECT_TRUE(b.of<node::peer_connected>().empty());
}

/// Writes `n` bytes and closes its side as soon as the stream opens.
class blob_server final : public node::stream_handler {
 public:
  explicit blob_server(std::size_t n) : m_n(n) {}
  void on_open(node::stream& s) override {
    bytes chunk(64 * 1024);
    for (std::size_t i = 0; i < m_n; i += chunk.size()) {
      for (std::size_t j = 0; j < chunk.size(); ++j)
        chunk[j] = static_cast<std::uint8_t>((i + j) * 7 % 251);
      s.write(bytes_view(chunk).first(std::min(chunk.size(), m_n - i)));
    }
    s.close_write();
  }
  void on_data(node::stream&, bytes_view) override {}

 private:
  std::size_t m_n;
};

constexpr std::size_t blob_size = 8 << 20;  // far more than one Yamux window: mostly still queued

TEST_F(host_test, shutdown_right_after_a_large_write_loses_nothing) {
  constexpr std::size_t n = blob_size;
  test_node a(ctx), b(ctx);
  a.h.set_handler("/starling/test/blob/1.0.0",
                  [] { return std::make_unique<blob_server>(blob_size); });
  a.listen();
  auto c = connect(b, a);
  auto st = std::make_shared<recorder_state>();
  c->open_stream({"/starling/test/blob/1.0.0"}, std::make_unique<recorder>(st, "go"));
  ASSERT_TRUE(run([&] { return !st->data.empty(); }));
  bool done = false;
  a.h.shutdown([&] { done = true; }, 5s);
  ASSERT_TRUE(
      run([&] { return done && st->closed && b.of<node::peer_disconnected>().size() == 1; }, 20s));
  ASSERT_EQ(st->data.size(), n);
  for (std::size_t i = 0; i < n; i += 4099) {
    ASSERT_EQ(static_cast<std::uint8_t>(st->data[i]), static_cast<std::uint8_t>(i * 7 % 251)) << i;
  }
  EXPECT_TRUE(st->read_closed);
  EXPECT_FALSE(b.of<node::peer_disconnected>()[0].reason);
  EXPECT_EQ(a.h.metrics().connections_closed_by_error, 0u);
}

TEST_F(host_test, shutdown_closes_peers_cleanly) {
  test_node a(ctx), b(ctx), c(ctx);
  a.listen();
  connect(b, a);
  auto r = dial(c.h, a.h.listen_addrs().front());
  ASSERT_TRUE(run([&] { return r->done && a.established_count() == 2; }));
  // An open stream at shutdown: its server side gets EOF, not a reset.
  auto st = std::make_shared<recorder_state>();
  r->conn->open_stream({echo_protocol}, std::make_unique<recorder>(st, "x"));
  ASSERT_TRUE(run([&] { return st->data == "x"; }));
  bool done = false;
  const auto t0 = std::chrono::steady_clock::now();
  a.h.shutdown([&] { done = true; });
  ASSERT_TRUE(run([&] {
    return done && b.of<node::peer_disconnected>().size() == 1 &&
           c.of<node::peer_disconnected>().size() == 1;
  }));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1500ms);  // not the grace timeout
  EXPECT_FALSE(b.of<node::peer_disconnected>()[0].reason)
      << b.of<node::peer_disconnected>()[0].reason.message();
  EXPECT_FALSE(c.of<node::peer_disconnected>()[0].reason)
      << c.of<node::peer_disconnected>()[0].reason.message();
  EXPECT_EQ(b.of<node::peer_disconnected>()[0].peer, a.h.id());
  EXPECT_TRUE(st->read_closed);
  EXPECT_TRUE(a.h.connections().empty());
  EXPECT_EQ(a.h.metrics().connections_closed_by_error, 0u);
  // The listener is gone.
  auto again = dial(b.h, a.h.listen_addrs().front());
  ASSERT_TRUE(run([&] { return again->done; }));
  EXPECT_TRUE(again->ec);
}

}  // namespace

TEST_F(host_test, identify_push_announces_a_new_listen_address) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto c = connect(b, a);
  ASSERT_TRUE(c);
  ASSERT_TRUE(run([&] { return b.of<node::peer_identified>().size() == 1; }));
  ASSERT_EQ(b.of<node::peer_identified>()[0].info.listen_addrs.size(), 1u);

  // a starts listening on a second port while b is connected: b hears of it by push.
  auto second = a.h.listen(*multiformats::multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
  ASSERT_TRUE(second);
  ASSERT_TRUE(run([&] { return b.of<node::peer_identified>().size() == 2; }));
  const auto pushed = b.of<node::peer_identified>()[1];  // of<>() returns a copy
  EXPECT_EQ(pushed.peer, a.h.id());
  ASSERT_EQ(pushed.info.listen_addrs.size(), 2u);
  auto la = multiformats::multiaddr::from_bytes(pushed.info.listen_addrs[1]);
  ASSERT_TRUE(la);
  EXPECT_EQ(*la, second->without_peer());
  ASSERT_EQ(b.h.connections().size(), 1u);
  ASSERT_TRUE(b.h.connections()[0]->identify_info());
  EXPECT_EQ(b.h.connections()[0]->identify_info()->listen_addrs.size(), 2u);
}

namespace {

/// Echoes what it gets, then closes its write side at once (it never waits for our EOF).
class echo_once_then_fin final : public node::stream_handler {
 public:
  void on_data(node::stream& s, bytes_view d) override {
    s.write(d);
    s.close_write();
  }
};

}  // namespace

// The driver writes straight to the socket, also from inside the owner's own flush() (here:
// close_write() called from the test body, outside every driver callback). Sending our FIN
// after the peer's closes the stream inside poll_transmit; that event must still reach the
// handler, although no byte will ever come from the peer again (keep-alive is off).
TEST_F(host_test, stream_closed_by_a_write_outside_callbacks_is_reported) {
  test_node a(ctx), b(ctx);
  a.h.set_handler("/starling/test/echo-fin/1.0.0",
                  [] { return std::make_unique<echo_once_then_fin>(); });
  a.listen();
  auto c = connect(b, a);
  ASSERT_TRUE(c);
  auto st = std::make_shared<recorder_state>();
  c->open_stream({"/starling/test/echo-fin/1.0.0"}, std::make_unique<recorder>(st, "hello"));
  ASSERT_TRUE(run([&] { return st->read_closed && st->data == "hello"; }));
  ASSERT_FALSE(st->closed);
  ASSERT_TRUE(st->s);
  st->s->close_write();  // not inside any callback of the connection
  ASSERT_TRUE(run([&] { return st->closed; }, 3s));
  EXPECT_FALSE(st->close_ec);
}

// Writes from outside callbacks on several streams at once, more than the socket buffers:
// direct writes, asynchronous remainders and what queues behind them stay in order.
TEST_F(host_test, bulk_writes_from_outside_callbacks_arrive_in_order) {
  test_node a(ctx), b(ctx);
  a.listen();
  auto c = connect(b, a);
  ASSERT_TRUE(c);
  constexpr int n = 8;
  std::vector<std::shared_ptr<recorder_state>> st;
  std::vector<std::string> sent(n);
  for (int i = 0; i < n; ++i) {
    st.push_back(std::make_shared<recorder_state>());
    c->open_stream({echo_protocol}, std::make_unique<recorder>(st.back()));
  }
  ASSERT_TRUE(
      run([&] { return std::all_of(st.begin(), st.end(), [](auto& s) { return s->opened; }); }));
  // 64 rounds of one 16 KiB chunk per stream (8 MiB in all), written back to back.
  for (int round = 0; round < 64; ++round) {
    for (int i = 0; i < n; ++i) {
      std::string chunk(16 * 1024, static_cast<char>('a' + (round + i) % 26));
      chunk[0] = static_cast<char>('0' + i);
      sent[i] += chunk;
      st[i]->s->write(as_bytes(chunk));
    }
  }
  for (int i = 0; i < n; ++i)
    st[i]->s->close_write();
  ASSERT_TRUE(run(
      [&] { return std::all_of(st.begin(), st.end(), [](auto& s) { return s->closed; }); }, 20s));
  for (int i = 0; i < n; ++i) {
    EXPECT_FALSE(st[i]->close_ec) << i;
    EXPECT_TRUE(st[i]->data == sent[i])
        << i << ": " << st[i]->data.size() << " of " << sent[i].size();
  }
  EXPECT_GE(c->bytes_out(), static_cast<std::uint64_t>(n) * 64 * 16 * 1024);
}
