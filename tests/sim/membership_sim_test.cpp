// Membership and access control over a whole network in virtual time (issue 14): 200 data
// engines on a random mesh, each with its own replica of the membership log and a
// data::policy_guard that reads its roles from that replica. Log entries spread by flooding
// over the same links (each hop a link delay, as `/starling/members/1` pushes new entries to
// every member connection); a node that learns of an entry re-evaluates its data layer at once
// (engine::access_changed) and, for a revocation, closes its connection to the revoked node
// (node::membership re-checks every connection). Nodes that hold no roles, or are not in the
// log at all, and do not check themselves stand for modified devices: what they may not have
// must never reach them, across any number of hops.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/access/policy.hpp"
#include "core/crypto/crypto.hpp"
#include "core/data/guard.hpp"
#include "core/member/log.hpp"
#include "sim_helpers.hpp"

using namespace starling;
using namespace starling::sim;
using namespace std::chrono_literals;
using access::op_set;
using access::operation;

namespace {

constexpr std::uint64_t t0_unix = 1'800'000'000;

/// A deterministic key per number (runs replay from their seed).
crypto::ed25519_keypair key_for(std::uint64_t n) {
  crypto::ed25519_seed seed{};
  for (int b = 0; b < 8; ++b)
    seed[static_cast<std::size_t>(b)] = static_cast<std::uint8_t>(n >> (8 * b));
  seed[31] = 0x5a;
  return crypto::ed25519_from_seed(seed);
}

access::rule rule(std::string role, op_set ops, std::string key) {
  access::rule r;
  r.effect = access::effect::allow;
  r.roles = {std::move(role)};
  r.ops = ops;
  r.keys = {keyexpr::keyexpr::parse(key).value()};
  return r;
}

op_set ops(std::initializer_list<operation> list) {
  op_set s;
  for (auto o : list)
    s = s.with(o);
  return s;
}

// sensor: publishes under home/; viewer: reads home/*/temp only; relay: reads everything (a
// gateway that carries for others); member: publishes and reads lab/**. Anything else
// ("blind", or no roles at all) may do nothing.
access::policy sim_policy() {
  access::policy p;
  p.version = 1;
  p.rules.push_back(rule("admin", op_set::all(), "**"));
  p.rules.push_back(rule("sensor", ops({operation::put, operation::liveliness_token}), "home/**"));
  p.rules.push_back(rule("viewer", ops({operation::subscribe}), "home/*/temp"));
  p.rules.push_back(rule("relay", ops({operation::subscribe}), "**"));
  p.rules.push_back(rule("member", ops({operation::put, operation::subscribe}), "lab/**"));
  return p;
}

/// The network of a simulation: keys, one log replica and one guard per node, and entry
/// gossip over the simulated links.
struct membership_net {
  network& net;
  crypto::ed25519_keypair owner = key_for(1u << 20);
  std::vector<crypto::ed25519_keypair> keys;
  std::map<peer_id, std::size_t> index_of;
  std::vector<std::unique_ptr<member::membership_log>> logs;
  std::vector<std::unique_ptr<data::policy_guard>> guards;
  std::vector<time_point> learned;  ///< when each node last took a new entry
  std::set<std::size_t> unchecked;  ///< nodes that do not check themselves (no guard)
  std::size_t closed_connections = 0;

  /// `roles[i]` for node i; nullopt: not in the log at all (a stranger that got past
  /// admission, say by a bug). Nodes in `self_unchecked` run without a guard.
  membership_net(network& n, const std::vector<std::optional<std::string>>& roles,
                 std::set<std::size_t> self_unchecked = {})
      : net(n), unchecked(std::move(self_unchecked)) {
    member::membership_log master(owner.pub);
    EXPECT_TRUE(master.append(owner, member::genesis_body{"sim"}, t0_unix));
    for (std::size_t i = 0; i < net.size(); ++i) {
      keys.push_back(key_for(i));
      index_of[net.at(i).id] = i;
      if (roles[i]) {
        EXPECT_TRUE(master.append(owner, member::join_body{keys[i].pub, {*roles[i]}}, t0_unix));
      }
    }
    learned.assign(net.size(), time_point{});
    for (std::size_t i = 0; i < net.size(); ++i) {
      // Every replica starts from the same verified log (copied: 200 nodes verifying 200
      // signatures each would only slow the test down).
      logs.push_back(std::make_unique<member::membership_log>(master));
      guards.push_back(std::make_unique<data::policy_guard>([this, i](const peer_id& p) {
        auto it = index_of.find(p);
        return it == index_of.end() ? std::vector<std::string>{}
                                    : logs[i]->roles_of(keys[it->second].pub);
      }));
      EXPECT_TRUE(guards[i]->set_policy(sim_policy()));
      if (!unchecked.count(i)) net.at(i).eng->set_access(guards[i].get(), net.now());
    }
  }

  /// Node `at` takes `entry` (from a neighbour, or written there): a new one changes its
  /// rights at once and goes on to every neighbour after a link delay.
  void deliver(std::size_t at, const bytes& entry) {
    auto r = logs[at]->insert(entry);
    ASSERT_TRUE(r) << r.error().message();
    if (r->status != member::insert_status::added) return;
    learned[at] = net.now();
    guards[at]->roles_changed();
    net.at(at).eng->access_changed(net.now());
    // A revoked peer's connection is closed (node::membership re-checks every connection).
    for (std::size_t j = 0; j < net.size(); ++j) {
      if (j != at && net.linked(at, j) && logs[at]->is_revoked(keys[j].pub)) {
        net.disconnect(at, j);
        ++closed_connections;
      }
    }
    net.pump(at);
    for (std::size_t j = 0; j < net.size(); ++j) {
      if (j == at || !net.linked(at, j)) continue;
      net.at_time(net.now() + 1ms, [this, j, entry] { deliver(j, entry); });
    }
  }

  /// Node `at` writes `body` signed by `by` and gossips it.
  void write(std::size_t at, const crypto::ed25519_keypair& by, member::entry_body body) {
    auto e = logs[at]->append(by, std::move(body), t0_unix + 60);
    ASSERT_TRUE(e) << e.error().message();
    // append() inserted it already: count it as learned and send it on.
    learned[at] = net.now();
    guards[at]->roles_changed();
    net.at(at).eng->access_changed(net.now());
    net.pump(at);
    for (std::size_t j = 0; j < net.size(); ++j) {
      if (j != at && net.linked(at, j)) {
        net.at_time(net.now() + 1ms, [this, j, entry = *e] { deliver(j, entry); });
      }
    }
  }
};

/// Samples node `i` received on keys matching `prefix`, from `source`.
std::size_t count_from(network& net, std::size_t i, const peer_id& source) {
  return static_cast<std::size_t>(
      std::count_if(net.at(i).got.begin(), net.at(i).got.end(),
                    [&](const received& r) { return r.source == source; }));
}

}  // namespace

TEST(MembershipSim, RevocationReaches200NodesWithinSecondsAndCutsTheRevoked) {
  for (auto seed : seeds({1})) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    network net(seed, link_model{});
    random_topology(net, 200, 100);
    std::vector<std::optional<std::string>> roles(net.size(), std::string("member"));
    roles[0] = "admin";
    membership_net mn(net, roles);
    std::uniform_int_distribution<std::size_t> any(1, net.size() - 1);
    const std::size_t victim = any(net.rng());
    std::size_t watcher = any(net.rng());
    while (watcher == victim)
      watcher = any(net.rng());
    ASSERT_TRUE(net.at(victim).eng->declare_subscriber("lab/**"));
    ASSERT_TRUE(net.at(watcher).eng->declare_subscriber("lab/**"));
    net.settle();

    // The victim and node 0 publish every 10 ms, before, during and after the revocation.
    auto publish_round = [&] {
      for (std::size_t p : {std::size_t{0}, victim}) {
        ASSERT_TRUE(net.at(p).eng->put("lab/" + std::to_string(p), as_bytes("x"), "", net.now(),
                                       net.ntp()) ||
                    p == victim);
        net.pump(p);
      }
    };
    for (int i = 0; i < 20; ++i) {
      publish_round();
      net.run_for(10ms);
    }
    ASSERT_GT(count_from(net, victim, net.at(0).id), 0u) << "the victim was a member";
    ASSERT_GT(count_from(net, watcher, net.at(victim).id), 0u);

    // Node 0 (an admin, holding the owner key here) revokes the victim.
    const time_point revoked_at = net.now();
    mn.write(0, mn.owner, member::revoke_body{mn.keys[victim].pub});
    for (int i = 0; i < 200; ++i) {
      publish_round();
      net.run_for(10ms);
    }
    // Every replica that can still be reached has it, within a second of virtual time. (A
    // node whose only path went through the victim is cut off with it: nobody can tell it.)
    clock_duration slowest{};
    std::size_t cut_off = 0;
    for (std::size_t i = 0; i < net.size(); ++i) {
      if (i == victim) continue;
      if (i != 0 && !net.connected_without(0, i, victim)) {
        ++cut_off;
        continue;
      }
      ASSERT_TRUE(mn.logs[i]->is_revoked(mn.keys[victim].pub)) << "node " << i;
      slowest = std::max(slowest, mn.learned[i] - revoked_at);
    }
    EXPECT_LT(cut_off, 10u);
    EXPECT_LT(slowest, 1s);
    // Its connections are closed, and whatever it sends or is sent stops.
    for (std::size_t j = 0; j < net.size(); ++j)
      EXPECT_FALSE(net.linked(victim, j)) << j;
    EXPECT_GE(mn.closed_connections, 1u);
    const auto victim_got = count_from(net, victim, net.at(0).id);
    const auto watcher_got = count_from(net, watcher, net.at(victim).id);
    for (int i = 0; i < 100; ++i) {
      publish_round();
      net.run_for(10ms);
    }
    EXPECT_EQ(count_from(net, victim, net.at(0).id), victim_got);
    EXPECT_EQ(count_from(net, watcher, net.at(victim).id), watcher_got);
    // The rest of the network still works.
    EXPECT_GT(count_from(net, watcher, net.at(0).id), 0u);
    std::printf(
        "[ info ] revocation reached %zu of %zu nodes in %.1f ms (virtual); %zu were "
        "reachable only through the revoked node\n",
        net.size() - 1 - cut_off, net.size() - 1,
        std::chrono::duration<double, std::milli>(slowest).count(), cut_off);
  }
}

TEST(MembershipSim, NoSampleReachesANodeOutsideItsRolesAcrossHops) {
  // Each seed runs twice on the same mesh: with every relay allowed to carry (every viewer
  // gets every sensor's temperatures) and with a tenth of the relays holding no rights
  // (nothing crosses them; what has a route around them still arrives in full).
  for (auto [seed, blind_relays] :
       {std::pair{seeds({1}).front(), false}, std::pair{seeds({1}).front(), true}}) {
    SCOPED_TRACE("seed " + std::to_string(seed) + (blind_relays ? ", blind relays" : ""));
    network net(seed, link_model{});
    // A backbone of 40 relays (a random mesh), every other node hangs off one of them.
    const std::size_t relays = 40, total = 200;
    for (std::size_t i = 0; i < total; ++i)
      net.add_node();
    for (std::size_t i = 1; i < relays; ++i) {
      std::uniform_int_distribution<std::size_t> pick(0, i - 1);
      net.connect(i, pick(net.rng()));
    }
    std::uniform_int_distribution<std::size_t> relay(0, relays - 1);
    for (int e = 0; e < 20; ++e)
      net.connect(relay(net.rng()), relay(net.rng()));
    // Each leaf hangs off one relay: routes run over the backbone. (Routes follow hop counts,
    // not rights: a leaf linked to two relays could lie on a route between them, and a leaf
    // that may not read a key does not carry it. docs/protocols/membership.md, "Known
    // problems".)
    for (std::size_t i = relays; i < total; ++i)
      net.connect(i, relay(net.rng()));
    // Roles past the backbone, in turn: sensor, viewer, blind (a member with no rights), a
    // stranger not in the log; blind leaves and strangers do not check themselves. Some relays
    // are blind too (honest members with no rights): nothing may cross them.
    std::vector<std::optional<std::string>> roles(total);
    std::set<std::size_t> unchecked;
    for (std::size_t i = 0; i < total; ++i) {
      if (i < relays) {
        roles[i] = blind_relays && i % 10 == 9 ? "blind" : "relay";
      } else if (i % 4 == 0) {
        roles[i] = "sensor";
      } else if (i % 4 == 1) {
        roles[i] = "viewer";
      } else if (i % 4 == 2) {
        roles[i] = "blind";
      }  // else: a stranger
      // Modified leaves: any path between two of them crosses a relay that checks (two
      // modified nodes linked directly, or by a modified relay, share what they like).
      if (i >= relays && (!roles[i] || *roles[i] == "blind")) unchecked.insert(i);
    }
    membership_net mn(net, roles, unchecked);
    for (std::size_t i = relays; i < total; ++i) {
      if (roles[i] != std::optional<std::string>("sensor")) {
        ASSERT_TRUE(net.at(i).eng->declare_subscriber("home/**")) << i;
      }
    }
    // A guarded sensor may not subscribe at all: its node refuses.
    EXPECT_FALSE(net.at(relays).eng->declare_subscriber("home/**"));
    net.settle();

    std::size_t sensors = 0;
    for (int round = 0; round < 10; ++round) {
      for (std::size_t i = relays; i < total; ++i) {
        if (roles[i] != std::optional<std::string>("sensor")) continue;
        if (round == 0) ++sensors;
        for (const char* kind : {"temp", "door"}) {
          const std::string key = "home/" + std::to_string(i) + "/" + kind;
          ASSERT_TRUE(net.at(i).eng->put(key, as_bytes("v"), "", net.now(), net.ntp()));
        }
        net.pump(i);
      }
      net.run_for(5ms);
    }
    // A stranger and a blind node publish too: nobody may take it.
    for (std::size_t i = relays; i < total; ++i) {
      if (unchecked.count(i)) {
        ASSERT_TRUE(
            net.at(i).eng->put("home/forged/temp", as_bytes("f"), "", net.now(), net.ntp()));
        net.pump(i);
      }
    }
    net.settle();

    std::size_t pairs_complete = 0, pairs = 0, viewers = 0;
    std::uint64_t denied_in = 0;
    for (std::size_t i = 0; i < total; ++i) {
      denied_in += net.at(i).eng->stats().access_denied_in;
      // What a node received from others (a node that does not check itself may hand its own
      // samples to its own subscriptions; that is its business).
      std::set<std::string> keys;
      std::vector<received> from_others;
      for (const auto& r : net.at(i).got) {
        if (r.source == net.at(i).id) continue;
        keys.insert(r.key);
        from_others.push_back(r);
      }
      const std::string role = roles[i].value_or("stranger");
      if (role == "viewer") {
        ++viewers;
        for (const auto& k : keys)
          EXPECT_TRUE(k.ends_with("/temp") && k != "home/forged/temp") << k << " at " << i;
        // From each sensor, all ten temperatures or none (none: its route to this viewer
        // crosses a blind relay, which nothing may cross).
        std::map<peer_id, std::size_t> per_sensor;
        for (const auto& r : from_others)
          ++per_sensor[r.source];
        for (const auto& [src, n] : per_sensor) {
          EXPECT_EQ(n, 10u) << "viewer " << i;
          pairs_complete += n == 10 ? 1 : 0;
        }
        pairs += sensors;
      } else if (role == "relay") {
        for (const auto& k : keys)
          EXPECT_NE(k, "home/forged/temp") << i;
      } else {
        EXPECT_TRUE(from_others.empty())
            << role << " node " << i << " got " << from_others.front().key;
      }
    }
    if (blind_relays) {
      EXPECT_GE(pairs_complete * 4, pairs) << pairs_complete << " of " << pairs;
    } else {
      EXPECT_EQ(pairs_complete, pairs);
    }
    EXPECT_GT(viewers, 0u);
    std::printf(
        "[ info ] %zu of %zu (viewer, sensor) pairs delivered in full, the rest blocked "
        "by a relay without rights\n",
        pairs_complete, pairs);
    EXPECT_GT(denied_in, 0u) << "forged samples were dropped on ingress";
  }
}

TEST(MembershipSim, ConcurrentEntriesOfTwoAdminsConvergeEverywhere) {
  network net(7, link_model{});
  random_topology(net, 200, 100);
  std::vector<std::optional<std::string>> roles(net.size(), std::string("member"));
  membership_net mn(net, roles);
  // The owner delegates node 1 as an admin; everyone learns it.
  mn.write(0, mn.owner, member::delegate_body{mn.keys[1].pub});
  net.settle();
  ASSERT_TRUE(mn.logs[150]->is_admin(mn.keys[1].pub));
  // At the same instant, on opposite sides, the owner (at node 0) and the admin (node 1) write
  // on the same head: a fork.
  mn.write(0, mn.owner, member::set_roles_body{mn.keys[20].pub, {"viewer"}});
  mn.write(1, mn.keys[1], member::set_roles_body{mn.keys[30].pub, {"sensor"}});
  net.settle();
  for (std::size_t i = 1; i < net.size(); ++i) {
    ASSERT_EQ(mn.logs[i]->head(), mn.logs[0]->head()) << "node " << i;
    ASSERT_EQ(mn.logs[i]->state(), mn.logs[0]->state()) << "node " << i;
  }
  // Both writers' entries count (neither is a revocation: the losing branch's entry is
  // orphaned by the fork and its author may write it again; the owner's branch wins).
  EXPECT_EQ(mn.logs[77]->roles_of(mn.keys[20].pub), std::vector<std::string>{"viewer"});
  // Every node's data layer follows its replica: node 20 may no longer publish on lab/.
  EXPECT_FALSE(net.at(20).eng->put("lab/x", as_bytes("1"), "", net.now(), net.ntp()));
}
