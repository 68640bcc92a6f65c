// Interop with js-libp2p: connection setup (Noise + Yamux, with and without early muxer
// negotiation, both directions) and identify as seen by both sides.

#include <algorithm>
#include <set>

#include "interop_support.hpp"

namespace starling::interop {
namespace {

struct connect_case {
  bool host_early;
  bool js_early;
  bool js_dials;
};

std::string case_name(const testing::TestParamInfo<connect_case>& i) {
  return std::string(i.param.js_dials ? "JsDials" : "StarlingDials") +
         (i.param.host_early ? "_StarlingEarly" : "_StarlingLate") +
         (i.param.js_early ? "_JsEarly" : "_JsLate");
}

std::set<std::string> as_set(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

class JsConnect : public testing::TestWithParam<connect_case> {};

TEST_P(JsConnect, NoiseYamuxAndIdentify) {
  STARLING_REQUIRE_JS();
  const auto p = GetParam();
  const bool expect_early = p.host_early && p.js_early;
  asio::io_context ctx;
  auto cfg = test_host::default_config();
  cfg.early_muxer = p.host_early;
  test_host h(ctx, cfg);
  js_options jo;
  jo.early_muxer = p.js_early;
  jo.connection_monitor = true;  // js's default
  js_peer js(ctx, jo);
  ASSERT_TRUE(js.start()) << "js peer did not start";

  std::shared_ptr<node::connection> c;
  if (p.js_dials) {
    auto r = js.call({{"cmd", "dial"}, {"addr", h.addr().to_string()}});
    ASSERT_EQ(r["ok"], true) << r.dump();
    EXPECT_EQ(r["peerId"], h->id().to_string());
    EXPECT_EQ(r["encryption"], "/noise");
    EXPECT_EQ(r["muxer"], "/yamux/1.0.0");
    EXPECT_EQ(r["earlyMuxer"], expect_early) << r.dump();
    ASSERT_TRUE(run_until(
        ctx, [&] { return h.find<node::peer_connected>() != nullptr; }, 10s));
    c = h.connection_to(js.peer_id());
  } else {
    c = h.dial(ctx, js.maddr());
  }
  ASSERT_TRUE(c);

  // Which path was used, as both sides saw it.
  const auto* pc = h.find<node::peer_connected>();
  ASSERT_TRUE(pc);
  EXPECT_EQ(pc->peer.to_string(), js.peer_id());
  EXPECT_EQ(pc->early_muxer, expect_early);
  EXPECT_EQ(pc->dir, p.js_dials ? conn::direction::inbound : conn::direction::outbound);
  auto open = js.wait_event(
      [&](const json& e) {
        return e["event"] == "connection:open" && e["peerId"] == h->id().to_string();
      },
      10s);
  ASSERT_TRUE(open) << "js reported no connection:open";
  EXPECT_EQ((*open)["earlyMuxer"], expect_early) << open->dump();
  EXPECT_EQ((*open)["muxer"], "/yamux/1.0.0");
  EXPECT_EQ((*open)["direction"], p.js_dials ? "outbound" : "inbound");
  // What we sent in the Noise payload's stream_muxers extension.
  EXPECT_EQ((*open)["remoteStreamMuxers"],
            p.host_early ? json::array({"/yamux/1.0.0"}) : json::array())
      << open->dump();

  // Identify, our side: what js told us.
  ASSERT_TRUE(run_until(
      ctx, [&] { return h.find<node::peer_identified>() != nullptr; }, 10s))
      << "no peer_identified from the js peer";
  const auto& info = h.find<node::peer_identified>()->info;
  EXPECT_EQ(h.find<node::peer_identified>()->peer.to_string(), js.peer_id());
  EXPECT_EQ(info.agent_version, "js-interop-peer/1.0");
  EXPECT_EQ(info.protocol_version, "ipfs/0.1.0");
  EXPECT_EQ(as_set(info.protocols), as_set(js.protocols()));
  std::vector<std::string> listen;
  for (auto& a : info.listen_addrs) {
    auto m = multiaddr::from_bytes(a);
    ASSERT_TRUE(m) << "js listen address does not parse";
    listen.push_back(m->to_string());
  }
  EXPECT_NE(std::find(listen.begin(), listen.end(), js.maddr().without_peer().to_string()),
            listen.end())
      << "js's listen address " << js.addr() << " missing from identify";
  ASSERT_TRUE(info.observed_addr);
  auto observed = multiaddr::from_bytes(*info.observed_addr);
  ASSERT_TRUE(observed);
  EXPECT_EQ(observed->without_peer(), c->local_addr()) << observed->to_string();
  // js's own view of our address (connection:open remoteAddr) is the observed address it sent.
  EXPECT_EQ((*open)["remoteAddr"], c->local_addr().with_peer(h->id())->to_string());

  // Identify, js's side: what we told js.
  auto idf = js.wait_event(
      [&](const json& e) { return e["event"] == "identify" && e["peerId"] == h->id().to_string(); },
      10s);
  ASSERT_TRUE(idf) << "js did not identify us";
  EXPECT_EQ((*idf)["agentVersion"], "starling-interop/1.0");
  EXPECT_EQ((*idf)["protocolVersion"], "ipfs/0.1.0");
  EXPECT_EQ(as_set((*idf)["protocols"].get<std::vector<std::string>>()), as_set(h->protocols()));
  EXPECT_EQ((*idf)["listenAddrs"], json::array({h.addr().without_peer().to_string()}));
  EXPECT_EQ((*idf)["observedAddr"], c->remote_addr().to_string());
  // js's identify command (a fresh identify round) agrees.
  auto r = js.call({{"cmd", "identify"}, {"peer", h->id().to_string()}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["agentVersion"], "starling-interop/1.0");
  EXPECT_EQ(r["observedAddr"], c->remote_addr().to_string());

  // No unexpected errors on the js side, and the connection is still up.
  EXPECT_TRUE(js.named("error").empty()) << js.named("error").front().dump();
  EXPECT_TRUE(js.named("connection:close").empty());
  EXPECT_EQ(h.find<node::peer_disconnected>(), nullptr);
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, JsConnect,
    testing::Values(connect_case{true, true, true}, connect_case{true, false, true},
                    connect_case{false, true, true}, connect_case{false, false, true},
                    connect_case{true, true, false}, connect_case{true, false, false},
                    connect_case{false, true, false}, connect_case{false, false, false}),
    case_name);

// The `starling node` binary, dialled by js, with and without --no-early-muxer.
class JsDialsStarlingBinary : public testing::TestWithParam<bool> {};

TEST_P(JsDialsStarlingBinary, ConnectIdentifyPing) {
  STARLING_REQUIRE_JS();
  const bool early = GetParam();
  asio::io_context ctx;
  starling_node_process node(ctx, early);
  ASSERT_TRUE(node.start()) << "starling node did not print its addresses";
  EXPECT_EQ(node.addr().rfind("/ip4/127.0.0.1/tcp/", 0), 0u) << node.addr();
  EXPECT_NE(node.addr().find("/p2p/" + node.peer_id()), std::string::npos) << node.addr();
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());

  auto r = js.call({{"cmd", "dial"}, {"addr", node.addr()}});
  ASSERT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(r["earlyMuxer"], early);
  EXPECT_EQ(r["muxer"], "/yamux/1.0.0");
  auto ping = js.call({{"cmd", "ping"}, {"peer", node.peer_id()}, {"count", 3}});
  ASSERT_EQ(ping["ok"], true) << ping.dump();
  EXPECT_EQ(ping["rtts"].size(), 3u);
  auto idf = js.wait_event(
      [&](const json& e) { return e["event"] == "identify" && e["peerId"] == node.peer_id(); },
      10s);
  ASSERT_TRUE(idf) << "js did not identify the starling node";
  EXPECT_EQ((*idf)["agentVersion"].get<std::string>().rfind("starling/", 0), 0u) << idf->dump();
  auto protocols = as_set((*idf)["protocols"].get<std::vector<std::string>>());
  for (const char* want : {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"}) {
    EXPECT_TRUE(protocols.count(want)) << want << " not announced";
  }
  EXPECT_FALSE(protocols.count("/perf/1.0.0")) << "perf is served only with --serve-perf";
}

INSTANTIATE_TEST_SUITE_P(EarlyMuxer, JsDialsStarlingBinary, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& i) {
                           return i.param ? "Early" : "NoEarly";
                         });

// js asks `starling node` for a perf run: refused ("na") without --serve-perf, served with it.
class JsPerfStarlingBinary : public testing::TestWithParam<bool> {};

TEST_P(JsPerfStarlingBinary, OnlyWithServePerf) {
  STARLING_REQUIRE_JS();
  const bool serve = GetParam();
  asio::io_context ctx;
  starling_node_process node(ctx, true, serve);
  ASSERT_TRUE(node.start()) << "starling node did not print its addresses";
  js_peer js(ctx, js_options{});
  ASSERT_TRUE(js.start());
  auto d = js.call({{"cmd", "dial"}, {"addr", node.addr()}});
  ASSERT_EQ(d["ok"], true) << d.dump();
  auto idf = js.wait_event(
      [&](const json& e) { return e["event"] == "identify" && e["peerId"] == node.peer_id(); },
      10s);
  ASSERT_TRUE(idf) << "js did not identify the starling node";
  EXPECT_EQ(as_set((*idf)["protocols"].get<std::vector<std::string>>()).count("/perf/1.0.0"),
            serve ? 1u : 0u)
      << idf->dump();

  constexpr std::uint64_t mib = 1 << 20;
  auto r = js.call({{"cmd", "perf"}, {"addr", node.addr()}, {"upload", mib}, {"download", 2 * mib}},
                   30s);
  if (serve) {
    ASSERT_EQ(r["ok"], true) << r.dump();
    EXPECT_EQ(r["uploadBytes"], mib);
    EXPECT_EQ(r["downloadBytes"], 2 * mib);
  } else {
    ASSERT_EQ(r["ok"], false) << r.dump();
    // multistream-select answered "na".
    EXPECT_NE(r.value("error", "").find("UnsupportedProtocolError"), std::string::npos) << r.dump();
  }
  // Either way the connection carries on: ping works.
  auto ping = js.call({{"cmd", "ping"}, {"peer", node.peer_id()}, {"count", 1}});
  EXPECT_EQ(ping["ok"], true) << ping.dump();
}

INSTANTIATE_TEST_SUITE_P(ServePerf, JsPerfStarlingBinary, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& i) {
                           return i.param ? "Served" : "Refused";
                         });

}  // namespace
}  // namespace starling::interop
