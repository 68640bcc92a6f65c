#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <vector>

#include "core/data/routing.hpp"
#include "core/multiformats/peer_id.hpp"

using namespace starling;
using namespace std::chrono_literals;
using data::declaration;
using data::node_record;
using data::routing_event;
using data::routing_table;
using multiformats::peer_id;
using outcome = routing_table::outcome;

namespace {

const time_point t0 = time_point{} + 1000s;

/// A valid peer id derived from `n` (identity multihash over chosen key bytes; no key
/// generation, so thousands are cheap). Ids are ordered by their bytes, not by `n`.
peer_id id(std::uint64_t n) {
  crypto::ed25519_public pub{};
  for (std::size_t i = 0; i < 8; ++i)
    pub[i] = static_cast<std::uint8_t>(n >> (8 * i));
  pub[31] = 0xa5;
  return peer_id::from_public_key(pub);
}

/// `count` distinct ids in ascending byte order.
std::vector<peer_id> sorted_ids(std::uint64_t first, std::size_t count) {
  std::vector<peer_id> v;
  for (std::size_t i = 0; i < count; ++i)
    v.push_back(id(first + i));
  std::sort(v.begin(), v.end());
  return v;
}

declaration sub(std::string expr) {
  return {declaration::kind::subscriber, 0, std::move(expr)};
}
declaration token(std::string expr) {
  return {declaration::kind::token, 0, std::move(expr)};
}

node_record rec(const peer_id& origin, std::uint64_t version, std::vector<peer_id> links,
                std::vector<declaration> decls = {}) {
  return {origin, version, std::move(links), std::move(decls)};
}

std::vector<routing_event> drain(routing_table& t) {
  std::vector<routing_event> out;
  while (auto e = t.poll_event())
    out.push_back(std::move(*e));
  return out;
}

std::vector<peer_id> targets(const routing_table& t, const peer_id& source,
                             const std::set<peer_id>& interested) {
  std::vector<peer_id> out;
  t.forward_targets(
      source, [&](const node_record& r) { return interested.count(r.origin) > 0; }, out);
  return out;
}

const auto everyone = [](const node_record&) { return true; };

}  // namespace

TEST(data_routing, chain_next_hops_and_reachability) {
  const peer_id a = id(1), b = id(2), c = id(3);
  routing_table t(a, 5000);
  EXPECT_EQ(t.own().origin, a);
  EXPECT_EQ(t.own().version, 5000u);
  EXPECT_TRUE(t.reachable(a));
  EXPECT_FALSE(t.next_hop(a));

  EXPECT_EQ(t.set_links({b}, t0).value(), true);
  EXPECT_EQ(t.own().version, 5001u);
  EXPECT_EQ(t.apply(rec(c, 7, {b}, {sub("x/**")}), t0), outcome::stored);
  EXPECT_FALSE(t.reachable(c));  // B's record is not here yet
  EXPECT_FALSE(t.next_hop(c));
  EXPECT_TRUE(drain(t).empty());

  EXPECT_EQ(t.apply(rec(b, 9, {c, a}), t0), outcome::stored);
  EXPECT_TRUE(t.reachable(b));
  EXPECT_TRUE(t.reachable(c));
  EXPECT_EQ(t.next_hop(b), b);
  EXPECT_EQ(t.next_hop(c), b);
  EXPECT_FALSE(t.next_hop(id(99)));
  EXPECT_EQ(t.find(b)->links, (std::vector<peer_id>{std::min(a, c), std::max(a, c)}));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.next_deadline(), no_deadline);

  auto ev = drain(t);
  ASSERT_EQ(ev.size(), 2u);
  std::sort(ev.begin(), ev.end(), [](auto& x, auto& y) { return x.node < y.node; });
  for (const auto& e : ev)
    EXPECT_EQ(e.k, routing_event::kind::reachable);
  const auto& ec = ev[0].node == c ? ev[0] : ev[1];
  EXPECT_EQ(ec.node, c);
  EXPECT_EQ(ec.added, (std::vector<declaration>{sub("x/**")}));
  EXPECT_TRUE(ec.removed.empty());

  // Full sync for a new link: our record first, then every other.
  auto all = t.records();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]->origin, a);
}

TEST(data_routing, one_sided_link_is_ignored) {
  const peer_id a = id(1), b = id(2);
  routing_table t(a, 1);
  ASSERT_TRUE(t.set_links({b}, t0));
  EXPECT_EQ(t.apply(rec(b, 1, {}), t0), outcome::stored);
  EXPECT_FALSE(t.reachable(b));
  EXPECT_FALSE(t.next_hop(b));
  std::vector<peer_id> out{a};
  t.forward_targets(a, everyone, out);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(drain(t).empty());

  // The other direction alone does not count either.
  routing_table u(a, 1);
  EXPECT_EQ(u.apply(rec(b, 1, {a}), t0), outcome::stored);
  EXPECT_FALSE(u.reachable(b));

  EXPECT_EQ(t.apply(rec(b, 2, {a}), t0), outcome::stored);
  EXPECT_TRUE(t.reachable(b));
  EXPECT_EQ(t.next_hop(b), b);
  t.forward_targets(a, everyone, out);
  EXPECT_EQ(out, std::vector<peer_id>{b});
}

TEST(data_routing, diamond_tie_break_is_the_smallest_id_in_any_insertion_order) {
  // S - m1, S - m2, m1 - D, m2 - D, with m1 < m2: D's parent in S's tree is m1.
  const auto ids = sorted_ids(10, 4);
  const peer_id m1 = ids[0], m2 = ids[1], s = ids[2], d = ids[3];
  const std::vector<node_record> recs = {rec(s, 1, {m1, m2}), rec(m1, 1, {s, d}),
                                         rec(m2, 1, {s, d}), rec(d, 1, {m1, m2}, {sub("k")})};
  auto table_of = [&](const peer_id& self, std::vector<std::size_t> order) {
    routing_table t(self, 100);
    for (const auto& r : recs) {
      if (r.origin == self) {
        EXPECT_TRUE(t.set_links(r.links, t0));
      }
    }
    for (auto i : order) {
      if (recs[i].origin != self) t.apply(recs[i], t0);
    }
    return t;
  };
  for (const auto& order : std::vector<std::vector<std::size_t>>{{0, 1, 2, 3}, {3, 2, 1, 0}}) {
    auto at_m1 = table_of(m1, order);
    auto at_m2 = table_of(m2, order);
    auto at_s = table_of(s, order);
    auto at_d = table_of(d, order);
    EXPECT_EQ(targets(at_s, s, {d}), (std::vector<peer_id>{m1}));
    EXPECT_EQ(targets(at_s, s, {m1, m2, d}), (std::vector<peer_id>{m1, m2}));
    EXPECT_EQ(targets(at_m1, s, {d}), (std::vector<peer_id>{d}));
    EXPECT_TRUE(targets(at_m2, s, {d}).empty());
    EXPECT_TRUE(targets(at_d, s, {d}).empty());
    // Samples from D: S hangs under m1 too.
    EXPECT_EQ(targets(at_d, d, {s}), (std::vector<peer_id>{m1}));
    EXPECT_EQ(targets(at_m1, d, {s}), (std::vector<peer_id>{s}));
    // Unicast from D to S and from S to D go through m1.
    EXPECT_EQ(at_d.next_hop(s), m1);
    EXPECT_EQ(at_s.next_hop(d), m1);
    EXPECT_EQ(at_m2.next_hop(m1), s);  // m2's neighbours at distance 1 from m1: s < d
  }
}

TEST(data_routing, forward_targets_only_towards_interested_subtrees) {
  // R - X - X1, R - Y - Y1 - Y2; every tree is a path, R in the middle.
  const peer_id r = id(1), x = id(2), x1 = id(3), y = id(4), y1 = id(5), y2 = id(6);
  routing_table t(r, 1);
  ASSERT_TRUE(t.set_links({x, y}, t0));
  t.apply(rec(x, 1, {r, x1}), t0);
  t.apply(rec(x1, 1, {x}), t0);
  t.apply(rec(y, 1, {r, y1}), t0);
  t.apply(rec(y1, 1, {y, y2}), t0);
  t.apply(rec(y2, 1, {y1}), t0);
  auto sorted = [](std::vector<peer_id> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(targets(t, r, {y2}), std::vector<peer_id>{y});
  EXPECT_EQ(targets(t, r, {x1, y2}), sorted({x, y}));
  EXPECT_EQ(targets(t, r, {x}), std::vector<peer_id>{x});
  EXPECT_TRUE(targets(t, r, {}).empty());
  EXPECT_TRUE(targets(t, r, {r}).empty());  // we deliver locally; never a target
  // From X1, R relays only towards Y.
  EXPECT_EQ(targets(t, x1, {x, y1}), std::vector<peer_id>{y});
  EXPECT_TRUE(targets(t, x1, {x, x1}).empty());
  // From an unknown or unreachable source: nothing.
  EXPECT_TRUE(targets(t, id(77), {y}).empty());

  // The predicate is asked once per node at most, nearest first, never for self or source.
  std::vector<peer_id> asked, out;
  t.forward_targets(
      x1,
      [&](const node_record& n) {
        asked.push_back(n.origin);
        return false;
      },
      out);
  EXPECT_EQ(asked, (std::vector<peer_id>{y, y1, y2}));
}

TEST(data_routing, a_dying_node_becomes_unreachable_and_expires) {
  const peer_id a = id(1), b = id(2), c = id(3);
  routing_table t(a, 1);
  ASSERT_TRUE(t.set_links({b}, t0));
  t.apply(rec(b, 1, {a, c}), t0);
  t.apply(rec(c, 1, {b}, {token("lv/c"), sub("s/c")}), t0);
  ASSERT_TRUE(t.reachable(c));
  drain(t);
  const auto g = t.generation();

  // C dies: B drops it from its links.
  EXPECT_EQ(t.apply(rec(b, 2, {a}), t0 + 5s), outcome::stored);
  EXPECT_NE(t.generation(), g);
  EXPECT_FALSE(t.reachable(c));
  EXPECT_FALSE(t.next_hop(c));
  EXPECT_TRUE(targets(t, a, {c}).empty());
  EXPECT_TRUE(targets(t, c, {b}).empty());
  auto ev = drain(t);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].k, routing_event::kind::unreachable);
  EXPECT_EQ(ev[0].node, c);
  EXPECT_EQ(ev[0].removed, (std::vector<declaration>{sub("s/c"), token("lv/c")}));
  ASSERT_NE(t.find(c), nullptr);  // kept in case the partition heals

  EXPECT_EQ(t.next_deadline(), t0 + 5s + 60s);
  t.on_deadline(t0 + 64s);
  EXPECT_NE(t.find(c), nullptr);
  t.on_deadline(t0 + 65s);
  EXPECT_EQ(t.find(c), nullptr);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.next_deadline(), no_deadline);
  EXPECT_TRUE(drain(t).empty());

  // B's link goes down at our end: B is gone at once.
  EXPECT_EQ(t.set_links({}, t0 + 70s).value(), true);
  ev = drain(t);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].k, routing_event::kind::unreachable);
  EXPECT_EQ(ev[0].node, b);
  EXPECT_EQ(t.next_deadline(), t0 + 130s);
}

TEST(data_routing, healed_partition_before_expiry_reports_reachable_again) {
  const peer_id a = id(1), b = id(2);
  routing_table t(a, 1);
  ASSERT_TRUE(t.set_links({b}, t0));
  t.apply(rec(b, 1, {a}, {token("t")}), t0);
  ASSERT_EQ(drain(t).size(), 1u);
  ASSERT_TRUE(t.set_links({}, t0 + 1s));
  ASSERT_TRUE(t.set_links({b}, t0 + 2s));
  auto ev = drain(t);
  // Never settled in between: nothing changed as far as the layers above can tell.
  EXPECT_TRUE(ev.empty());
  ASSERT_TRUE(t.set_links({}, t0 + 3s));
  EXPECT_FALSE(t.reachable(b));
  ASSERT_TRUE(t.set_links({b}, t0 + 4s));
  ev = drain(t);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].k, routing_event::kind::unreachable);
  EXPECT_EQ(ev[1].k, routing_event::kind::reachable);
  EXPECT_EQ(ev[1].added, std::vector<declaration>{token("t")});
  EXPECT_EQ(t.next_deadline(), no_deadline);
  t.on_deadline(t0 + 1h);
  EXPECT_NE(t.find(b), nullptr);
}

TEST(data_routing, declaration_changes_are_reported_as_diffs_for_reachable_nodes) {
  const peer_id a = id(1), b = id(2), c = id(3);
  routing_table t(a, 1);
  ASSERT_TRUE(t.set_links({b}, t0));
  t.apply(rec(b, 1, {a}, {token("1"), token("2")}), t0);
  t.apply(rec(c, 1, {}, {token("c")}), t0);  // not reachable
  drain(t);
  auto g = t.generation();
  // Duplicates and order do not matter.
  EXPECT_EQ(t.apply(rec(b, 2, {a}, {token("3"), token("2"), token("3")}), t0), outcome::stored);
  EXPECT_NE(t.generation(), g);
  EXPECT_EQ(t.find(b)->decls, (std::vector<declaration>{token("2"), token("3")}));
  auto ev = drain(t);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].k, routing_event::kind::declarations);
  EXPECT_EQ(ev[0].node, b);
  EXPECT_EQ(ev[0].added, std::vector<declaration>{token("3")});
  EXPECT_EQ(ev[0].removed, std::vector<declaration>{token("1")});

  // Links unchanged, declarations unchanged: stored, but neither an event nor a new generation.
  g = t.generation();
  EXPECT_EQ(t.apply(rec(b, 3, {a}, {token("2"), token("3")}), t0), outcome::stored);
  EXPECT_EQ(t.generation(), g);
  EXPECT_TRUE(drain(t).empty());

  // An unreachable node's changes are not reported.
  EXPECT_EQ(t.apply(rec(c, 2, {}, {token("d")}), t0), outcome::stored);
  EXPECT_TRUE(drain(t).empty());
}

TEST(data_routing, stale_and_equal_versions_are_ignored) {
  const peer_id a = id(1), b = id(2);
  routing_table t(a, 1);
  ASSERT_TRUE(t.set_links({b}, t0));
  EXPECT_EQ(t.apply(rec(b, 5, {a}, {sub("x")}), t0), outcome::stored);
  const auto g = t.generation();
  EXPECT_EQ(t.apply(rec(b, 5, {a}, {sub("x")}), t0), outcome::stale);
  EXPECT_EQ(t.apply(rec(b, 5, {}, {sub("y")}), t0), outcome::stale);
  EXPECT_EQ(t.apply(rec(b, 4, {}, {}), t0), outcome::stale);
  EXPECT_EQ(t.generation(), g);
  EXPECT_EQ(t.find(b)->version, 5u);
  EXPECT_EQ(t.find(b)->decls, std::vector<declaration>{sub("x")});
  EXPECT_TRUE(t.reachable(b));
  EXPECT_EQ(t.apply(rec(b, 6, {}, {}), t0), outcome::stored);
  EXPECT_FALSE(t.reachable(b));
}

TEST(data_routing, records_about_self_are_never_stored_and_bump_our_version) {
  const peer_id a = id(1), b = id(2);
  routing_table t(a, 1000);
  ASSERT_TRUE(t.set_links({b}, t0));
  ASSERT_TRUE(t.set_declarations({sub("mine")}));
  ASSERT_EQ(t.own().version, 1002u);
  const node_record mine = t.own();

  EXPECT_EQ(t.apply(mine, t0), outcome::stale);  // our record echoed back
  EXPECT_EQ(t.apply(rec(a, 999, {}, {}), t0), outcome::stale);
  EXPECT_EQ(t.own().version, 1002u);

  // Same version, other content (an earlier incarnation): we move above it.
  EXPECT_EQ(t.apply(rec(a, 1002, {}, {sub("old")}), t0), outcome::own_bumped);
  EXPECT_EQ(t.own().version, 1003u);
  EXPECT_EQ(t.apply(rec(a, 5000, mine.links, mine.decls), t0), outcome::own_bumped);
  EXPECT_EQ(t.own().version, 5001u);
  EXPECT_EQ(t.own().links, mine.links);
  EXPECT_EQ(t.own().decls, mine.decls);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.find(a), &t.own());
  EXPECT_EQ(t.apply(rec(a, data::max_record_version, {}, {}), t0), outcome::invalid);
}

TEST(data_routing, setters_normalize_bump_once_and_refuse_bad_input) {
  const peer_id a = id(1), b = id(2), c = id(3);
  data::routing_limits lim;
  lim.max_links = 2;
  lim.max_decls = 2;
  routing_table t(a, 10, lim);
  EXPECT_EQ(t.set_links({c, b, c}, t0).value(), true);
  EXPECT_EQ(t.own().links, (std::vector<peer_id>{std::min(b, c), std::max(b, c)}));
  EXPECT_EQ(t.own().version, 11u);
  EXPECT_EQ(t.set_links({b, c}, t0).value(), false);
  EXPECT_EQ(t.own().version, 11u);
  EXPECT_EQ(t.set_links({b, a}, t0).error(), data::routing_errc::invalid_link);
  EXPECT_EQ(t.set_links({b, peer_id{}}, t0).error(), data::routing_errc::invalid_link);
  EXPECT_EQ(t.set_links({b, c, id(4)}, t0).error(), data::routing_errc::too_many_links);

  EXPECT_EQ(t.set_declarations({sub("b"), sub("a"), sub("b")}).value(), true);
  EXPECT_EQ(t.own().decls, (std::vector<declaration>{sub("a"), sub("b")}));
  EXPECT_EQ(t.set_declarations({sub("a"), sub("b")}).value(), false);
  EXPECT_EQ(t.set_declarations({sub("a"), sub("b"), sub("c")}).error(),
            data::routing_errc::too_many_declarations);
  declaration bad{static_cast<declaration::kind>(7), 0, "x"};
  EXPECT_EQ(t.set_declarations({bad}).error(), data::routing_errc::invalid_declaration);
  EXPECT_EQ(t.own().version, 12u);
  EXPECT_EQ(std::error_code(data::routing_errc::too_many_links).category().name(),
            std::string("data.routing"));
}

TEST(data_routing, records_breaking_limits_are_refused) {
  const peer_id a = id(1), b = id(2);
  data::routing_limits lim;
  lim.max_links = 3;
  lim.max_decls = 2;
  routing_table t(a, 1, lim);
  EXPECT_EQ(t.apply(rec(b, 1, {id(3), id(4), id(5), id(6)}), t0), outcome::invalid);
  EXPECT_EQ(t.apply(rec(b, 1, {}, {sub("1"), sub("2"), sub("3")}), t0), outcome::invalid);
  EXPECT_EQ(t.apply(rec(b, 1, {b}), t0), outcome::invalid);  // self-link
  EXPECT_EQ(t.apply(rec(b, 1, {peer_id{}}), t0), outcome::invalid);
  EXPECT_EQ(t.apply(rec(peer_id{}, 1, {}), t0), outcome::invalid);
  EXPECT_EQ(t.apply(rec(b, data::max_record_version + 1, {}), t0), outcome::invalid);
  EXPECT_EQ(t.apply(rec(b, 1, {}, {{static_cast<declaration::kind>(0), 0, "x"}}), t0),
            outcome::invalid);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.apply(rec(b, 1, {id(3), id(4), id(5)}, {sub("1"), sub("2")}), t0), outcome::stored);
}

TEST(data_routing, a_full_table_makes_room_only_from_unreachable_records) {
  const peer_id a = id(1), b = id(2);
  data::routing_limits lim;
  lim.max_records = 3;
  routing_table t(a, 1, lim);
  ASSERT_TRUE(t.set_links({b}, t0));
  EXPECT_EQ(t.apply(rec(b, 1, {a}), t0), outcome::stored);
  EXPECT_EQ(t.apply(rec(id(10), 1, {}), t0 + 1s), outcome::stored);
  EXPECT_EQ(t.apply(rec(id(11), 1, {}), t0 + 2s), outcome::stored);
  EXPECT_EQ(t.apply(rec(id(12), 1, {}), t0 + 3s), outcome::stored);  // evicts id(10)
  EXPECT_EQ(t.find(id(10)), nullptr);
  EXPECT_NE(t.find(id(11)), nullptr);
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.apply(rec(id(11), 2, {}), t0 + 4s), outcome::stored);  // known origin: fine

  // All reachable: a new origin is refused.
  ASSERT_TRUE(t.set_links({b, id(11), id(12)}, t0 + 5s));
  t.apply(rec(id(11), 3, {a}), t0 + 5s);
  t.apply(rec(id(12), 2, {a}), t0 + 5s);
  EXPECT_EQ(t.apply(rec(id(13), 1, {a}), t0 + 6s), outcome::full);
  EXPECT_EQ(t.find(id(13)), nullptr);
  EXPECT_TRUE(t.reachable(b));
}

TEST(data_routing, memory_returns_to_baseline_after_many_joins_and_leaves) {
  const peer_id a = id(1), hub = id(2);
  data::routing_limits lim;
  lim.max_records = 16;
  routing_table t(a, 1, lim);
  ASSERT_TRUE(t.set_links({hub}, t0));
  t.apply(rec(hub, 1, {a}), t0);
  drain(t);
  const std::size_t baseline = t.size();
  time_point now = t0;
  std::uint64_t hub_version = 1;
  for (std::uint64_t k = 0; k < 500; ++k) {
    const peer_id x = id(1000 + k);
    t.apply(rec(x, 1, {hub}, {token("x")}), now);
    t.apply(rec(hub, ++hub_version, {a, x}), now);
    ASSERT_TRUE(t.reachable(x));
    now += 1s;
    t.apply(rec(hub, ++hub_version, {a}), now);
    auto ev = drain(t);
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0].k, routing_event::kind::reachable);
    EXPECT_EQ(ev[1].k, routing_event::kind::unreachable);
    EXPECT_EQ(ev[1].removed, std::vector<declaration>{token("x")});
    ASSERT_LE(t.size(), baseline + 16);
    if (t.next_deadline() <= now) t.on_deadline(now);
  }
  now += 61s;
  ASSERT_LE(t.next_deadline(), now);
  t.on_deadline(now);
  EXPECT_EQ(t.size(), baseline);
  EXPECT_EQ(t.records().size(), baseline);
  EXPECT_EQ(t.next_deadline(), no_deadline);
  EXPECT_EQ(t.next_hop(hub), hub);
}

namespace {

/// A random network: every node's table fed every other node's record in its own order.
struct random_net {
  std::size_t n = 0;
  std::vector<peer_id> ids;
  std::unordered_map<peer_id, std::size_t> index;
  std::vector<std::set<std::size_t>> listed;  ///< what each node's record lists
  std::vector<std::vector<std::size_t>> adj;  ///< mutual links only
  std::vector<bool> interested;
  std::vector<routing_table> tables;
  std::vector<std::vector<std::uint32_t>> dist;  ///< [from][to], UINT32_MAX if unreachable

  random_net(std::uint64_t seed, std::size_t nodes) : n(nodes) {
    std::mt19937_64 rng(seed);
    auto pick = [&](std::size_t below) {
      return std::uniform_int_distribution<std::size_t>(0, below - 1)(rng);
    };
    for (std::size_t i = 0; i < n; ++i) {
      ids.push_back(id(seed * 100000 + i));
      index.emplace(ids[i], i);
    }
    listed.resize(n);
    auto link = [&](std::size_t i, std::size_t j) {
      if (i == j) return;
      listed[i].insert(j);
      listed[j].insert(i);
    };
    for (std::size_t i = 1; i < n; ++i) {
      if (pick(100) < 97) link(i, pick(i));  // a few nodes start another component
    }
    for (std::size_t k = 0; k < n; ++k)
      link(pick(n), pick(n));
    for (std::size_t k = 0; k < n / 8; ++k) {  // one-sided links
      const std::size_t i = pick(n), j = pick(n);
      if (i != j && !listed[j].count(i)) listed[i].insert(j);
    }
    adj.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      for (auto j : listed[i]) {
        if (listed[j].count(i)) adj[i].push_back(j);
      }
      interested.push_back(pick(100) < 30);
    }

    std::vector<node_record> recs;
    for (std::size_t i = 0; i < n; ++i) {
      routing_table t(ids[i], 1000 + i);
      std::vector<peer_id> links;
      for (auto j : listed[i])
        links.push_back(ids[j]);
      EXPECT_TRUE(t.set_links(links, t0).has_value());
      if (interested[i]) {
        EXPECT_TRUE(t.set_declarations({sub("demo/**")}).has_value());
      }
      recs.push_back(t.own());
      tables.push_back(std::move(t));
    }
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::size_t> order(n);
      for (std::size_t k = 0; k < n; ++k)
        order[k] = k;
      std::shuffle(order.begin(), order.end(), rng);
      for (auto k : order) {
        if (k != i) {
          EXPECT_EQ(tables[i].apply(recs[k], t0), outcome::stored);
        }
      }
    }
    for (std::size_t s = 0; s < n; ++s)
      dist.push_back(bfs(s));
  }

  std::vector<std::uint32_t> bfs(std::size_t s) const {
    std::vector<std::uint32_t> d(n, UINT32_MAX);
    std::vector<std::size_t> q{s};
    d[s] = 0;
    for (std::size_t k = 0; k < q.size(); ++k) {
      for (auto v : adj[q[k]]) {
        if (d[v] == UINT32_MAX) {
          d[v] = d[q[k]] + 1;
          q.push_back(v);
        }
      }
    }
    return d;
  }

  bool linked(std::size_t i, std::size_t j) const {
    return std::find(adj[i].begin(), adj[i].end(), j) != adj[i].end();
  }
};

void check_flooding(const random_net& net) {
  const auto pred = [](const node_record& r) { return !r.decls.empty(); };
  std::vector<peer_id> out;
  for (std::size_t s = 0; s < net.n; ++s) {
    std::vector<int> received(net.n, 0);
    std::vector<bool> forwarded(net.n, false);
    std::vector<std::size_t> queue{s};
    received[s] = 1;
    for (std::size_t k = 0; k < queue.size(); ++k) {
      const std::size_t v = queue[k];
      net.tables[v].forward_targets(net.ids[s], pred, out);
      forwarded[v] = !out.empty();
      for (const auto& p : out) {
        const std::size_t w = net.index.at(p);
        ASSERT_TRUE(net.linked(v, w)) << "sent over a link that is not mutual";
        ASSERT_EQ(net.dist[s][w], net.dist[s][v] + 1) << "not a shortest-path tree edge";
        ASSERT_EQ(++received[w], 1) << "duplicate at node " << w << " from source " << s;
        queue.push_back(w);
      }
    }
    for (std::size_t v = 0; v < net.n; ++v) {
      if (v == s) continue;
      const bool reach = net.dist[s][v] != UINT32_MAX;
      if (net.interested[v] && reach) {
        EXPECT_EQ(received[v], 1) << "missed " << v << " from " << s;
      }
      if (received[v]) {
        EXPECT_TRUE(net.interested[v] || forwarded[v]) << "useless branch to " << v;
      }
    }
  }
}

void check_unicast(const random_net& net) {
  for (std::size_t s = 0; s < net.n; ++s) {
    for (std::size_t d = 0; d < net.n; ++d) {
      EXPECT_EQ(net.tables[s].reachable(net.ids[d]), net.dist[s][d] != UINT32_MAX);
      if (s == d || net.dist[s][d] == UINT32_MAX) {
        EXPECT_FALSE(net.tables[s].next_hop(net.ids[d]));
        continue;
      }
      std::size_t cur = s;
      std::uint32_t hops = 0;
      while (cur != d) {
        auto nh = net.tables[cur].next_hop(net.ids[d]);
        ASSERT_TRUE(nh);
        const std::size_t w = net.index.at(*nh);
        ASSERT_TRUE(net.linked(cur, w));
        // The doc's rule: our parent in d's tree, the smallest id one hop nearer to d.
        std::optional<std::size_t> parent;
        for (auto u : net.adj[cur]) {
          if (net.dist[d][u] + 1 == net.dist[d][cur] && (!parent || net.ids[u] < net.ids[*parent]))
            parent = u;
        }
        ASSERT_EQ(w, parent);
        cur = w;
        ASSERT_LE(++hops, net.n);
      }
      EXPECT_EQ(hops, net.dist[s][d]);
    }
  }
}

}  // namespace

TEST(data_routing, random_graphs_flood_exactly_once_and_unicast_on_shortest_paths) {
  for (auto [seed, nodes] : {std::pair<std::uint64_t, std::size_t>{1, 50}, {2, 120}, {3, 200}}) {
    SCOPED_TRACE(seed);
    random_net net(seed, nodes);
    check_flooding(net);
    check_unicast(net);

    // Another table for node 0 fed in reverse order computes the same children for every
    // source, and so does every table after its tree cache has been churned.
    routing_table again(net.ids[0], 1000);
    std::vector<peer_id> links;
    for (auto j : net.listed[0])
      links.push_back(net.ids[j]);
    ASSERT_TRUE(again.set_links(links, t0));
    if (net.interested[0]) {
      ASSERT_TRUE(again.set_declarations({sub("demo/**")}));
    }
    for (std::size_t k = net.n; k-- > 1;)
      again.apply(*net.tables[k].find(net.ids[k]), t0);
    std::vector<peer_id> x, y;
    for (std::size_t s = 0; s < net.n; ++s) {
      again.forward_targets(net.ids[s], everyone, x);
      net.tables[0].forward_targets(net.ids[s], everyone, y);
      EXPECT_EQ(x, y);
    }
  }
}
