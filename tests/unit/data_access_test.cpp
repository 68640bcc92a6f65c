// Access rules in the data engine (engine.hpp, "Access"; access_rules.hpp): engines in memory
// with a fake clock, each with a policy_guard over one shared table of roles. A node "without
// a guard" stands for a modified node that does not check itself: what it sends must be
// stopped by the others.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/access/policy.hpp"
#include "core/data/engine.hpp"
#include "core/data/guard.hpp"
#include "data_mesh.hpp"

using namespace starling;
using namespace starling::data;
using namespace starling::data::test_mesh;
using access::op_set;
using access::operation;

namespace {

access::rule rule(access::effect e, std::vector<std::string> roles, op_set ops,
                  std::vector<std::string> keys) {
  access::rule r;
  r.effect = e;
  r.roles = std::move(roles);
  r.ops = ops;
  for (const auto& k : keys)
    r.keys.push_back(keyexpr::keyexpr::parse(k).value());
  return r;
}

op_set ops(std::initializer_list<operation> list) {
  op_set s;
  for (auto o : list)
    s = s.with(o);
  return s;
}

// sensor: publishes and replies under home/; reader: reads home/*/temp, queries and watches;
// relay: reads everything (it carries for others); blind: nothing at all.
access::policy test_policy() {
  using access::effect;
  access::policy p;
  p.version = 2;
  p.rules.push_back(rule(effect::allow, {"sensor"},
                         ops({operation::put, operation::del, operation::reply,
                              operation::declare_queryable, operation::liveliness_token}),
                         {"home/**", "alive/**"}));
  p.rules.push_back(rule(effect::allow, {"reader"},
                         ops({operation::subscribe, operation::query, operation::liveliness_watch}),
                         {"home/*/temp", "alive/**"}));
  p.rules.push_back(rule(effect::allow, {"relay"},
                         ops({operation::subscribe, operation::query, operation::liveliness_watch}),
                         {"**"}));
  return p;
}

/// A mesh whose engines check `test_policy()` against `roles`.
struct guarded {
  mesh m;
  std::map<peer_id, std::vector<std::string>> roles;
  std::vector<std::unique_ptr<policy_guard>> guards;

  explicit guarded(std::vector<std::vector<std::string>> node_roles,
                   std::vector<std::size_t> unguarded = {})
      : m(node_roles.size()) {
    for (std::size_t i = 0; i < node_roles.size(); ++i) {
      roles[m.ids[i]] = node_roles[i];
      guards.push_back(std::make_unique<policy_guard>([this](const peer_id& p) {
        auto it = roles.find(p);
        return it == roles.end() ? std::vector<std::string>{} : it->second;
      }));
      EXPECT_TRUE(guards.back()->set_policy(test_policy()));
      if (std::find(unguarded.begin(), unguarded.end(), i) == unguarded.end()) {
        m.engines[i]->set_access(guards.back().get(), m.now);
      }
    }
  }
  /// Roles changed (a log entry): every guard looks them up again, every engine re-checks.
  void change_roles(std::size_t node, std::vector<std::string> r) {
    roles[m.ids[node]] = std::move(r);
    for (auto& g : guards)
      g->roles_changed();
    for (auto& e : m.engines)
      e->access_changed(m.now);
    m.pump();
  }
  std::vector<std::string> keys(std::size_t i) const {
    std::vector<std::string> out;
    for (const auto& s : m.sinks[i].samples)
      out.push_back(s.key);
    return out;
  }
};

using strings = std::vector<std::string>;

}  // namespace

TEST(DataAccess, SubscriberGetsOnlyTheKeysItsRolesMayRead) {
  guarded g({{"sensor"}, {"relay"}, {"reader"}});  // 0 - 1 - 2
  auto& m = g.m;
  m.link(0, 1);
  m.link(1, 2);
  // Accepted (it intersects what the reader may read), then filtered key by key.
  ASSERT_TRUE(m.engines[2]->declare_subscriber("home/**"));
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("home/kitchen/temp", as_bytes("21"), "", m.now, ntp));
  ASSERT_TRUE(m.engines[0]->put("home/kitchen/door", as_bytes("open"), "", m.now, ntp));
  m.pump();
  EXPECT_EQ(g.keys(2), strings{"home/kitchen/temp"});
  // The door sample stopped at the relay, which may read it but whose next hop may not.
  EXPECT_EQ(m.engines[1]->stats().samples_received, 2u);
  EXPECT_EQ(m.engines[1]->stats().samples_forwarded, 1u);
  EXPECT_GE(m.engines[1]->stats().access_denied_out, 1u);
}

TEST(DataAccess, ARelayThatMayNotReadCarriesNothing) {
  guarded g({{"sensor"}, {"blind"}, {"reader"}});  // 0 - 1 - 2
  auto& m = g.m;
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[2]->declare_subscriber("home/*/temp"));
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("home/kitchen/temp", as_bytes("21"), "", m.now, ntp));
  m.pump();
  EXPECT_TRUE(g.keys(2).empty());
  EXPECT_EQ(m.engines[1]->stats().samples_received, 0u) << "the source did not send it";
  EXPECT_EQ(m.engines[0]->stats().samples_forwarded, 0u);
  EXPECT_GE(m.engines[0]->stats().access_denied_out, 1u);
}

TEST(DataAccess, TheLocalApiRefusesWhatTheNodeMayNotDo) {
  guarded g({{"reader"}, {"sensor"}});
  auto& reader = *g.m.engines[0];
  auto& sensor = *g.m.engines[1];
  const auto denied = make_error_code(engine_errc::access_denied);
  EXPECT_EQ(reader.put("home/kitchen/temp", as_bytes("1"), "", g.m.now, ntp).error(), denied);
  EXPECT_EQ(reader.usage().publishers, 0u) << "no implicit publisher for a refused put";
  auto pub = reader.declare_publisher("home/kitchen/temp");
  ASSERT_TRUE(pub);
  EXPECT_EQ(reader.put(*pub, as_bytes("1"), g.m.now, ntp).error(), denied);
  EXPECT_EQ(reader.declare_queryable("home/**").error(), denied);
  EXPECT_EQ(reader.declare_token("alive/reader").error(), denied);
  EXPECT_EQ(reader.declare_subscriber("office/**").error(), denied);
  EXPECT_TRUE(reader.declare_subscriber("home/**"));
  EXPECT_TRUE(reader.watch_liveliness("alive/**"));
  EXPECT_TRUE(reader.get("home/kitchen/temp", {}, g.m.now));

  EXPECT_EQ(sensor.declare_subscriber("home/**").error(), denied);
  EXPECT_EQ(sensor.get("home/**", {}, g.m.now).error(), denied);
  EXPECT_EQ(sensor.watch_liveliness("alive/**").error(), denied);
  EXPECT_EQ(sensor.put("office/door", as_bytes("1"), "", g.m.now, ntp).error(), denied);
  EXPECT_TRUE(sensor.put("home/kitchen/temp", as_bytes("1"), "", g.m.now, ntp));
  EXPECT_TRUE(sensor.put("home/kitchen/temp", {}, "", g.m.now, ntp, true));
  EXPECT_TRUE(sensor.declare_token("alive/sensor"));
  EXPECT_TRUE(sensor.declare_queryable("home/**"));
}

TEST(DataAccess, SamplesFromANodeThatMayNotPublishAreDropped) {
  // Node 0 holds "reader" but does not check itself; node 1 checks it.
  guarded g({{"reader"}, {"relay"}, {"reader"}}, {0});
  auto& m = g.m;
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("home/**"));
  ASSERT_TRUE(m.engines[2]->declare_subscriber("home/**"));
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("home/kitchen/temp", as_bytes("forged"), "", m.now, ntp));
  m.pump();
  EXPECT_TRUE(g.keys(1).empty());
  EXPECT_TRUE(g.keys(2).empty());
  EXPECT_EQ(m.engines[1]->stats().access_denied_in, 1u);
  EXPECT_EQ(m.engines[1]->stats().samples_forwarded, 0u);
}

TEST(DataAccess, ARelayMayNotInjectSamplesItCouldNotHaveReceived) {
  // Node 1 (unchecked, "blind") claims to relay a sample of sensor node 0 to node 2: the
  // sensor may publish it, but the blind relay could never have been sent it.
  guarded g({{"sensor"}, {"blind"}, {"relay"}}, {1});
  auto& m = g.m;
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[2]->declare_subscriber("home/**"));
  m.pump();
  // What node 1 would send if it forged the sample: a push naming node 0 as the source.
  frame_writer w;
  w.begin();
  ASSERT_TRUE(encode(node_alias{7, m.ids[0].bytes()}, w.body()));
  ASSERT_TRUE(encode(key_alias{3, "home/kitchen/temp"}, w.body()));
  push p;
  p.source = 7;
  p.key = 3;
  p.publisher = 1;
  p.seq = 1;
  p.timestamp = ntp;
  p.payload = as_bytes("forged");
  ASSERT_TRUE(encode(p, w.body()));
  ASSERT_TRUE(w.finish());
  const bytes wire(w.frame().begin(), w.frame().end());
  ASSERT_TRUE(m.engines[2]->on_bytes(m.ids[1], wire, m.now, ntp));
  EXPECT_TRUE(g.keys(2).empty());
  EXPECT_EQ(m.engines[2]->stats().access_denied_in, 1u);
}

TEST(DataAccess, DeclarationsOfANodeOutsideItsRolesAreNotRoutedTo) {
  // Node 2 holds "blind" and, unchecked, declares a subscription anyway: node 0 ignores it.
  guarded g({{"sensor"}, {"relay"}, {"blind"}}, {2});
  auto& m = g.m;
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[2]->declare_subscriber("home/**"));
  m.pump();
  EXPECT_GE(m.engines[0]->stats().declarations_denied, 1u);
  ASSERT_TRUE(m.engines[0]->put("home/kitchen/temp", as_bytes("21"), "", m.now, ntp));
  m.pump();
  EXPECT_TRUE(g.keys(2).empty());
  EXPECT_EQ(m.engines[0]->stats().samples_forwarded, 0u);
}

TEST(DataAccess, ARoleChangeCutsAndRestoresAtOnce) {
  guarded g({{"sensor"}, {"reader"}});
  auto& m = g.m;
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("home/*/temp"));
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("home/a/temp", as_bytes("1"), "", m.now, ntp));
  m.pump();
  EXPECT_EQ(g.keys(1).size(), 1u);

  g.change_roles(1, {"blind"});
  ASSERT_TRUE(m.engines[0]->put("home/a/temp", as_bytes("2"), "", m.now, ntp));
  m.pump();
  EXPECT_EQ(g.keys(1).size(), 1u) << "the subscription lost its right";
  // Suspended, not forgotten: the subscriber's record no longer lists it.
  const node_record* rec = m.engines[0]->routes().find(m.ids[1]);
  ASSERT_NE(rec, nullptr);
  EXPECT_TRUE(rec->decls.empty());

  g.change_roles(1, {"reader"});
  ASSERT_TRUE(m.engines[0]->put("home/a/temp", as_bytes("3"), "", m.now, ntp));
  m.pump();
  // Reliable end to end: sample 2, published while the subscriber had no right, is a gap that
  // it asks to have repaired now that it has the right again (as docs/protocols/data.md says
  // of any gap within the publisher's history).
  EXPECT_EQ(m.payloads(1), (strings{"1", "2", "3"}));
}

TEST(DataAccess, LivelinessTokensReachOnlyThoseWhoMayWatchThem) {
  guarded g({{"sensor"}, {"relay"}, {"reader"}, {"blind"}});
  auto& m = g.m;
  m.link(0, 1);
  m.link(1, 2);
  m.link(1, 3);
  ASSERT_TRUE(m.engines[2]->watch_liveliness("alive/**"));
  ASSERT_TRUE(m.engines[0]->declare_token("alive/sensor"));
  m.pump();
  m.advance(std::chrono::milliseconds(10));
  EXPECT_EQ(m.sinks[2].alive, strings{"+alive/sensor"});
  // The blind node never received the token's key at all.
  const node_record* rec = m.engines[3]->routes().find(m.ids[0]);
  ASSERT_NE(rec, nullptr);
  EXPECT_TRUE(rec->decls.empty());
  EXPECT_TRUE(m.engines[3]->liveliness_tokens("**")->empty());

  // The watcher loses its right: the token leaves for it; it gets it back: it joins again.
  g.change_roles(2, {"blind"});
  EXPECT_EQ(m.sinks[2].alive, (strings{"+alive/sensor", "-alive/sensor"}));
  g.change_roles(2, {"reader"});
  EXPECT_EQ(m.sinks[2].alive, (strings{"+alive/sensor", "-alive/sensor", "+alive/sensor"}));
  // The blind node gains the right: the whole record completes its trimmed copy.
  g.change_roles(3, {"relay"});
  EXPECT_EQ(m.engines[3]->liveliness_tokens("**")->size(), 1u);
}

TEST(DataAccess, RepliesAreFilteredByTheQueriersRights) {
  guarded g({{"reader"}, {"sensor"}});
  auto& m = g.m;
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_queryable("home/**"));
  m.pump();
  auto q = m.engines[0]->get("home/**", {}, m.now);
  ASSERT_TRUE(q);
  m.pump();
  ASSERT_EQ(m.sinks[1].queries.size(), 1u);
  const auto h = m.sinks[1].queries[0].handle;
  ASSERT_TRUE(m.engines[1]->reply(h, "home/kitchen/temp", as_bytes("21"), "", ntp));
  ASSERT_TRUE(m.engines[1]->reply(h, "home/kitchen/door", as_bytes("open"), "", ntp));
  m.engines[1]->reply_final(h);
  m.pump();
  ASSERT_EQ(m.sinks[0].replies.size(), 1u);
  EXPECT_EQ(m.sinks[0].replies[0].first, "home/kitchen/temp");
  ASSERT_EQ(m.sinks[0].done.size(), 1u);
  EXPECT_FALSE(m.sinks[0].done[0].second.timed_out);
  EXPECT_EQ(m.engines[1]->stats().access_denied_out, 1u);
}

TEST(DataAccess, AQueryItsOriginMayNotMakeEndsAtOnceUnanswered) {
  guarded g({{"blind"}, {"sensor"}}, {0});  // node 0 does not check itself
  auto& m = g.m;
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_queryable("home/**"));
  m.pump();
  query_options o;
  o.timeout = std::chrono::seconds(30);
  ASSERT_TRUE(m.engines[0]->get("home/**", o, m.now));
  m.pump();
  EXPECT_TRUE(m.sinks[1].queries.empty());
  EXPECT_EQ(m.engines[1]->stats().access_denied_in, 1u);
  ASSERT_EQ(m.sinks[0].done.size(), 1u);
  EXPECT_FALSE(m.sinks[0].done[0].second.timed_out);
  EXPECT_EQ(m.sinks[0].done[0].second.replies, 0u);
}

TEST(DataAccess, WithoutAGuardEverythingPasses) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("**"));
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("any/key", as_bytes("x"), "", m.now, ntp));
  m.pump();
  EXPECT_EQ(m.sinks[1].samples.size(), 1u);
  EXPECT_EQ(m.engines[1]->stats().access_denied_in, 0u);
}

TEST(DataAccess, AQueryFloodIsCutAtTheRateLimitAndEveryQueryStillEnds) {
  engine_options limited;
  limited.queries_per_second = 10;
  limited.query_burst = 5;
  mesh m(2, {engine_options{}, limited});
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_queryable("cmd/**"));
  m.pump();
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(m.engines[0]->get("cmd/x", {}, m.now));
  m.pump();
  EXPECT_EQ(m.sinks[1].queries.size(), 5u) << "the burst";
  EXPECT_EQ(m.engines[1]->stats().queries_refused, 15u);
  for (const auto& q : m.sinks[1].queries)
    m.engines[1]->reply_final(q.handle);
  m.pump();
  // The refused ones were ended at once, not left to time out.
  EXPECT_EQ(m.sinks[0].done.size(), 20u);
  // A second later, ten more are welcome.
  m.advance(std::chrono::seconds(1));
  ASSERT_TRUE(m.engines[0]->get("cmd/x", {}, m.now));
  m.pump();
  EXPECT_EQ(m.sinks[1].queries.size(), 6u);
}

// Found in review: record echoes, queries across relays, heartbeats after a lost right, local
// replies, and the per-alias decision cache.

// A neighbour that re-sends a node its own record trims the tokens that node may not watch;
// the node takes the trimmed echo for a record about itself that beats its own and bumps.
TEST(DataAccess, AccessChangedDoesNotBumpTheVersionOfATokenHolder) {
  guarded g({{"sensor"}, {"reader"}});  // the sensor may hold alive/** but not watch it
  auto& m = g.m;
  m.link(0, 1);
  ASSERT_TRUE(m.engines[0]->declare_token("alive/s"));
  m.pump();
  const auto before = m.engines[0]->routes().own().version;
  m.engines[1]->access_changed(m.now);  // e.g. any log entry (refresh_access)
  m.pump();
  EXPECT_EQ(m.engines[0]->routes().own().version, before)
      << "the reader echoed the sensor's record without its token and the sensor bumped";
}

// Same, self-sustaining: O - A - N in a triangle whose O-N link is slower than O-A-N. Each
// new version of O reaches N first through A; N floods it on to O (trimmed: O may not watch
// its own token), O bumps again, and so on for ever.
TEST(DataAccess, TrimmedEchoesDoNotMakeARecordStorm) {
  guarded g({{"sensor"}, {"relay"}, {"reader"}});
  auto& m = g.m;
  m.link(0, 1);
  m.link(1, 2);
  m.link(0, 2);
  // Delivers everything but 0 -> 2, which waits until the rest is quiet; at most `rounds`.
  std::vector<bytes> held;
  auto pump_slow = [&](int rounds) {
    for (int n = 0; n < rounds; ++n) {
      bool busy = false;
      for (std::size_t i = 0; i < m.engines.size(); ++i) {
        std::vector<std::pair<std::size_t, bytes>> out;
        m.engines[i]->drain_transmit([&](const peer_id& p, bytes_view b) {
          out.emplace_back(m.index(p), bytes(b.begin(), b.end()));
        });
        for (auto& [to, b] : out) {
          if (i == 0 && to == 2) {
            held.push_back(std::move(b));
            continue;
          }
          busy = true;
          ASSERT_TRUE(m.engines[to]->on_bytes(m.ids[i], b, m.now, ntp));
        }
      }
      if (!busy) {
        if (held.empty()) return;
        for (auto& b : held)
          ASSERT_TRUE(m.engines[2]->on_bytes(m.ids[0], b, m.now, ntp));
        held.clear();
      }
    }
  };
  const auto before = m.engines[0]->routes().own().version;
  ASSERT_TRUE(m.engines[0]->declare_token("alive/s"));
  pump_slow(500);
  EXPECT_LE(m.engines[0]->routes().own().version, before + 2)
      << "every round N echoed O's record trimmed and O bumped again";
  EXPECT_TRUE(held.empty()) << "the mesh never went quiet";
}

// Control for the storm test: the same triangle and delays without guards stays quiet.
TEST(DataAccess, ControlTriangleWithoutGuardsIsQuiet) {
  guarded g({{"sensor"}, {"relay"}, {"reader"}}, {0, 1, 2});
  auto& m = g.m;
  m.link(0, 1);
  m.link(1, 2);
  m.link(0, 2);
  std::vector<bytes> held;
  const auto before = m.engines[0]->routes().own().version;
  ASSERT_TRUE(m.engines[0]->declare_token("alive/s"));
  for (int n = 0; n < 500; ++n) {
    bool busy = false;
    for (std::size_t i = 0; i < m.engines.size(); ++i) {
      std::vector<std::pair<std::size_t, bytes>> out;
      m.engines[i]->drain_transmit([&](const peer_id& p, bytes_view b) {
        out.emplace_back(m.index(p), bytes(b.begin(), b.end()));
      });
      for (auto& [to, b] : out) {
        if (i == 0 && to == 2) {
          held.push_back(std::move(b));
          continue;
        }
        busy = true;
        ASSERT_TRUE(m.engines[to]->on_bytes(m.ids[i], b, m.now, ntp));
      }
    }
    if (!busy) {
      if (held.empty()) break;
      for (auto& b : held)
        ASSERT_TRUE(m.engines[2]->on_bytes(m.ids[0], b, m.now, ntp));
      held.clear();
    }
  }
  EXPECT_LE(m.engines[0]->routes().own().version, before + 2);
  EXPECT_TRUE(held.empty());
}

// A relay that may not query (nor read) anything still carries queries, with their
// parameters and payload, to the queryable behind it.
TEST(DataAccess, ABlindRelayDoesNotCarryQueries) {
  guarded g({{"sensor"}, {"blind"}, {"reader"}});  // 0 - 1 - 2
  auto& m = g.m;
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[0]->declare_queryable("home/**"));
  m.pump();
  query_options o;
  o.parameters = "door_code=1234";
  ASSERT_TRUE(m.engines[2]->get("home/kitchen/temp", o, m.now));
  m.pump();
  EXPECT_TRUE(m.sinks[0].queries.empty())
      << "the query crossed node 1, which may not query home/kitchen/temp; parameters: "
      << (m.sinks[0].queries.empty() ? "" : m.sinks[0].queries[0].parameters);
}

// A reply from a local queryable to a local get is not filtered by this node's query right
// (a remote one on the same key is: RepliesAreFilteredByTheQueriersRights).
TEST(DataAccess, LocalRepliesAreFilteredLikeRemoteOnes) {
  guarded g(std::vector<std::vector<std::string>>{{"sensor", "reader"}});
  auto& m = g.m;
  ASSERT_TRUE(m.engines[0]->declare_queryable("home/**"));
  ASSERT_TRUE(m.engines[0]->get("home/**", {}, m.now));
  m.advance(std::chrono::milliseconds(1));  // local queryables run at the next on_deadline()
  ASSERT_EQ(m.sinks[0].queries.size(), 1u);
  const auto h = m.sinks[0].queries[0].handle;
  ASSERT_TRUE(m.engines[0]->reply(h, "home/kitchen/door", as_bytes("open"), "", ntp));
  EXPECT_TRUE(m.sinks[0].replies.empty()) << "delivered a key this node may not query";
}

// A publisher that lost its put right keeps sending heartbeats, which every receiver
// drops and counts as an access violation (on_violation in the abuse work).
TEST(DataAccess, APublisherThatLostItsRightSendsNoHeartbeats) {
  guarded g({{"sensor"}, {"reader"}});
  auto& m = g.m;
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("home/*/temp"));
  m.pump();
  auto pub = m.engines[0]->declare_publisher("home/kitchen/temp", {});
  ASSERT_TRUE(pub);
  ASSERT_TRUE(m.engines[0]->put(*pub, as_bytes("21"), m.now, ntp));
  m.pump();
  ASSERT_EQ(g.keys(1).size(), 1u);
  g.change_roles(0, {});
  const auto before = m.engines[1]->stats().access_denied_in;
  for (int i = 0; i < 30; ++i)
    m.advance(std::chrono::milliseconds(100));
  EXPECT_EQ(m.engines[1]->stats().access_denied_in, before)
      << "heartbeats of a publisher that may no longer put";
}

namespace {
struct counting_guard final : access_guard {
  access_guard& inner;
  std::size_t key_checks = 0;
  explicit counting_guard(access_guard& g) : inner(g) {}
  bool allows(const peer_id& n, access::operation op, const keyexpr::key& k) override {
    ++key_checks;
    return inner.allows(n, op, k);
  }
  bool allows_expression(const peer_id& n, access::operation op,
                         const keyexpr::keyexpr& x) override {
    return inner.allows_expression(n, op, x);
  }
};
}  // namespace

// Two sources on one key behind one relay: the per-link cache holds one (node, op) per key
// alias, so every sample is a miss (key parsed again, guard asked again).
TEST(DataAccess, TwoSourcesOnOneKeyDoNotAskTheGuardPerSample) {
  guarded g({{"sensor"}, {"sensor"}, {"relay"}, {"reader"}}, {3});
  auto& m = g.m;
  counting_guard cg(*g.guards[3]);
  m.engines[3]->set_access(&cg, m.now);
  m.link(0, 2);
  m.link(1, 2);
  m.link(2, 3);
  ASSERT_TRUE(m.engines[3]->declare_subscriber("home/*/temp"));
  m.pump();
  auto p0 = m.engines[0]->declare_publisher("home/k/temp", {});
  auto p1 = m.engines[1]->declare_publisher("home/k/temp", {});
  ASSERT_TRUE(p0 && p1);
  ASSERT_TRUE(m.engines[0]->put(*p0, as_bytes("a"), m.now, ntp));
  ASSERT_TRUE(m.engines[1]->put(*p1, as_bytes("b"), m.now, ntp));
  m.pump();
  const std::size_t warm = cg.key_checks;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(m.engines[0]->put(*p0, as_bytes("a"), m.now, ntp));
    m.pump();
    ASSERT_TRUE(m.engines[1]->put(*p1, as_bytes("b"), m.now, ntp));
    m.pump();
  }
  EXPECT_EQ(g.keys(3).size(), 202u);
  EXPECT_LE(cg.key_checks - warm, 10u) << "guard asked per sample";
}
