// Membership log replication across hops (node::membership, /starling/members/1): 32 nodes in
// one process on 127.0.0.1, each with its own data directory provisioned as a member of one
// network, connected in a chain 0 - 1 - ... - N-1. The owner's node (0) revokes the last node:
// the entry floods the chain hop by hop, every node's log holds it, and the last node's
// neighbour cuts it off. A node that starts later with the log from before the revocation
// catches up from the peer it connects to (its handshake shows an older head).
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/member/admission.hpp"
#include "harness.hpp"
#include "node/host.hpp"
#include "node/membership.hpp"

using namespace starling;
using namespace std::chrono_literals;
using starling::test::run_until;
namespace asio = boost::asio;

namespace {

constexpr std::size_t n_nodes = 32;

struct gossip_fixture : ::testing::Test {
  asio::io_context ctx;  // first: outlives the nodes
  std::filesystem::path dir;
  crypto::system_rng rng;
  crypto::ed25519_keypair owner;
  std::vector<crypto::ed25519_keypair> ids;
  std::unique_ptr<member::membership_log> log;
  struct node_t {
    std::unique_ptr<node::host> host;
    std::unique_ptr<node::membership> m;
    multiformats::multiaddr addr;
  };
  std::vector<node_t> nodes;

  void SetUp() override {
    ASSERT_TRUE(crypto::init());
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() /
          ("starling-gossip-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    owner = crypto::ed25519_generate(rng);
    log = std::make_unique<member::membership_log>(owner.pub);
    const std::uint64_t now = static_cast<std::uint64_t>(std::time(nullptr));
    ASSERT_TRUE(log->append(owner, member::genesis_body{"gossip"}, now));
    for (std::size_t i = 0; i <= n_nodes; ++i) {  // one more: the late node
      ids.push_back(crypto::ed25519_generate(rng));
      ASSERT_TRUE(log->append(owner, member::join_body{ids.back().pub, {"member"}}, now));
    }
  }
  void TearDown() override {
    nodes.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // Provisions node i's data directory with the log as it is now and starts it.
  void start(std::size_t i) {
    const std::uint64_t now = static_cast<std::uint64_t>(std::time(nullptr));
    member::cert_fields f;
    f.network = log->network();
    f.subject = ids[i].pub;
    f.roles = {"member"};
    f.not_before = now - 60;
    f.not_after = now + 3600;
    std::vector<member::certificate> chain = {member::issue(owner, f).value()};
    member::join_grant g;
    g.owner = owner.pub;
    g.chain = member::encode_chain(chain).value();
    g.entries = log->entries_from_height(0, 4096);
    const auto d = dir / ("n" + std::to_string(i));
    ASSERT_TRUE(node::membership::provision(d, g, i == 0 ? &owner : nullptr));
    node_t n;
    n.host = std::make_unique<node::host>(ctx, ids[i]);
    auto m = node::membership::start(*n.host, d, {});
    ASSERT_TRUE(m) << m.error().message;
    n.m = std::move(*m);
    auto a = n.host->listen(multiformats::multiaddr::parse("/ip4/127.0.0.1/tcp/0").value());
    ASSERT_TRUE(a);
    n.addr = *a;
    nodes.push_back(std::move(n));
  }

  bool connected(std::size_t a, std::size_t b) {
    for (auto& c : nodes[a].host->connections()) {
      if (c->established() && !c->closing() &&
          c->peer() == multiformats::peer_id::from_public_key(ids[b].pub)) {
        return true;
      }
    }
    return false;
  }
};

TEST_F(gossip_fixture, a_revocation_floods_the_chain_and_a_late_node_catches_up) {
  for (std::size_t i = 0; i < n_nodes; ++i)
    start(i);
  for (std::size_t i = 1; i < n_nodes; ++i)
    nodes[i].host->dial(nodes[i - 1].addr, [](auto) {});
  ASSERT_TRUE(run_until(ctx, [&] {
    for (std::size_t i = 1; i < n_nodes; ++i) {
      if (!connected(i, i - 1) || !connected(i - 1, i)) return false;
    }
    return true;
  })) << "the chain did not come up";

  const auto victim = ids[n_nodes - 1].pub;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(nodes[0].m->revoke(multiformats::peer_id::from_public_key(victim).to_string()));
  ASSERT_TRUE(run_until(ctx,
                        [&] {
                          for (std::size_t i = 0; i + 1 < n_nodes; ++i) {
                            if (!nodes[i].m->log()->is_revoked(victim)) return false;
                          }
                          return !connected(n_nodes - 2, n_nodes - 1);
                        }))
      << "the revocation did not reach every node, or the victim is still connected: " << [&] {
           std::string out;
           for (std::size_t i = 0; i < n_nodes; ++i)
             out += std::to_string(i) + (nodes[i].m->log()->is_revoked(victim) ? "R " : "- ") +
                    std::to_string(nodes[i].m->log()->state().height) + " ";
           out += connected(n_nodes - 2, n_nodes - 1) ? "still connected" : "cut";
           return out;
         }();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("measured: revocation across %zu hops, every log and the cut: %lld ms\n", n_nodes - 2,
              static_cast<long long>(ms.count()));
  EXPECT_LT(ms, 5s);

  // The victim cannot come back: its old neighbour refuses its next handshake.
  ASSERT_TRUE(run_until(
      ctx, [&] { return !connected(n_nodes - 1, n_nodes - 2); }, 5s));
  nodes[n_nodes - 1].host->dial(nodes[n_nodes - 2].addr, [](auto) {});
  EXPECT_TRUE(run_until(
      ctx, [&] { return nodes[n_nodes - 2].host->metrics().refused_not_member >= 1; }, 5s));
  EXPECT_FALSE(connected(n_nodes - 2, n_nodes - 1));

  // A node provisioned with the log from before the revocation catches up from its peer. The
  // fixture's log never saw the revocation: start() gives the late node the old entries.
  start(n_nodes);
  EXPECT_FALSE(nodes.back().m->log()->is_revoked(victim));
  nodes.back().host->dial(nodes[0].addr, [](auto) {});
  EXPECT_TRUE(run_until(
      ctx, [&] { return nodes.back().m->log()->is_revoked(victim); }, 5s))
      << "the late node did not fetch the newer entries";
}

}  // namespace
