// Queries and liveliness across a whole network in virtual time (tests/sim/sim_net.hpp):
// every query ends exactly once (answered, or cleanly at its timeout, never stalled by a
// node that left), and every watcher's view of liveliness tokens converges to the tokens of
// the live nodes.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "sim_helpers.hpp"
#include "sim_net.hpp"

using namespace starling;
using namespace starling::sim;
using namespace std::chrono_literals;

namespace {

/// Node i answers every query at once: one reply on the query's key, then final.
void answer_queries(network& net, std::size_t i) {
  network::node& n = net.at(i);
  n.query_handler = [&n, &net, i](std::uint64_t, const data::query_request& q) {
    ASSERT_TRUE(n.eng->reply(q.handle, "cmd/x", as_bytes(std::to_string(i)), "", net.ntp()));
    n.eng->reply_final(q.handle);
  };
}

}  // namespace

// Queriers ask every 50 ms while relays (and some queryable nodes) die and come back. Every
// query ends exactly once, no later than its timeout; while the network is stable, every
// query is answered by every node with a queryable, with no timeouts; a node that goes away
// is counted as gone, not waited for.
TEST(QuerySim, QueriesEndCleanlyUnderChurn) {
  for (auto seed : seeds({21})) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    network net(seed, link_model{500us, 300us, 0.02, 200ms});
    random_topology(net, 120, 90);
    // Queryables on nodes 10-19; queriers 0-4.
    for (std::size_t i = 10; i < 20; ++i) {
      ASSERT_TRUE(net.at(i).eng->declare_queryable("cmd/**"));
      answer_queries(net, i);
      net.pump(i);
    }
    net.settle();
    constexpr auto timeout = 2s;
    std::map<std::pair<std::size_t, std::uint64_t>, time_point> asked;
    auto ask_round = [&] {
      for (std::size_t q = 0; q < 5; ++q) {
        data::query_options o;
        o.timeout = timeout;
        auto id = net.at(q).eng->get("cmd/x", o, net.now());
        ASSERT_TRUE(id);
        asked[{q, *id}] = net.now();
        net.pump(q);
      }
    };
    // Stable: every queryable answers.
    ask_round();
    net.settle();
    for (std::size_t q = 0; q < 5; ++q) {
      ASSERT_EQ(net.at(q).done.size(), 1u);
      const auto& r = net.at(q).done[0].second;
      EXPECT_EQ(r.nodes_asked, 10u);
      EXPECT_EQ(r.nodes_answered, 10u);
      EXPECT_EQ(r.replies, 10u);
      EXPECT_FALSE(r.timed_out);
    }
    // Churn: relays and queryable nodes die while queries are in flight.
    std::uniform_int_distribution<std::size_t> victim(10, net.size() - 1), any(0, net.size() - 1);
    std::vector<std::size_t> dead;
    for (int round = 0; round < 20; ++round) {
      ask_round();
      net.run_for(2ms);
      const std::size_t v = victim(net.rng());
      if (net.at(v).alive) {
        net.kill(v);
        dead.push_back(v);
      }
      if (round % 4 == 3 && !dead.empty()) {
        const std::size_t back = dead.front();
        dead.erase(dead.begin());
        net.revive(back, {any(net.rng()), any(net.rng()), any(net.rng())});
        if (back >= 10 && back < 20) {
          ASSERT_TRUE(net.at(back).eng->declare_queryable("cmd/**"));
          answer_queries(net, back);
          net.pump(back);
        }
      }
      net.run_for(48ms);
    }
    net.settle();
    std::size_t gone = 0;
    for (std::size_t q = 0; q < 5; ++q) {
      std::set<std::uint64_t> ended;
      for (const auto& [qid, r] : net.at(q).done) {
        EXPECT_TRUE(ended.insert(qid).second) << "query " << qid << " ended twice";
        // It ended because every asked node finished or went away, or at the timeout.
        if (!r.timed_out) {
          EXPECT_EQ(r.nodes_answered + r.nodes_gone, r.nodes_asked);
        }
        EXPECT_LE(r.nodes_answered + r.nodes_gone, r.nodes_asked);
        const auto took = net.at(q).done_at[qid] - asked[std::make_pair(q, qid)];
        EXPECT_LE(took, timeout + 1ms) << "query " << qid;
        // Replies come only from nodes with a queryable.
        for (const auto& from : net.at(q).replies[qid]) {
          bool is_queryable = false;
          for (std::size_t i = 10; i < 20; ++i)
            is_queryable |= net.at(i).id == from;
          EXPECT_TRUE(is_queryable);
        }
        gone += r.nodes_gone;
      }
      EXPECT_EQ(ended.size(), 21u) << "querier " << q;
    }
    EXPECT_EQ(net.protocol_errors, 0u);
    RecordProperty("nodes_gone", static_cast<int>(gone));
  }
}

// Tokens on 30 nodes, watchers on 10; nodes holding tokens die and come back. Watchers never
// see a token join twice or leave without joining, and once the network is whole again each
// watcher's view is exactly the tokens of the live nodes.
TEST(QuerySim, LivelinessConverges) {
  for (auto seed : seeds({31})) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    network net(seed, link_model{500us, 300us, 0.02, 200ms});
    random_topology(net, 120, 90);
    auto declare = [&](std::size_t i) {
      ASSERT_TRUE(net.at(i).eng->declare_token("alive/node" + std::to_string(i)));
      net.pump(i);
    };
    for (std::size_t i = 20; i < 50; ++i)
      declare(i);
    for (std::size_t w = 0; w < 10; ++w) {
      ASSERT_TRUE(net.at(w).eng->watch_liveliness("alive/**"));
      net.pump(w);
    }
    net.settle();
    for (std::size_t w = 0; w < 10; ++w)
      EXPECT_EQ(net.at(w).alive_view.size(), 30u);
    std::uniform_int_distribution<std::size_t> victim(10, net.size() - 1), any(0, net.size() - 1);
    std::vector<std::size_t> dead;
    for (int round = 0; round < 30; ++round) {
      const std::size_t v = victim(net.rng());
      if (net.at(v).alive) {
        net.kill(v);
        dead.push_back(v);
      }
      if (round % 3 == 2 && !dead.empty()) {
        const std::size_t back = dead.front();
        dead.erase(dead.begin());
        net.revive(back, {any(net.rng()), any(net.rng())});
        if (back >= 20 && back < 50) declare(back);
      }
      net.run_for(20ms);
    }
    net.settle();
    // Make the network whole again, then compare.
    for (std::size_t i = 1; i < net.size(); ++i) {
      if (net.at(i).alive) net.connect(i, 0);
    }
    net.settle();
    std::set<std::pair<std::string, peer_id>> expected;
    for (std::size_t i = 20; i < 50; ++i) {
      if (net.at(i).alive) expected.emplace("alive/node" + std::to_string(i), net.at(i).id);
    }
    for (std::size_t w = 0; w < 10; ++w) {
      EXPECT_EQ(net.at(w).alive_view, expected) << "watcher " << w;
      EXPECT_EQ(net.at(w).liveliness_anomalies, 0u) << "watcher " << w;
    }
    EXPECT_EQ(net.protocol_errors, 0u);
  }
}
