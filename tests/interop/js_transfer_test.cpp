// Interop with js-libp2p: perf 64 MiB each way, 200 concurrent streams, half-close and reset
// (both directions each), and a js peer killed mid-transfer while the node stays healthy.

#include "interop_support.hpp"
#include "test_handlers.hpp"

namespace starling::interop {
namespace {

constexpr std::uint64_t mib64 = 64ull << 20;

TEST(JsPerf, JsClientAgainstStarlingServer) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  auto r = js.call(
      {{"cmd", "perf"}, {"addr", h.addr().to_string()}, {"upload", mib64}, {"download", mib64}},
      90s);
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["uploadBytes"], mib64);
  EXPECT_EQ(r["downloadBytes"], mib64);
  ASSERT_TRUE(h.connection_to(js.peer_id()));
}

TEST(JsPerf, StarlingClientAgainstJsServer) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  auto c = h.dial(ctx, js.maddr());
  ASSERT_TRUE(c);
  std::optional<perf::report> final_report;
  std::optional<std::error_code> done;
  c->open_stream({"/perf/1.0.0"},
                 node::make_perf_client(
                     *h, mib64, mib64,
                     [&](const perf::report& r) {
                       if (r.type == perf::report::kind::final) final_report = r;
                     },
                     [&](std::error_code ec) { done = ec; }),
                 [&](std::error_code ec) { done = ec; });
  ASSERT_TRUE(run_until(
      ctx, [&] { return done.has_value(); }, 90s))
      << "perf did not finish";
  ASSERT_FALSE(*done) << done->message();
  ASSERT_TRUE(final_report);
  EXPECT_EQ(final_report->upload_bytes, mib64);
  EXPECT_EQ(final_report->download_bytes, mib64);
  // js's handler saw the same.
  auto ev = js.wait_event(
      [](const json& e) { return e["event"] == "stream" && e["protocol"] == "/perf/1.0.0"; }, 10s);
  ASSERT_TRUE(ev);
  EXPECT_EQ((*ev)["result"], "ok") << ev->dump();
  EXPECT_EQ((*ev)["uploadBytes"], mib64);
  EXPECT_EQ((*ev)["downloadBytes"], mib64);
}

TEST(JsPerf, StarlingBinaryJsonAgainstJs) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  auto out = run_starling_cli(ctx,
                              {"perf", js.addr(), "--upload-bytes", std::to_string(mib64),
                               "--download-bytes", std::to_string(mib64), "--json"},
                              90s);
  ASSERT_EQ(out.exit_code, 0);
  std::optional<json> final_line;
  for (auto& l : out.lines) {
    auto j = json::parse(l, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << l;
    ASSERT_TRUE(j["type"] == "intermediary" || j["type"] == "final") << l;
    if (j["type"] == "final") final_line = j;
  }
  ASSERT_TRUE(final_line) << "no final line";
  EXPECT_EQ((*final_line)["uploadBytes"], mib64);
  EXPECT_EQ((*final_line)["downloadBytes"], mib64);
  EXPECT_GT((*final_line)["timeSeconds"].get<double>(), 0.0);
}

TEST(JsStreams, JsOpens200ConcurrentStreams) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  auto st = register_test_protocols(*h);
  js_options jo;
  jo.max_streams = 256;
  js_peer js(ctx, jo);
  ASSERT_TRUE(js.start());
  auto d = js.call({{"cmd", "dial"}, {"addr", h.addr().to_string()}});
  ASSERT_EQ(d["ok"], true) << d.dump();
  auto r = js.call({{"cmd", "streams"}, {"peer", h->id().to_string()}, {"n", 200}, {"bytes", 4096}},
                   60s);
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["succeeded"], 200);
  ASSERT_TRUE(run_until(
      ctx, [&] { return st->closed_ok + st->closed_error >= 200; }, 10s));
  EXPECT_EQ(st->opened, 200);
  EXPECT_EQ(st->closed_ok, 200);
  EXPECT_EQ(st->bytes_in, 200u * 4096u);
}

TEST(JsStreams, StarlingOpens200ConcurrentStreams) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  js_options jo;
  jo.max_streams = 256;
  js_peer js(ctx, jo);
  ASSERT_TRUE(js.start());
  auto c = h.dial(ctx, js.maddr());
  ASSERT_TRUE(c);
  std::vector<std::shared_ptr<client_outcome>> outs;
  std::vector<bytes> sent;
  for (std::uint32_t i = 0; i < 200; ++i) {
    sent.push_back(pattern(4096, i));
    outs.push_back(open_client(*c, echo_protocol, sent.back()));
  }
  auto all_closed = [&] {
    for (auto& o : outs) {
      if (!o->closed) return false;
    }
    return true;
  };
  ASSERT_TRUE(run_until(ctx, all_closed, 60s)) << "not every stream finished";
  int ok = 0;
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const auto& o = *outs[i];
    EXPECT_FALSE(o.open_failed) << "stream " << i << ": " << o.error.message();
    EXPECT_FALSE(o.error) << "stream " << i << ": " << o.error.message();
    EXPECT_TRUE(o.eof) << "stream " << i;
    EXPECT_EQ(o.received, sent[i])
        << "stream " << i << " echo differs (" << o.received.size() << " bytes)";
    ok += !o.error && o.eof && o.received == sent[i];
  }
  EXPECT_EQ(ok, 200);
  ASSERT_TRUE(run_until(
      ctx, [&] { return js.named("stream").size() >= 200; }, 10s));
  int js_ok = 0;
  for (auto& e : js.named("stream"))
    js_ok += e["result"] == "ok";
  EXPECT_EQ(js_ok, 200);
}

TEST(JsHalfClose, JsHalfClosesAgainstStarling) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  auto st = register_test_protocols(*h);
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  auto r = js.call({{"cmd", "halfclose"}, {"addr", h.addr().to_string()}, {"bytes", 100000}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["bytesReceived"], 100000);
  EXPECT_EQ(r["echoMatches"], true);
  EXPECT_EQ(r["outcome"], "eof");
  r = js.call({{"cmd", "halfclose"},
               {"addr", h.addr().to_string()},
               {"protocol", "sink"},
               {"bytes", 300000}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["count"], 300000);
  EXPECT_EQ(r["outcome"], "eof");
  ASSERT_TRUE(run_until(
      ctx, [&] { return st->closed_ok >= 2; }, 10s));
  EXPECT_EQ(st->closed_error, 0);
}

TEST(JsHalfClose, StarlingHalfClosesAgainstJs) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  auto c = h.dial(ctx, js.maddr());
  ASSERT_TRUE(c);
  const bytes data = pattern(100000, 7);
  auto echo = open_client(*c, echo_protocol, data);
  auto sink = open_client(*c, sink_protocol, pattern(300000, 8));
  ASSERT_TRUE(run_until(
      ctx, [&] { return echo->closed && sink->closed; }, 20s));
  EXPECT_FALSE(echo->error) << echo->error.message();
  EXPECT_TRUE(echo->eof);
  EXPECT_EQ(echo->received, data);
  EXPECT_FALSE(sink->error) << sink->error.message();
  EXPECT_TRUE(sink->eof);
  ASSERT_EQ(sink->received.size(), 8u);
  std::uint64_t count = 0;
  for (auto b : sink->received)
    count = count << 8 | b;
  EXPECT_EQ(count, 300000u);
}

TEST(JsReset, JsResetsAgainstStarling) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  auto st = register_test_protocols(*h);
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  // After the echo, then mid-transfer (a large write reset before it is echoed).
  auto r = js.call({{"cmd", "reset"}, {"addr", h.addr().to_string()}, {"bytes", 5000}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["connectionAlive"], true);
  r = js.call(
      {{"cmd", "reset"}, {"addr", h.addr().to_string()}, {"bytes", 2000000}, {"waitEcho", false}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["connectionAlive"], true);
  // Our echo handlers saw both resets; the two probe streams closed cleanly.
  ASSERT_TRUE(run_until(
      ctx, [&] { return st->reset_by_peer >= 2 && st->closed_ok >= 2; }, 10s))
      << "resets seen: " << st->reset_by_peer << ", clean closes: " << st->closed_ok;
  ASSERT_TRUE(h.connection_to(js.peer_id()));
}

TEST(JsReset, StarlingResetsAgainstJs) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  auto c = h.dial(ctx, js.maddr());
  ASSERT_TRUE(c);
  // Reset once the echo is back, and reset right after a large write (mid-transfer).
  auto after_echo = open_client(*c, echo_protocol, pattern(5000, 1), /*reset_after=*/5000);
  auto mid = open_client(*c, echo_protocol, pattern(2000000, 2), 0, /*half_close=*/false);
  ASSERT_TRUE(run_until(
      ctx, [&] { return after_echo->closed && mid->closed; }, 20s));
  EXPECT_EQ(after_echo->received.size(), 5000u);
  EXPECT_EQ(after_echo->error, node::host_errc::stream_reset_locally);
  EXPECT_EQ(mid->error, node::host_errc::stream_reset_locally);
  // js's echo handler ended both with an error (reset).
  ASSERT_TRUE(run_until(
      ctx, [&] { return js.named("stream").size() >= 2; }, 10s));
  for (auto& e : js.named("stream")) {
    EXPECT_EQ(e["result"], "error") << e.dump();
    EXPECT_NE(e.value("error", "").find("reset"), std::string::npos) << e.dump();
  }
  // The connection survives: a fresh echo stream works.
  const bytes probe = pattern(64, 3);
  auto ok = open_client(*c, echo_protocol, probe);
  ASSERT_TRUE(run_until(
      ctx, [&] { return ok->closed; }, 10s));
  EXPECT_FALSE(ok->error) << ok->error.message();
  EXPECT_EQ(ok->received, probe);
}

/// After `victim` was killed: the host reports it gone, keeps no connection to it, and a new js
/// peer connects and pings both ways.
void expect_healthy_after_kill(asio::io_context& ctx, test_host& h, const std::string& victim) {
  ASSERT_TRUE(run_until(
      ctx,
      [&] {
        return h.find<node::peer_disconnected>([&](const node::peer_disconnected& d) {
          return d.peer.to_string() == victim;
        }) != nullptr;
      },
      15s))
      << "no peer_disconnected for the killed peer";
  ASSERT_TRUE(run_until(
      ctx, [&] { return h->connections().empty(); }, 5s))
      << "connections left behind";

  js_peer fresh(ctx, js_options{});
  ASSERT_TRUE(fresh.start());
  // one stream for both pings (go/rust style): unaffected by bug A
  auto r =
      fresh.call({{"cmd", "ping"}, {"addr", h.addr().to_string()}, {"count", 2}, {"reuse", true}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  auto c = h.connection_to(fresh.peer_id());
  ASSERT_TRUE(c);
  bool done = false;
  int good = 0;
  node::ping_options po;
  po.count = 2;
  po.interval = 10ms;
  c->open_stream({"/ipfs/ping/1.0.0"},
                 node::make_ping_client(
                     *h, po, [&](int, result<clock_duration> rr) { good += rr.has_value(); },
                     [&] { done = true; }),
                 [&](std::error_code) { done = true; });
  ASSERT_TRUE(run_until(
      ctx, [&] { return done; }, 10s));
  EXPECT_EQ(good, 2);
}

TEST(JsKilled, DuringJsUploadToStarling) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  const std::string victim = js.peer_id();
  js.send(
      {{"cmd", "perf"}, {"addr", h.addr().to_string()}, {"upload", 4ull << 30}, {"download", 0}});
  ASSERT_TRUE(run_until(
      ctx,
      [&] {
        auto c = h.connection_to(victim);
        return c && c->bytes_in() > (16u << 20);
      },
      30s))
      << "the upload did not get going";
  js.proc().kill(SIGKILL);
  expect_healthy_after_kill(ctx, h, victim);
}

TEST(JsKilled, DuringStarlingDownloadFromJs) {
  STARLING_REQUIRE_JS();
  asio::io_context ctx;
  test_host h(ctx);
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  const std::string victim = js.peer_id();
  auto c = h.dial(ctx, js.maddr());
  ASSERT_TRUE(c);
  std::optional<std::error_code> done;
  c->open_stream(
      {"/perf/1.0.0"},
      node::make_perf_client(
          *h, 0, 4ull << 30, [](const perf::report&) {}, [&](std::error_code ec) { done = ec; }),
      [&](std::error_code ec) { done = ec; });
  ASSERT_TRUE(run_until(
      ctx, [&] { return c->bytes_in() > (16u << 20) || done.has_value(); }, 30s));
  ASSERT_FALSE(done.has_value()) << "perf ended early: " << done->message();
  js.proc().kill(SIGKILL);
  ASSERT_TRUE(run_until(
      ctx, [&] { return done.has_value(); }, 15s))
      << "the perf client never learnt";
  EXPECT_TRUE(*done) << "a killed peer must not look like a finished perf run";
  c.reset();
  expect_healthy_after_kill(ctx, h, victim);
}

}  // namespace
}  // namespace starling::interop
