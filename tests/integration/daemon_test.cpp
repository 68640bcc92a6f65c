// node::daemon on 127.0.0.1 with mDNS off: bootstrap, peer exchange across a chain of nodes,
// the peer store bringing peers back after a restart, re-dial after a peer restarts, the
// control socket's JSON, and one node per data directory.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <random>
#include <thread>

#include "harness.hpp"
#include "node/control.hpp"
#include "node/daemon.hpp"

using namespace starling;
using namespace starling::test;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

class daemon_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
  void SetUp() override {
    std::random_device rd;
    m_root = fs::temp_directory_path() /
             ("starling-daemon-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(m_root);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(m_root, ec);
  }

  asio::io_context ctx;

  node::daemon_config config(const std::string& name, std::vector<std::string> bootstrap = {}) {
    node::daemon_config c;
    c.data_dir = m_root / name;
    fs::create_directories(c.data_dir);
    c.listen = {*multiformats::multiaddr::parse("/ip4/127.0.0.1/tcp/0")};
    c.bootstrap = std::move(bootstrap);
    c.mdns = false;
    c.host.close_linger = 200ms;
    c.pex_initial = {300ms, 800ms};
    c.pex_interval = 2s;
    c.store_flush_interval = 200ms;
    node::apply_dead_peer_timeout(c.host, 3000ms);
    return c;
  }
  crypto::ed25519_keypair identity(std::uint64_t seed) {
    crypto::seeded_rng r(seed);
    return crypto::ed25519_generate(r);
  }
  std::unique_ptr<node::daemon> start(const crypto::ed25519_keypair& id, node::daemon_config c) {
    auto d = node::daemon::start(ctx, id, std::move(c));
    EXPECT_TRUE(d) << (d ? "" : d.error().message);
    return d ? std::move(*d) : nullptr;
  }
  static std::string addr_of(node::daemon& d) {
    return d.get_host().listen_addrs().front().to_string();
  }
  static bool connected_to(node::daemon& d, const multiformats::peer_id& p) {
    for (auto& c : d.get_host().connections()) {
      if (c->established() && !c->closing() && c->peer() == p) return true;
    }
    return false;
  }
  void stop(std::unique_ptr<node::daemon>& d) {
    bool done = false;
    d->shutdown([&] { done = true; });
    run_until(
        ctx, [&] { return done; }, 5s);
    d.reset();
  }

  fs::path m_root;
};

TEST_F(daemon_test, bootstrap_then_peer_exchange_joins_the_ends_of_a_chain) {
  // a <- b -> c: a and c only know b; peer exchange through b makes them meet.
  auto b = start(identity(2), config("b"));
  ASSERT_TRUE(b);
  auto a = start(identity(1), config("a", {addr_of(*b)}));
  auto c = start(identity(3), config("c", {addr_of(*b)}));
  ASSERT_TRUE(a && c);
  const auto& aid = a->get_host().id();
  const auto& cid = c->get_host().id();
  EXPECT_TRUE(run_until(
      ctx, [&] { return connected_to(*a, cid) && connected_to(*c, aid); }, 10s));
  // Whichever end asked b second learned of the other end through peer exchange and dialled.
  const auto* ka = a->mesh().find(cid.to_string());
  const auto* kc = c->mesh().find(aid.to_string());
  ASSERT_TRUE(ka && kc);
  EXPECT_TRUE((ka->sources | kc->sources) & mesh::bit(mesh::source::pex));
}

TEST_F(daemon_test, control_socket_answers_peers_known_and_status) {
  auto b = start(identity(2), config("b"));
  auto a = start(identity(1), config("a", {addr_of(*b)}));
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(run_until(ctx, [&] { return connected_to(*a, b->get_host().id()); }));
  // Let identify land so the agent is known.
  ASSERT_TRUE(run_until(ctx, [&] {
    auto p = a->handle_control(json{{"cmd", "peers"}});
    return p["peers"].size() == 1 && p["peers"][0]["agent"] != "";
  }));
  auto peers = a->handle_control(json{{"cmd", "peers"}});
  EXPECT_EQ(peers["ok"], true);
  EXPECT_EQ(peers["peers"][0]["id"], b->get_host().id().to_string());
  EXPECT_EQ(peers["peers"][0]["direction"], "outbound");
  EXPECT_GE(peers["peers"][0]["bytes_in"].get<std::uint64_t>(), 1u);
  auto known = a->handle_control(json{{"cmd", "known"}});
  ASSERT_EQ(known["known"].size(), 1u);
  EXPECT_EQ(known["known"][0]["state"], "connected");
  auto status = a->handle_control(json{{"cmd", "status"}});
  EXPECT_EQ(status["id"], a->get_host().id().to_string());
  EXPECT_EQ(status["connected_peers"], 1);
  EXPECT_EQ(status["mdns"]["enabled"], false);
  auto bad = a->handle_control(json{{"cmd", "nope"}});
  EXPECT_EQ(bad["ok"], false);

  // The same through the socket, as the CLI does it. The client blocks, so the node's
  // io_context runs on another thread meanwhile; the daemon is only touched from there.
  std::thread t([&] {
    run_until(
        ctx, [] { return false; }, 1500ms);
  });
  auto r = node::control_request(m_root / "a" / "control.sock", json{{"cmd", "status"}});
  t.join();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)["id"], a->get_host().id().to_string());
}

TEST_F(daemon_test, second_node_on_the_same_data_dir_is_refused) {
  auto a = start(identity(1), config("a"));
  ASSERT_TRUE(a);
  auto again = node::daemon::start(ctx, identity(1), config("a"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, node::control_errc::already_running);
  EXPECT_NE(again.error().message.find("already running"), std::string::npos)
      << again.error().message;
}

TEST_F(daemon_test, peer_store_reconnects_after_a_restart_without_bootstrap) {
  auto b = start(identity(2), config("b"));
  auto a = start(identity(1), config("a", {addr_of(*b)}));
  ASSERT_TRUE(a && b);
  const auto bid = b->get_host().id();
  ASSERT_TRUE(run_until(ctx, [&] { return connected_to(*a, bid); }));
  stop(a);
  ASSERT_TRUE(fs::exists(m_root / "a" / "peers.db"));
  // Restarted with no bootstrap at all: the store remembers b.
  a = start(identity(1), config("a"));
  ASSERT_TRUE(a);
  EXPECT_TRUE(run_until(
      ctx, [&] { return connected_to(*a, bid); }, 5s));
}

TEST_F(daemon_test, a_restarted_bootstrap_peer_is_dialled_again) {
  auto bcfg = config("b");
  auto b = start(identity(2), bcfg);
  ASSERT_TRUE(b);
  const auto baddr = addr_of(*b);
  auto a = start(identity(1), config("a", {baddr}));
  ASSERT_TRUE(a);
  const auto bid = b->get_host().id();
  ASSERT_TRUE(run_until(ctx, [&] { return connected_to(*a, bid); }));
  // b goes away and comes back on the same port.
  stop(b);
  ASSERT_TRUE(run_until(
      ctx, [&] { return !connected_to(*a, bid); }, 5s));
  bcfg.listen = {multiformats::multiaddr::parse(baddr)->without_peer()};
  b = start(identity(2), bcfg);
  ASSERT_TRUE(b);
  EXPECT_TRUE(run_until(
      ctx, [&] { return connected_to(*a, bid); }, 8s));
}

}  // namespace
