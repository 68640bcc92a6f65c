// Whole-network simulations of the data layer in virtual time (tests/sim/sim_net.hpp).
// Seeds: STARLING_SIM_SEED=<n> replays one seed; STARLING_SIM_SOAK=<n> runs n seeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "sim_helpers.hpp"
#include "sim_net.hpp"

using namespace starling;
using namespace starling::sim;
using namespace std::chrono_literals;

namespace {

const char* const rooms[] = {"kitchen", "hall", "attic", "garage"};
const char* const kinds[] = {"temp", "humidity"};

/// A subscription of one node, with what it should receive.
struct sub_plan {
  std::size_t node;
  std::string expr;
  std::uint64_t id;
};

bool matches(const std::string& expr, const std::string& key) {
  auto e = keyexpr::keyexpr::parse(expr);
  auto k = keyexpr::key::parse(key);
  return e && k && keyexpr::matches(*e, *k);
}

/// Runs a seeded scenario: `n` nodes, subscribers, publishers, `per_pub` samples each; the
/// callback may break things while samples flow. Returns the subscriptions.
std::vector<sub_plan> declare_subscribers(network& net, std::size_t count) {
  std::vector<sub_plan> subs;
  std::uniform_int_distribution<std::size_t> node(0, net.size() - 1), room(0, 3), kind(0, 1),
      shape(0, 3);
  for (std::size_t s = 0; s < count; ++s) {
    std::string expr;
    switch (shape(net.rng())) {
      case 0:
        expr = std::string("home/") + rooms[room(net.rng())] + "/" + kinds[kind(net.rng())];
        break;
      case 1:
        expr = std::string("home/*/") + kinds[kind(net.rng())];
        break;
      case 2:
        expr = std::string("home/") + rooms[room(net.rng())] + "/**";
        break;
      default:
        expr = "**";
        break;
    }
    const std::size_t at = node(net.rng());
    auto id = net.at(at).eng->declare_subscriber(expr);
    EXPECT_TRUE(id);
    subs.push_back({at, expr, *id});
    net.pump(at);
  }
  return subs;
}

struct publication {
  std::size_t node;
  std::string key;
  int count;
};

/// Every sample a subscription got is one it should get, from a publisher that sent it, once
/// and in order per publisher. Returns how many it got.
std::size_t check_exactly_once_in_order(network& net, const sub_plan& s) {
  std::map<std::pair<std::string, std::uint64_t>, std::uint64_t> last;  // (source, pub) -> seq
  std::size_t n = 0;
  for (const auto& r : net.at(s.node).got) {
    if (r.sub != s.id) continue;
    ++n;
    EXPECT_TRUE(matches(s.expr, r.key)) << s.expr << " got " << r.key;
    auto& l = last[{r.source.to_string(), r.publisher}];
    EXPECT_GT(r.seq, l) << "duplicate or out of order at node " << s.node;
    l = r.seq;
  }
  return n;
}

}  // namespace

// A stable network: every matching subscriber on every node gets every sample once, in
// order, and no node gets a sample nobody there asked for.
TEST(DataSim, StableMeshDeliversEverySampleExactlyOnce) {
  for (auto seed : seeds({1, 2})) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    network net(seed, link_model{});
    random_topology(net, 200, 100);
    auto subs = declare_subscribers(net, 60);
    net.settle();  // records flood

    std::uniform_int_distribution<std::size_t> node(0, net.size() - 1), room(0, 3), kind(0, 1);
    std::vector<publication> pubs;
    for (int p = 0; p < 20; ++p) {
      pubs.push_back({node(net.rng()),
                      std::string("home/") + rooms[room(net.rng())] + "/" + kinds[kind(net.rng())],
                      25});
    }
    for (int round = 0; round < 25; ++round) {
      for (const auto& p : pubs) {
        auto r = net.at(p.node).eng->put(p.key, as_bytes(std::to_string(round)), "text/plain",
                                         net.now(), net.ntp());
        ASSERT_TRUE(r);
        net.pump(p.node);
      }
      net.run_for(1ms);
    }
    net.settle();
    EXPECT_EQ(net.protocol_errors, 0u);

    for (const auto& s : subs) {
      std::size_t expected = 0;
      for (const auto& p : pubs) {
        if (matches(s.expr, p.key)) expected += static_cast<std::size_t>(p.count);
      }
      EXPECT_EQ(check_exactly_once_in_order(net, s), expected) << s.expr << " at " << s.node;
    }
    // No flooding: a node with no subscription is sent samples only to relay them.
    std::uint64_t forwarded = 0, received = 0, dup = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
      forwarded += net.at(i).eng->stats().samples_forwarded;
      received += net.at(i).eng->stats().samples_received;
      dup += net.at(i).eng->stats().duplicates;
    }
    EXPECT_EQ(forwarded, received);
    EXPECT_EQ(dup, 0u);  // a stable mesh sends no duplicates at all
  }
}

// Relays die and links change while samples flow: no subscriber ever sees a duplicate or a
// sample out of order, and once the network is stable again every sample published after
// that reaches every matching subscriber. (Here the graph may split, so samples may be lost:
// RelayDeathLosesNothing below keeps a path and checks that none is.)
TEST(DataSim, ChurnNeverDuplicatesAndRecovers) {
  for (auto seed : seeds({7})) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    network net(seed, link_model{500us, 300us, 0.05, 200ms});
    random_topology(net, 200, 150);
    // Subscribers and publishers on nodes that never fail (0-19); relays (20+) churn.
    std::vector<sub_plan> subs;
    for (std::size_t i = 0; i < 10; ++i) {
      const std::string expr = i % 2 ? "home/**" : "home/kitchen/temp";
      auto id = net.at(i).eng->declare_subscriber(expr);
      ASSERT_TRUE(id);
      subs.push_back({i, expr, *id});
      net.pump(i);
    }
    net.settle();
    std::uniform_int_distribution<std::size_t> relay(20, net.size() - 1);
    std::vector<std::size_t> dead;
    for (int round = 0; round < 40; ++round) {
      for (std::size_t p = 10; p < 14; ++p) {
        ASSERT_TRUE(
            net.at(p).eng->put("home/kitchen/temp", as_bytes("x"), "", net.now(), net.ntp()));
        net.pump(p);
      }
      if (round % 4 == 0) {
        const std::size_t victim = relay(net.rng());
        if (net.at(victim).alive) {
          net.kill(victim);
          dead.push_back(victim);
        }
      }
      if (round % 8 == 7 && !dead.empty()) {
        const std::size_t back = dead.front();
        dead.erase(dead.begin());
        std::uniform_int_distribution<std::size_t> any(0, net.size() - 1);
        net.revive(back, {any(net.rng()), any(net.rng())});
      }
      net.run_for(20ms);
    }
    net.settle();
    // The surviving graph may be split: repair the topology so that every live node is
    // connected again, then check that new samples reach everyone.
    for (std::size_t i = 1; i < net.size(); ++i) {
      if (net.at(i).alive) net.connect(i, 0);
    }
    net.settle();
    std::map<std::size_t, std::size_t> before;
    for (const auto& s : subs)
      before[s.node] = check_exactly_once_in_order(net, s);
    for (int round = 0; round < 10; ++round) {
      for (std::size_t p = 10; p < 14; ++p) {
        ASSERT_TRUE(
            net.at(p).eng->put("home/kitchen/temp", as_bytes("y"), "", net.now(), net.ntp()));
        net.pump(p);
      }
      net.run_for(5ms);
    }
    net.settle();
    for (const auto& s : subs) {
      EXPECT_EQ(check_exactly_once_in_order(net, s), before[s.node] + 40) << "node " << s.node;
    }
    EXPECT_EQ(net.protocol_errors, 0u);
  }
}

// End-to-end reliability: relays die (and come back) while reliable samples flow, taking the
// samples in flight on them; a relay is killed only when some other path still joins every
// publisher to every subscriber. Every subscriber still gets every sample of every publisher,
// once and in order: gaps are noticed (a later sample or a heartbeat) and repaired from the
// source's history along the new routes.
TEST(DataSim, RelayDeathLosesNothing) {
  const auto runs = seeds({11, 12});
  std::uint64_t repaired_in_all = 0;
  for (auto seed : runs) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    network net(seed, link_model{500us, 300us, 0.02, 200ms});
    random_topology(net, 100, 80);
    std::vector<sub_plan> subs;
    for (std::size_t i = 0; i < 10; ++i) {
      const std::string expr = i % 2 ? "home/**" : "home/*/temp";
      auto id = net.at(i).eng->declare_subscriber(expr);
      ASSERT_TRUE(id);
      subs.push_back({i, expr, *id});
      net.pump(i);
    }
    net.settle();
    constexpr int rounds = 40;
    // Delivery starts with the first sample a node gets from a publisher: send one before
    // anything fails, and let it arrive (a lost segment costs a 200 ms retransmission).
    for (std::size_t p = 10; p < 14; ++p) {
      ASSERT_TRUE(net.at(p).eng->put("home/kitchen/temp", as_bytes("0"), "", net.now(), net.ntp()));
      net.pump(p);
    }
    net.run_for(500ms);
    std::uniform_int_distribution<std::size_t> any(0, net.size() - 1);
    std::vector<std::size_t> dead;
    std::vector<std::uint64_t> forwarded(net.size(), 0);
    for (int round = 1; round < rounds; ++round) {
      for (std::size_t p = 10; p < 14; ++p) {
        ASSERT_TRUE(net.at(p).eng->put("home/kitchen/temp", as_bytes(std::to_string(round)), "",
                                       net.now(), net.ntp()));
        net.pump(p);
      }
      // Kill relays with samples in flight: half a link delay after the puts.
      net.run_for(700us);
      // Victims: relays that are forwarding right now.
      std::vector<std::size_t> busy;
      for (std::size_t i = 20; i < net.size(); ++i) {
        if (net.at(i).alive && net.at(i).eng->stats().samples_forwarded > forwarded[i])
          busy.push_back(i);
        forwarded[i] = net.at(i).eng->stats().samples_forwarded;
      }
      std::shuffle(busy.begin(), busy.end(), net.rng());
      int killed = 0;
      for (std::size_t k = 0; k < busy.size() && killed < 2; ++k) {
        // Only when some path still joins every publisher to every subscriber.
        bool keeps_paths = true;
        for (std::size_t p = 10; p < 14 && keeps_paths; ++p) {
          for (std::size_t q = 0; q < 10 && keeps_paths; ++q)
            keeps_paths = net.connected_without(p, q, busy[k]);
        }
        if (!keeps_paths) continue;
        net.kill(busy[k]);
        dead.push_back(busy[k]);
        ++killed;
      }
      if (round % 5 == 0) {
        while (dead.size() > 10) {
          const std::size_t back = dead.front();
          dead.erase(dead.begin());
          net.revive(back, {any(net.rng()), any(net.rng()), any(net.rng())});
        }
      }
      net.run_for(10ms);
    }
    net.settle();
    std::uint64_t lost = 0, repaired = 0, gaps = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
      lost += net.at(i).eng->stats().samples_lost;
      repaired += net.at(i).eng->stats().samples_repaired;
      gaps += net.at(i).eng->stats().gaps;
    }
    for (const auto& s : subs) {
      EXPECT_EQ(check_exactly_once_in_order(net, s), static_cast<std::size_t>(4 * rounds))
          << "node " << s.node;
    }
    EXPECT_EQ(lost, 0u) << "gaps " << gaps << ", repaired " << repaired;
    repaired_in_all += repaired;
    EXPECT_EQ(net.protocol_errors, 0u);
    for (std::size_t i = 0; i < net.size(); ++i) {
      EXPECT_EQ(net.at(i).eng->held_samples(), 0u) << "node " << i;
    }
  }
  // The scenario must actually lose samples in flight (some seeds are lucky).
  if (runs.size() > 1) {
    EXPECT_GT(repaired_in_all, 0u);
  }
}

// Compression on (the default): bursts of JSON readings leave as compressed frames on every
// hop, over links that delay and retransmit, and every matching subscriber still gets every
// sample exactly once and in order.
TEST(DataSim, CompressedBurstsArriveExactlyOnce) {
  for (auto seed : seeds({5})) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    link_model model;
    model.loss = 0.05;
    network net(seed, model);
    random_topology(net, 40, 20);
    auto subs = declare_subscribers(net, 20);
    net.settle();

    std::uniform_int_distribution<std::size_t> node(0, net.size() - 1), room(0, 3), kind(0, 1);
    std::vector<publication> pubs;
    for (int p = 0; p < 8; ++p) {
      pubs.push_back({node(net.rng()),
                      std::string("home/") + rooms[room(net.rng())] + "/" + kinds[kind(net.rng())],
                      0});
    }
    for (int round = 0; round < 20; ++round) {
      for (auto& p : pubs) {
        for (int i = 0; i < 16; ++i) {  // a burst: batched into one frame per hop
          const std::string json = R"({"sensor":")" + p.key + R"(","value":)" +
                                   std::to_string(20 + round % 5) + "." + std::to_string(i) +
                                   R"(,"unit":"C","ts":)" + std::to_string(round * 100 + i) + "}";
          ASSERT_TRUE(net.at(p.node).eng->put(p.key, as_bytes(json), "application/json", net.now(),
                                              net.ntp()));
          ++p.count;
        }
        net.pump(p.node);
      }
      net.run_for(5ms);
    }
    net.settle();
    EXPECT_EQ(net.protocol_errors, 0u);
    for (const auto& s : subs) {
      std::size_t expected = 0;
      for (const auto& p : pubs) {
        if (matches(s.expr, p.key)) expected += static_cast<std::size_t>(p.count);
      }
      EXPECT_EQ(check_exactly_once_in_order(net, s), expected) << s.expr << " at " << s.node;
    }
    std::uint64_t compressed = 0, decompressed = 0, refused = 0, in = 0, out = 0, lost = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
      const auto& st = net.at(i).eng->stats();
      compressed += st.frames_compressed;
      decompressed += st.frames_decompressed;
      refused += st.decompress_refused;
      in += st.compress_bytes_in;
      out += st.compress_bytes_out;
      lost += st.samples_lost;
    }
    EXPECT_GT(compressed, 0u);
    EXPECT_EQ(decompressed, compressed);  // every compressed frame arrived and was taken
    EXPECT_EQ(refused, 0u);
    EXPECT_EQ(lost, 0u);
    EXPECT_LT(out * 2, in);
  }
}
