// The data engine with its links wired back to back in memory: samples cross one and two
// hops to matching subscribers only, local subscribers get local puts, and bad input from a
// neighbour is refused with its reason.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "core/data/engine.hpp"
#include "data_mesh.hpp"

using namespace starling;
using namespace starling::data;
using namespace starling::data::test_mesh;

TEST(DataEngine, SamplesCrossTwoHopsToMatchingSubscribersOnly) {
  mesh m(3);  // 0 - 1 - 2
  m.link(0, 1);
  m.link(1, 2);
  auto s2 = m.engines[2]->declare_subscriber("home/*/temp");
  auto s2b = m.engines[2]->declare_subscriber("home/**");
  auto s1 = m.engines[1]->declare_subscriber("office/**");
  ASSERT_TRUE(s2 && s2b && s1);
  m.pump();
  EXPECT_TRUE(m.engines[0]->routes().reachable(m.ids[2]));
  EXPECT_EQ(m.engines[0]->routes().next_hop(m.ids[2]), m.ids[1]);

  ASSERT_TRUE(m.engines[0]->put("home/kitchen/temp", as_bytes("21.5"), "text/plain", m.now, ntp));
  ASSERT_TRUE(m.engines[0]->put("home/kitchen/light", as_bytes("on"), "", m.now, ntp));
  m.pump();
  ASSERT_EQ(m.sinks[2].samples.size(), 3u);
  EXPECT_EQ(m.sinks[2].samples[0].key, "home/kitchen/temp");
  EXPECT_EQ(m.sinks[2].samples[0].payload, "21.5");
  EXPECT_EQ(m.sinks[2].samples[0].encoding, "text/plain");
  EXPECT_EQ(m.sinks[2].samples[2].key, "home/kitchen/light");
  EXPECT_TRUE(m.sinks[1].samples.empty());  // the relay's own subscription does not match
  EXPECT_EQ(m.engines[1]->stats().samples_forwarded, 2u);
  EXPECT_EQ(m.engines[0]->stats().samples_forwarded, 2u);

  // Nobody subscribes to office/**-matching keys but node 1: node 2 is not sent them.
  ASSERT_TRUE(m.engines[0]->put("office/door", as_bytes("open"), "", m.now, ntp));
  m.pump();
  ASSERT_EQ(m.sinks[1].samples.size(), 1u);
  EXPECT_EQ(m.engines[1]->stats().samples_forwarded, 2u);
  EXPECT_EQ(m.sinks[2].samples.size(), 3u);

  // After undeclaring, the samples stop at the source.
  m.engines[2]->undeclare_subscriber(*s2);
  m.engines[2]->undeclare_subscriber(*s2b);
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("home/kitchen/temp", as_bytes("22"), "", m.now, ntp));
  m.pump();
  EXPECT_EQ(m.sinks[2].samples.size(), 3u);
  EXPECT_EQ(m.engines[0]->stats().samples_forwarded, 3u);
}

TEST(DataEngine, LocalSubscribersGetLocalPutsAndDeletes) {
  mesh m(1);
  auto s = m.engines[0]->declare_subscriber("a/**");
  ASSERT_TRUE(s);
  ASSERT_TRUE(m.engines[0]->put("a/b", as_bytes("1"), "", m.now, ntp));
  ASSERT_TRUE(m.engines[0]->put("a/b", {}, "", m.now, ntp, true));
  ASSERT_EQ(m.sinks[0].samples.size(), 2u);
  EXPECT_FALSE(m.sinks[0].samples[0].del);
  EXPECT_TRUE(m.sinks[0].samples[1].del);
  EXPECT_EQ(m.sinks[0].samples[1].seq, 2u);
}

TEST(DataEngine, BadLocalInputIsRefusedWithAReason) {
  mesh m(1);
  auto& e = *m.engines[0];
  auto bad = e.declare_subscriber("home//temp");
  ASSERT_FALSE(bad);
  auto wild = e.put("home/*/temp", as_bytes("x"), "", time_point{}, ntp);
  ASSERT_FALSE(wild);
  EXPECT_EQ(wild.error(), make_error_code(engine_errc::not_a_key));
  EXPECT_EQ(e.put(99, as_bytes("x"), time_point{}, ntp).error(),
            make_error_code(engine_errc::unknown_publisher));
  const bytes big(max_payload + 1, 1);
  EXPECT_EQ(e.put("a", big, "", time_point{}, ntp).error(),
            make_error_code(errc::payload_too_large));
}

TEST(DataEngine, BadNeighbourInputIsRefused) {
  mesh m(2);
  m.engines[0]->link_up(m.ids[1], m.now);
  // Not starting with hello.
  frame_writer w;
  w.begin();
  ASSERT_TRUE(encode(heartbeat{0, 1, 1, 1}, w.body()));
  ASSERT_TRUE(w.finish());
  auto r = m.engines[0]->on_bytes(m.ids[1], w.frame(), m.now, ntp);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(engine_errc::no_hello));

  // A hello that names another node.
  m.engines[0]->link_up(m.ids[1], m.now);  // reset
  w.begin();
  ASSERT_TRUE(encode(hello{1, m.ids[0].bytes(), 0, max_frame}, w.body()));
  ASSERT_TRUE(w.finish());
  r = m.engines[0]->on_bytes(m.ids[1], w.frame(), m.now, ntp);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(engine_errc::bad_hello));

  // A push that uses a key alias never declared.
  m.engines[0]->link_up(m.ids[1], m.now);
  w.begin();
  ASSERT_TRUE(encode(hello{1, m.ids[1].bytes(), 0, max_frame}, w.body()));
  push p;
  p.key = 5;
  ASSERT_TRUE(encode(p, w.body()));
  ASSERT_TRUE(w.finish());
  r = m.engines[0]->on_bytes(m.ids[1], w.frame(), m.now, ntp);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(engine_errc::unknown_alias));

  // A key alias that is not a valid key.
  m.engines[0]->link_up(m.ids[1], m.now);
  w.begin();
  ASSERT_TRUE(encode(hello{1, m.ids[1].bytes(), 0, max_frame}, w.body()));
  ASSERT_TRUE(encode(key_alias{1, "a//b"}, w.body()));
  ASSERT_TRUE(w.finish());
  r = m.engines[0]->on_bytes(m.ids[1], w.frame(), m.now, ntp);
  ASSERT_FALSE(r);
  EXPECT_GE(m.engines[0]->stats().protocol_errors, 4u);
  // Unknown peer.
  EXPECT_EQ(m.engines[0]->on_bytes(make_id(77), w.frame(), m.now, ntp).error(),
            make_error_code(engine_errc::unknown_link));
}

TEST(DataEngine, SamplesStampedTooFarAheadAreRefused) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("**"));
  m.pump();
  // Node 0's clock is 10 s ahead of node 1's.
  ASSERT_TRUE(m.engines[0]->put("a", as_bytes("x"), "", m.now, ntp + (std::uint64_t{10} << 32)));
  m.pump();
  EXPECT_TRUE(m.sinks[1].samples.empty());
  EXPECT_EQ(m.engines[1]->stats().clock_refused, 1u);
}

// A sample lost on the way (its relay died) is noticed by the next one, asked for again from
// the source's history and delivered in order.
TEST(DataEngine, GapIsRepairedFromTheSourceAndDeliveredInOrder) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("a/**"));
  m.pump();
  auto& src = *m.engines[0];
  ASSERT_TRUE(src.put("a/x", as_bytes("1"), "", m.now, ntp));
  m.pump();
  ASSERT_TRUE(src.put("a/x", as_bytes("2"), "", m.now, ntp));
  m.drop_output(0);
  ASSERT_TRUE(src.put("a/x", as_bytes("3"), "", m.now, ntp));
  ASSERT_TRUE(src.put("a/x", as_bytes("4"), "", m.now, ntp));
  m.pump();
  EXPECT_EQ(m.payloads(1), (std::vector<std::string>{"1", "2", "3", "4"}));
  const auto& st = m.engines[1]->stats();
  EXPECT_EQ(st.gaps, 1u);
  EXPECT_EQ(st.nacks_sent, 1u);
  EXPECT_EQ(st.samples_repaired, 1u);
  EXPECT_EQ(st.samples_lost, 0u);
  EXPECT_EQ(src.stats().repairs_sent, 1u);
  EXPECT_EQ(m.engines[1]->held_samples(), 0u);
}

// A lost last sample has no successor to reveal it: the source's heartbeat does.
TEST(DataEngine, HeartbeatRevealsALostLastSample) {
  mesh m(3);  // 0 - 1 - 2: the heartbeat and the repair cross a relay
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[2]->declare_subscriber("a/x"));
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("a/x", as_bytes("1"), "", m.now, ntp));
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("a/x", as_bytes("2"), "", m.now, ntp));
  m.drop_output(0);
  EXPECT_EQ(m.payloads(2), (std::vector<std::string>{"1"}));
  m.advance(std::chrono::milliseconds(20));
  EXPECT_EQ(m.payloads(2), (std::vector<std::string>{"1", "2"}));
  EXPECT_GE(m.engines[0]->stats().heartbeats_sent, 1u);
  EXPECT_EQ(m.engines[2]->stats().samples_repaired, 1u);
  // Later heartbeats change nothing, and then the timers stop.
  m.advance(std::chrono::seconds(2));
  EXPECT_EQ(m.payloads(2).size(), 2u);
  EXPECT_EQ(m.engines[0]->stats().heartbeats_sent, 3u);
}

// A gap nobody can fill (every request is lost here) is given up after the tries, counted,
// and what was held is delivered in order.
TEST(DataEngine, UnrepairableGapIsSkippedAndCounted) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("a/x"));
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("a/x", as_bytes("1"), "", m.now, ntp));
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("a/x", as_bytes("2"), "", m.now, ntp));
  m.drop_output(0);
  ASSERT_TRUE(m.engines[0]->put("a/x", as_bytes("3"), "", m.now, ntp));
  // Deliver 3 to node 1 but lose its nacks.
  std::vector<bytes> frames;
  m.engines[0]->drain_transmit(
      [&](const peer_id&, bytes_view b) { frames.emplace_back(b.begin(), b.end()); });
  for (const auto& f : frames)
    ASSERT_TRUE(m.engines[1]->on_bytes(m.ids[0], f, m.now, ntp));
  EXPECT_EQ(m.payloads(1), (std::vector<std::string>{"1"}));
  EXPECT_EQ(m.engines[1]->held_samples(), 1u);
  for (int i = 0; i < 10 && m.engines[1]->held_samples() > 0; ++i) {
    m.drop_output(1);
    m.now = m.engines[1]->next_deadline();
    m.engines[1]->on_deadline(m.now);
  }
  EXPECT_EQ(m.payloads(1), (std::vector<std::string>{"1", "3"}));
  EXPECT_EQ(m.engines[1]->stats().samples_lost, 1u);
  EXPECT_EQ(m.engines[1]->stats().nacks_sent, 5u);
  EXPECT_EQ(m.engines[1]->held_samples(), 0u);
}

// A restarted source numbers its publishers from 1 again: its samples are not mistaken for
// old duplicates (their stamps are newer).
TEST(DataEngine, RestartedSourceIsNotTakenForDuplicates) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("a/x"));
  m.pump();
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(m.engines[0]->put("a/x", as_bytes("old"), "", m.now, ntp + i));
  m.pump();
  m.engines[1]->link_down(m.ids[0], m.now);
  m.engines[0] = std::make_unique<engine>(m.ids[0], 1000, m.sinks[0]);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[0]->put("a/x", as_bytes("new"), "", m.now, ntp + 100));
  m.pump();
  ASSERT_EQ(m.sinks[1].samples.size(), 6u);
  EXPECT_EQ(m.sinks[1].samples[5].payload, "new");
  EXPECT_EQ(m.sinks[1].samples[5].seq, 1u);
}

// Queries go to the nodes whose queryables match, across a relay; replies and the end come
// back; a reply must match the selector.
TEST(DataEngine, QueriesReachMatchingQueryablesAndEnd) {
  mesh m(3);  // 0 - 1 - 2
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[2]->declare_queryable("cmd/**"));
  ASSERT_TRUE(m.engines[1]->declare_queryable("cmd/blinds", true));
  ASSERT_TRUE(m.engines[1]->declare_queryable("status/**"));
  m.pump();
  query_options o;
  o.parameters = "level=3";
  auto qid = m.engines[0]->get("cmd/blinds", o, m.now);
  ASSERT_TRUE(qid);
  m.pump();
  ASSERT_EQ(m.sinks[1].queries.size(), 1u);
  ASSERT_EQ(m.sinks[2].queries.size(), 1u);
  EXPECT_EQ(m.sinks[2].queries[0].selector, "cmd/blinds");
  EXPECT_EQ(m.sinks[2].queries[0].parameters, "level=3");
  auto h2 = m.sinks[2].queries[0].handle;
  EXPECT_EQ(m.engines[2]->reply(h2, "other/x", as_bytes("no"), "", ntp).error(),
            make_error_code(engine_errc::reply_key_mismatch));
  ASSERT_TRUE(m.engines[2]->reply(h2, "cmd/blinds", as_bytes("closed"), "text/plain", ntp));
  m.engines[2]->reply_final(h2);
  m.pump();
  EXPECT_EQ(m.sinks[0].replies.size(), 1u);
  EXPECT_TRUE(m.sinks[0].done.empty());  // node 1 has not finished
  auto h1 = m.sinks[1].queries[0].handle;
  ASSERT_TRUE(m.engines[1]->reply(h1, "cmd/blinds", as_bytes("ok"), "", ntp));
  m.engines[1]->reply_final(h1);
  m.pump();
  ASSERT_EQ(m.sinks[0].done.size(), 1u);
  EXPECT_EQ(m.sinks[0].done[0].first, *qid);
  EXPECT_EQ(m.sinks[0].done[0].second.replies, 2u);
  EXPECT_EQ(m.sinks[0].done[0].second.nodes_asked, 2u);
  EXPECT_EQ(m.sinks[0].done[0].second.nodes_answered, 2u);
  EXPECT_FALSE(m.sinks[0].done[0].second.timed_out);
  // The query is over: late answers are refused.
  EXPECT_EQ(m.engines[1]->reply(h1, "cmd/blinds", as_bytes("late"), "", ntp).error(),
            make_error_code(engine_errc::unknown_query));
}

// Targets: best asks the nearest node only, all_complete only complete queryables that cover
// the selector.
TEST(DataEngine, QueryTargetsPickNodes) {
  mesh m(3);
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[2]->declare_queryable("cmd/**", true));
  ASSERT_TRUE(m.engines[1]->declare_queryable("cmd/blinds"));
  m.pump();
  query_options best;
  best.target = query_target::best;
  ASSERT_TRUE(m.engines[0]->get("cmd/blinds", best, m.now));
  m.pump();
  EXPECT_EQ(m.sinks[1].queries.size(), 1u);
  EXPECT_EQ(m.sinks[2].queries.size(), 0u);
  query_options complete;
  complete.target = query_target::all_complete;
  ASSERT_TRUE(m.engines[0]->get("cmd/blinds", complete, m.now));
  m.pump();
  EXPECT_EQ(m.sinks[1].queries.size(), 1u);
  EXPECT_EQ(m.sinks[2].queries.size(), 1u);
}

// A node that goes away ends the wait for it at once; nobody matching ends a query at the
// next timer; a queryable that never finishes ends it at the timeout.
TEST(DataEngine, QueriesNeverWaitForGoneNodesAndTimeOut) {
  mesh m(3);
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[2]->declare_queryable("cmd/**"));
  ASSERT_TRUE(m.engines[1]->declare_queryable("slow/**"));
  m.pump();
  auto q1 = m.engines[0]->get("cmd/x", {}, m.now);
  ASSERT_TRUE(q1);
  m.pump();
  ASSERT_EQ(m.sinks[2].queries.size(), 1u);
  m.engines[1]->link_down(m.ids[2], m.now);
  m.engines[2]->link_down(m.ids[1], m.now);
  m.pump();
  ASSERT_EQ(m.sinks[0].done.size(), 1u);
  EXPECT_EQ(m.sinks[0].done[0].second.nodes_gone, 1u);
  EXPECT_FALSE(m.sinks[0].done[0].second.timed_out);

  auto q2 = m.engines[0]->get("nothing/here", {}, m.now);
  ASSERT_TRUE(q2);
  m.pump();
  EXPECT_EQ(m.sinks[0].done.size(), 1u);  // not from inside get()
  m.advance(clock_duration{0});
  ASSERT_EQ(m.sinks[0].done.size(), 2u);
  EXPECT_EQ(m.sinks[0].done[1].first, *q2);
  EXPECT_EQ(m.sinks[0].done[1].second.nodes_asked, 0u);

  query_options o;
  o.timeout = std::chrono::seconds(2);
  auto q3 = m.engines[0]->get("slow/x", o, m.now);
  ASSERT_TRUE(q3);
  m.pump();
  ASSERT_EQ(m.sinks[1].queries.size(), 1u);
  m.advance(std::chrono::seconds(1));
  EXPECT_EQ(m.sinks[0].done.size(), 2u);
  m.advance(std::chrono::seconds(1));
  ASSERT_EQ(m.sinks[0].done.size(), 3u);
  EXPECT_TRUE(m.sinks[0].done[2].second.timed_out);
  EXPECT_EQ(m.engines[0]->stats().queries_timed_out, 1u);
}

// Our own queryables answer our queries too; consolidation keeps the latest reply per key.
TEST(DataEngine, LocalQueryableAndLatestConsolidation) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[0]->declare_queryable("state/**"));
  ASSERT_TRUE(m.engines[1]->declare_queryable("state/**"));
  m.pump();
  query_options o;
  o.consolidate = consolidation::latest;
  auto qid = m.engines[0]->get("state/**", o, m.now);
  ASSERT_TRUE(qid);
  m.advance(clock_duration{0});
  ASSERT_EQ(m.sinks[0].queries.size(), 1u);
  ASSERT_EQ(m.sinks[1].queries.size(), 1u);
  auto h0 = m.sinks[0].queries[0].handle, h1 = m.sinks[1].queries[0].handle;
  ASSERT_TRUE(m.engines[0]->reply(h0, "state/door", as_bytes("old"), "", ntp));
  ASSERT_TRUE(m.engines[1]->reply(h1, "state/door", as_bytes("new"), "", ntp + (1u << 20)));
  ASSERT_TRUE(m.engines[1]->reply(h1, "state/light", as_bytes("on"), "", ntp));
  m.engines[0]->reply_final(h0);
  m.engines[1]->reply_final(h1);
  m.pump();
  ASSERT_EQ(m.sinks[0].done.size(), 1u);
  EXPECT_EQ(m.sinks[0].replies, (std::vector<std::pair<std::string, std::string>>{
                                    {"state/door", "new"}, {"state/light", "on"}}));
  EXPECT_EQ(m.sinks[0].done[0].second.replies, 2u);
}

// Liveliness: a watcher sees tokens appear and go, also when their node becomes
// unreachable, and the current ones when it starts watching.
TEST(DataEngine, LivelinessTokensAppearAndGo) {
  mesh m(3);
  m.link(0, 1);
  m.link(1, 2);
  auto t = m.engines[2]->declare_token("alive/sensor");
  ASSERT_TRUE(t);
  ASSERT_TRUE(m.engines[0]->declare_token("alive/gateway"));
  m.pump();
  EXPECT_FALSE(m.engines[0]->declare_token("alive/*"));
  ASSERT_TRUE(m.engines[0]->watch_liveliness("alive/**"));
  EXPECT_EQ(m.sinks[0].alive, (std::vector<std::string>{"+alive/gateway", "+alive/sensor"}));
  auto now = m.engines[1]->liveliness_tokens("alive/sensor");
  ASSERT_TRUE(now);
  ASSERT_EQ(now->size(), 1u);
  EXPECT_EQ((*now)[0].first, "alive/sensor");
  EXPECT_EQ((*now)[0].second, m.ids[2]);
  m.engines[2]->undeclare_token(*t);
  m.pump();
  EXPECT_EQ(m.sinks[0].alive.back(), "-alive/sensor");
  ASSERT_TRUE(m.engines[2]->declare_token("alive/sensor"));
  m.pump();
  EXPECT_EQ(m.sinks[0].alive.back(), "+alive/sensor");
  // Node 2 is cut off: its token goes with it.
  m.engines[1]->link_down(m.ids[2], m.now);
  m.pump();
  EXPECT_EQ(m.sinks[0].alive.back(), "-alive/sensor");
  EXPECT_EQ(m.sinks[0].alive.size(), 5u);
}

namespace {

/// Moves node `from`'s output to `to` with `room` bytes of room for samples per drain.
void drain_to(mesh& m, std::size_t from, std::size_t to, std::size_t room) {
  std::vector<bytes> frames;
  m.engines[from]->drain_transmit(
      [&](const peer_id&, bytes_view b) { frames.emplace_back(b.begin(), b.end()); },
      [&](const peer_id&) { return room; });
  for (const auto& f : frames)
    ASSERT_TRUE(m.engines[to]->on_bytes(m.ids[from], f, m.now, ntp));
}

}  // namespace

// A link with no room for samples still carries protocol messages (a new declaration), and
// when room comes, higher priorities go first: a control sample overtakes queued bulk data.
TEST(DataEngine, ControlOvertakesQueuedData) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("**"));
  m.pump();
  auto& src = *m.engines[0];
  publisher_options bulk, urgent;
  bulk.prio = priority::background;
  urgent.prio = priority::control;
  auto b = src.declare_publisher("bulk/data", bulk);
  auto d = src.declare_publisher("plain/data");
  auto u = src.declare_publisher("urgent/stop", urgent);
  ASSERT_TRUE(b && d && u);
  const bytes kib(1024, 7);
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(src.put(*b, kib, m.now, ntp));
    ASSERT_TRUE(src.put(*d, kib, m.now, ntp));
  }
  drain_to(m, 0, 1, 0);  // saturated: no sample goes
  EXPECT_TRUE(m.sinks[1].samples.empty());
  EXPECT_TRUE(src.has_output());
  // A declaration crosses the saturated link at once.
  ASSERT_TRUE(src.declare_subscriber("replies/**"));
  drain_to(m, 0, 1, 0);
  const auto* rec = m.engines[1]->routes().find(m.ids[0]);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->decls.size(), 1u);
  EXPECT_TRUE(m.sinks[1].samples.empty());
  // The control sample is queued last and arrives first.
  ASSERT_TRUE(src.put(*u, as_bytes("stop"), m.now, ntp));
  drain_to(m, 0, 1, SIZE_MAX);
  ASSERT_EQ(m.sinks[1].samples.size(), 101u);
  EXPECT_EQ(m.sinks[1].samples[0].key, "urgent/stop");
  EXPECT_EQ(m.sinks[1].samples[1].key, "plain/data");
  EXPECT_EQ(m.sinks[1].samples[50].key, "plain/data");
  EXPECT_EQ(m.sinks[1].samples[51].key, "bulk/data");
  EXPECT_FALSE(src.has_output());
}

// A congested link (its queue past the bound) refuses a blocking publisher's put, before the
// sample is numbered, and drops a dropping publisher's samples for that link, counted.
TEST(DataEngine, CongestionBlocksOrDrops) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("**"));
  m.pump();
  auto& src = *m.engines[0];
  publisher_options dropping;
  dropping.congestion = congestion_control::drop;
  auto blk = src.declare_publisher("a/block");
  auto drp = src.declare_publisher("a/drop", dropping);
  ASSERT_TRUE(blk && drp);
  bytes big(64 * 1024);  // incompressible: the backlog counts bytes as they will be sent
  std::mt19937_64 rng(3);
  for (auto& b : big)
    b = static_cast<std::uint8_t>(rng());
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) {
    auto r = src.put(*blk, big, m.now, ntp);
    if (!r) {
      EXPECT_EQ(r.error(), make_error_code(engine_errc::would_block));
      break;
    }
    ++accepted;
    drain_to(m, 0, 1, 0);
  }
  EXPECT_GE(accepted, 100);  // about 8 MiB
  EXPECT_LT(accepted, 200);
  EXPECT_EQ(src.stats().puts_blocked, 1u);
  ASSERT_TRUE(src.put(*drp, big, m.now, ntp));
  EXPECT_EQ(src.stats().congestion_dropped, 1u);
  // Room again: everything queued arrives, in order, nothing lost of the blocking publisher.
  for (int i = 0; i < 1000 && src.has_output(); ++i)
    drain_to(m, 0, 1, 1024 * 1024);
  EXPECT_EQ(m.sinks[1].samples.size(), static_cast<std::size_t>(accepted));
  EXPECT_EQ(m.sinks[1].samples.back().seq, static_cast<std::uint64_t>(accepted));
  ASSERT_TRUE(src.put(*blk, big, m.now, ntp));
}

// More distinct keys than a link has aliases: aliases are reused (the new meaning declared
// first), and every sample arrives on its own key.
TEST(DataEngine, KeyAliasesAreReusedPastTheTable) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("k/**"));
  m.pump();
  const int n = static_cast<int>(max_alias) + 1000;
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(
        m.engines[0]->put("k/" + std::to_string(i), as_bytes(std::to_string(i)), "", m.now, ntp));
    if (i % 100 == 99) m.pump();
  }
  m.pump();
  ASSERT_EQ(m.sinks[1].samples.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(m.sinks[1].samples[static_cast<std::size_t>(i)].key, "k/" + std::to_string(i));
    EXPECT_EQ(m.sinks[1].samples[static_cast<std::size_t>(i)].payload, std::to_string(i));
  }
  EXPECT_GE(m.engines[0]->stats().aliases_reused, 1000u);
  EXPECT_EQ(m.engines[0]->stats().alias_exhausted, 0u);
}

// An implicit publisher (a put on a key without a declared publisher) is collected once idle;
// the key put again gets a new publisher number, which the subscriber takes as a new stream
// starting at 1: delivered in order, not as a duplicate, no loss, and still repairable.
TEST(DataEngine, IdleImplicitPublishersAreCollectedAndComeBack) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("k/**"));
  m.pump();
  auto& src = *m.engines[0];
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(
        src.put("k/" + std::to_string(i), as_bytes("v" + std::to_string(i)), "", m.now, ntp));
  m.pump();
  EXPECT_EQ(src.usage().implicit_publishers, 1000u);
  EXPECT_GT(src.usage().implicit_history_bytes, 0u);
  m.advance(implicit_idle - std::chrono::seconds(1));
  EXPECT_EQ(src.usage().implicit_publishers, 1000u);  // not idle long enough yet
  m.advance(std::chrono::seconds(1));
  EXPECT_EQ(src.usage().implicit_publishers, 0u);
  EXPECT_EQ(src.usage().publishers, 0u);
  EXPECT_EQ(src.usage().implicit_history_bytes, 0u);
  EXPECT_EQ(src.usage().history_bytes, 0u);
  EXPECT_EQ(src.usage().heartbeat_timers, 0u);
  EXPECT_EQ(src.stats().implicit_collected, 1000u);
  EXPECT_EQ(src.stats().implicit_evicted, 0u);
  EXPECT_EQ(src.next_deadline(), no_deadline);

  const std::uint64_t old_pub = m.sinks[1].samples[5].publisher;
  ASSERT_TRUE(src.put("k/5", as_bytes("again1"), "", m.now, ntp + 1));
  m.pump();
  // The second sample of the new publisher is lost on the way: the gap is repaired.
  ASSERT_TRUE(src.put("k/5", as_bytes("again2"), "", m.now, ntp + 2));
  m.drop_output(0);
  ASSERT_TRUE(src.put("k/5", as_bytes("again3"), "", m.now, ntp + 3));
  m.pump();
  m.advance(std::chrono::seconds(10));
  const auto& got = m.sinks[1].samples;
  ASSERT_EQ(got.size(), 1003u);
  for (int i = 0; i < 3; ++i) {
    const auto& g = got[1000 + static_cast<std::size_t>(i)];
    EXPECT_EQ(g.key, "k/5");
    EXPECT_EQ(g.payload, "again" + std::to_string(i + 1));
    EXPECT_EQ(g.seq, static_cast<std::uint64_t>(i + 1));
    EXPECT_NE(g.publisher, old_pub);
  }
  const auto& st = m.engines[1]->stats();
  EXPECT_EQ(st.duplicates, 0u);
  EXPECT_EQ(st.samples_lost, 0u);
  EXPECT_EQ(st.samples_repaired, 1u);
  EXPECT_EQ(m.engines[1]->held_samples(), 0u);
  EXPECT_EQ(src.usage().implicit_publishers, 1u);
}

// Past max_implicit_publishers the least recently put one goes first; a key in use keeps its
// publisher.
TEST(DataEngine, ImplicitPublishersAreCappedLeastRecentlyUsedFirst) {
  mesh m(1);
  ASSERT_TRUE(m.engines[0]->declare_subscriber("k/**"));
  auto& e = *m.engines[0];
  const auto& got = m.sinks[0].samples;
  const int n = static_cast<int>(max_implicit_publishers) + 100;
  ASSERT_TRUE(e.put("k/0", as_bytes("x"), "", m.now, ntp));
  const std::uint64_t first_pub = got.back().publisher;
  for (int i = 1; i < n; ++i) {
    ASSERT_TRUE(e.put("k/" + std::to_string(i), as_bytes("x"), "", m.now, ntp));
    if (i == 2000) {
      ASSERT_TRUE(e.put("k/0", as_bytes("y"), "", m.now, ntp));  // used again
    }
  }
  EXPECT_EQ(e.usage().implicit_publishers, max_implicit_publishers);
  EXPECT_EQ(e.stats().implicit_evicted, 100u);
  ASSERT_TRUE(e.put("k/0", as_bytes("z"), "", m.now, ntp));
  EXPECT_EQ(got.back().publisher, first_pub);  // k/0 was used lately: kept
  EXPECT_EQ(got.back().seq, 3u);
  ASSERT_TRUE(e.put("k/1", as_bytes("z"), "", m.now, ntp));
  EXPECT_GT(got.back().publisher, first_pub);  // k/1 was the least recently used: gone
  EXPECT_EQ(got.back().seq, 1u);
  EXPECT_EQ(e.usage().implicit_publishers, max_implicit_publishers);
}

// Implicit publishers' histories share one budget: large samples on many keys evict the least
// recently used publishers, never the one being put.
TEST(DataEngine, ImplicitHistoriesStayWithinTheirBudget) {
  mesh m(1);
  auto& e = *m.engines[0];
  const bytes big(64 * 1024, 0x5a);
  for (int i = 0; i < 400; ++i) {
    ASSERT_TRUE(e.put("big/" + std::to_string(i), big, "", m.now, ntp));
    ASSERT_LE(e.usage().implicit_history_bytes, implicit_history_budget);
  }
  EXPECT_GT(e.stats().implicit_evicted, 100u);
  EXPECT_LT(e.usage().implicit_publishers, 256u);
  EXPECT_EQ(e.usage().history_bytes, e.usage().implicit_history_bytes);
  m.advance(implicit_idle);
  EXPECT_EQ(e.usage().implicit_publishers, 0u);
  EXPECT_EQ(e.usage().implicit_history_bytes, 0u);
}

// Memory bound: 100,000 puts on 100,000 distinct keys, 1 ms apart (in bursts of 10), to a
// subscriber on another node. What the engines hold per key (implicit publishers, their histories,
// the key cache, heartbeat timers) stays under the documented bounds throughout, every sample
// arrives once, and the source gives everything back once the keys have been idle.
TEST(DataEngine, StateStaysBoundedOverManyDistinctKeys) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("floor/**"));
  m.pump();
  constexpr int n = 100'000;
  std::size_t peak_implicit = 0, peak_keys = 0, peak_history = 0;
  for (int i = 0; i < n; ++i) {
    const std::string key = "floor/" + std::to_string(i % 7) + "/sensor/" + std::to_string(i);
    ASSERT_TRUE(m.engines[0]->put(key, as_bytes("21.5"), "", m.now, ntp + i));
    if (i % 10 == 9) m.advance(std::chrono::milliseconds(10));
    if (i % 1000 != 999) continue;
    for (const auto& eng : m.engines) {
      const engine_usage u = eng->usage();
      ASSERT_LE(u.implicit_publishers, max_implicit_publishers);
      ASSERT_LE(u.implicit_history_bytes, implicit_history_budget);
      ASSERT_LE(u.cached_keys, 2 * max_cached_keys);
      ASSERT_LE(u.cached_key_bytes, 2 * (max_cached_key_bytes + max_key));
      ASSERT_LE(u.heartbeat_timers, 2 * max_implicit_publishers + 65);
      peak_implicit = std::max(peak_implicit, u.implicit_publishers);
      peak_keys = std::max(peak_keys, u.cached_keys);
      peak_history = std::max(peak_history, u.implicit_history_bytes);
    }
  }
  // The bounds were reached, not merely never approached.
  EXPECT_EQ(peak_implicit, max_implicit_publishers);
  // The key cache fills one generation; it goes no further because the keys of evicted
  // implicit publishers leave it when their publisher_end is sent and received.
  EXPECT_GE(peak_keys, max_cached_keys);
  EXPECT_GT(peak_history, 0u);
  EXPECT_GT(m.engines[1]->stats().streams_ended, 0u);
  EXPECT_GT(m.engines[0]->stats().implicit_evicted, 0u);
  ASSERT_EQ(m.sinks[1].samples.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(m.engines[1]->stats().duplicates, 0u);
  EXPECT_EQ(m.engines[1]->stats().samples_lost, 0u);

  m.advance(implicit_idle);
  const engine_usage u = m.engines[0]->usage();
  EXPECT_EQ(u.implicit_publishers, 0u);
  EXPECT_EQ(u.implicit_history_bytes, 0u);
  EXPECT_EQ(u.history_bytes, 0u);
  EXPECT_EQ(u.heartbeat_timers, 0u);
  std::printf(
      "measured: %d distinct keys: peak %zu implicit publishers, %zu history bytes, %zu "
      "cached keys; after %llds idle: %zu publishers\n",
      n, peak_implicit, peak_history, peak_keys,
      static_cast<long long>(
          std::chrono::duration_cast<std::chrono::seconds>(implicit_idle).count()),
      u.implicit_publishers);
}

// Undeclaring a declared publisher on a key that also has an implicit one leaves the implicit
// one alone (it is still collected when idle, and the key still publishes).
TEST(DataEngine, UndeclaringADeclaredPublisherKeepsTheImplicitOne) {
  mesh m(1);
  ASSERT_TRUE(m.engines[0]->declare_subscriber("a"));
  auto& e = *m.engines[0];
  auto p = e.declare_publisher("a");
  ASSERT_TRUE(p);
  ASSERT_TRUE(e.put("a", as_bytes("1"), "", m.now, ntp));
  e.undeclare_publisher(*p);
  EXPECT_EQ(e.usage().implicit_publishers, 1u);
  ASSERT_TRUE(e.put("a", as_bytes("2"), "", m.now, ntp));
  EXPECT_EQ(m.sinks[0].samples.back().seq, 2u);
  m.advance(implicit_idle);
  EXPECT_EQ(e.usage().publishers, 0u);
}

// An undeclared publisher tells the nodes downstream that it ended: the subscriber's node and
// the relay drop their receive state for it at once, not after the 60 s idle time, and the
// source frees its history after retired_linger.
TEST(DataEngine, UndeclaredPublisherEndsTheReceiveStateDownstream) {
  mesh m(3);  // 0 - 1 - 2: the end crosses a relay
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[2]->declare_subscriber("a/**"));
  m.pump();
  auto& src = *m.engines[0];
  auto pub = src.declare_publisher("a/x");
  ASSERT_TRUE(pub);
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(src.put(*pub, as_bytes(std::to_string(i)), m.now, ntp + i));
  ASSERT_TRUE(src.put("a/y", as_bytes("implicit"), "", m.now, ntp + 4));
  m.pump();
  EXPECT_EQ(m.engines[1]->usage().streams, 2u);  // the relay's dedup windows
  EXPECT_EQ(m.engines[2]->usage().streams, 2u);
  src.undeclare_publisher(*pub);
  m.pump();
  EXPECT_EQ(m.payloads(2), (std::vector<std::string>{"1", "2", "3", "implicit"}));
  EXPECT_EQ(src.stats().publisher_ends_sent, 1u);
  EXPECT_EQ(m.engines[1]->usage().streams, 1u);
  EXPECT_EQ(m.engines[2]->usage().streams, 1u);
  EXPECT_EQ(m.engines[2]->stats().streams_ended, 1u);
  // The source keeps the history for late repair requests, then frees it.
  EXPECT_EQ(src.usage().retired_publishers, 1u);
  EXPECT_EQ(src.next_deadline(), time_point::min());
  m.advance(std::chrono::milliseconds(1));
  EXPECT_EQ(src.usage().retired_publishers, 1u);
  m.advance(retired_linger);
  EXPECT_EQ(src.usage().retired_publishers, 0u);
  // The implicit publisher ends when it is collected (implicit_idle, under the 60 s idle time).
  m.advance(implicit_idle);
  EXPECT_EQ(src.usage().publishers, 0u);
  EXPECT_EQ(src.usage().history_bytes, 0u);
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(m.engines[i]->usage().streams, 0u) << "node " << i;
    EXPECT_EQ(m.engines[i]->usage().held_samples, 0u) << "node " << i;
  }
  EXPECT_EQ(m.engines[2]->stats().streams_ended, 2u);
  EXPECT_EQ(m.engines[2]->stats().samples_lost, 0u);
  EXPECT_EQ(m.payloads(2).size(), 4u);
}

// The end may overtake a lost last sample, or come while a gap is being repaired: the
// subscriber's node repairs up to the end's last sequence number from the source's retained
// history, delivers in order, and only then drops the state.
TEST(DataEngine, PublisherEndWaitsForLostSamplesToBeRepaired) {
  mesh m(3);  // 0 - 1 - 2
  m.link(0, 1);
  m.link(1, 2);
  ASSERT_TRUE(m.engines[2]->declare_subscriber("a/**"));
  m.pump();
  auto& src = *m.engines[0];
  auto& dst = *m.engines[2];

  // The last sample is lost; the end (sent before any heartbeat) reveals it.
  auto p = src.declare_publisher("a/x");
  ASSERT_TRUE(p);
  ASSERT_TRUE(src.put(*p, as_bytes("1"), m.now, ntp + 1));
  m.pump();
  ASSERT_TRUE(src.put(*p, as_bytes("2"), m.now, ntp + 2));
  m.drop_output(0);
  src.undeclare_publisher(*p);
  EXPECT_EQ(src.put(*p, as_bytes("x"), m.now, ntp).error(),
            make_error_code(engine_errc::unknown_publisher));
  m.pump();
  EXPECT_EQ(m.payloads(2), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(dst.stats().samples_repaired, 1u);
  EXPECT_EQ(src.stats().heartbeats_sent, 0u);
  EXPECT_EQ(dst.usage().streams, 0u);
  EXPECT_EQ(m.engines[1]->usage().streams, 0u);

  // A gap is open (its first repair request lost) when the end arrives: the state stays
  // until the next request is answered from the retired history.
  auto q = src.declare_publisher("a/y");
  ASSERT_TRUE(q);
  ASSERT_TRUE(src.put(*q, as_bytes("a"), m.now, ntp + 3));
  m.pump();
  ASSERT_TRUE(src.put(*q, as_bytes("b"), m.now, ntp + 4));
  m.drop_output(0);
  ASSERT_TRUE(src.put(*q, as_bytes("c"), m.now, ntp + 5));
  // c reaches the relay and the subscriber; the subscriber's nack for b is lost.
  for (std::size_t hop = 0; hop < 2; ++hop) {
    std::vector<bytes> frames;
    std::vector<std::size_t> to;
    m.engines[hop]->drain_transmit([&](const peer_id& to_peer, bytes_view b) {
      to.push_back(m.index(to_peer));
      frames.emplace_back(b.begin(), b.end());
    });
    for (std::size_t i = 0; i < frames.size(); ++i)
      ASSERT_TRUE(m.engines[to[i]]->on_bytes(m.ids[hop], frames[i], m.now, ntp));
  }
  EXPECT_EQ(dst.held_samples(), 1u);
  m.drop_output(2);
  src.undeclare_publisher(*q);
  m.pump();
  EXPECT_EQ(dst.usage().streams, 1u);  // held by the open gap
  EXPECT_EQ(m.payloads(2).size(), 3u);
  m.advance(std::chrono::milliseconds(200));  // the nack's second try
  EXPECT_EQ(m.payloads(2), (std::vector<std::string>{"1", "2", "a", "b", "c"}));
  EXPECT_EQ(dst.usage().streams, 0u);
  EXPECT_EQ(dst.held_samples(), 0u);
  EXPECT_EQ(dst.stats().samples_lost, 0u);
  EXPECT_EQ(dst.stats().streams_ended, 2u);
}

// A lost end changes nothing but the time the state stays: the 60 s idle collection. An end
// for a publisher the node no longer knows is ignored.
TEST(DataEngine, LostPublisherEndFallsBackToIdleCollection) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("a/**"));
  m.pump();
  auto p = m.engines[0]->declare_publisher("a/x");
  ASSERT_TRUE(p);
  ASSERT_TRUE(m.engines[0]->put(*p, as_bytes("1"), m.now, ntp));
  m.pump();
  m.engines[0]->undeclare_publisher(*p);
  std::vector<bytes> lost;
  m.engines[0]->drain_transmit(
      [&](const peer_id&, bytes_view b) { lost.emplace_back(b.begin(), b.end()); });
  ASSERT_FALSE(lost.empty());
  m.advance(std::chrono::seconds(50));
  EXPECT_EQ(m.engines[1]->usage().streams, 1u);
  for (int i = 0; i < 3; ++i)
    m.advance(std::chrono::seconds(10));
  EXPECT_EQ(m.engines[1]->usage().streams, 0u);
  EXPECT_EQ(m.engines[1]->stats().streams_ended, 0u);
  // The end arrives after all: ignored, no state made.
  for (const auto& f : lost)
    ASSERT_TRUE(m.engines[1]->on_bytes(m.ids[0], f, m.now, ntp));
  EXPECT_EQ(m.engines[1]->usage().streams, 0u);
  EXPECT_EQ(m.engines[1]->stats().streams_ended, 0u);
  EXPECT_EQ(m.payloads(1), (std::vector<std::string>{"1"}));
}

// A handler may undeclare the very publisher whose sample it is getting (an application that
// stops a sensor from its own subscriber). The other local subscribers still get the sample
// whole: the publisher's key and encoding, which the sample points into, live until the
// delivery ends. (A best-effort publisher has no history to keep, so it was freed at once and
// the later deliveries read freed memory: ASan found it in this test before the fix.)
TEST(DataEngine, HandlerThatUndeclaresThePublisherLeavesTheSampleIntact) {
  struct sink final : engine_sink {
    engine* e = nullptr;
    std::uint64_t pub = 0;
    std::vector<std::string> got;  // key|encoding|payload
    void on_sample(std::uint64_t, const sample& s) override {
      if (pub != 0) {
        e->undeclare_publisher(pub);
        pub = 0;
      }
      got.push_back(std::string(s.key) + "|" + std::string(s.encoding) + "|" +
                    std::string(as_chars(s.payload)));
    }
    void on_query(std::uint64_t, const query_request&) override {}
    void on_reply(std::uint64_t, const reply_view&) override {}
    void on_query_done(std::uint64_t, const query_result&) override {}
    void on_liveliness(std::uint64_t, std::string_view, const peer_id&, bool) override {}
  } sk;
  engine e(make_id(1), 1, sk);
  sk.e = &e;
  // A key and an encoding too long for the small-string buffer, so they live on the heap.
  const std::string key = "building/floor-one/meeting-room-with-a-long-name/temperature";
  const std::string enc = "application/vnd.starling.sensor-reading+json";
  ASSERT_TRUE(e.declare_subscriber(key));
  ASSERT_TRUE(e.declare_subscriber("building/**"));
  ASSERT_TRUE(e.declare_subscriber("building/*/*/temperature"));
  publisher_options o;
  o.encoding = enc;
  o.reliable = false;  // no history, so nothing keeps the publisher after its undeclaration
  auto p = e.declare_publisher(key, o);
  ASSERT_TRUE(p);
  sk.pub = *p;
  ASSERT_TRUE(e.put(*p, as_bytes("21.5"), time_point{}, ntp));
  ASSERT_EQ(sk.got.size(), 3u);
  for (const auto& g : sk.got)
    EXPECT_EQ(g, key + "|" + enc + "|21.5");
  EXPECT_EQ(e.usage().publishers, 0u);
  EXPECT_FALSE(e.put(*p, as_bytes("22"), time_point{}, ntp));  // it is gone
}
