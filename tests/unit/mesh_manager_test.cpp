#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "core/crypto/crypto.hpp"
#include "core/mesh/manager.hpp"
#include "core/multiformats/peer_id.hpp"

using namespace starling;
using namespace std::chrono_literals;

namespace {

const time_point t0 = time_point{} + 1000s;

/// A valid peer id text derived from `n` (an identity multihash over 32 chosen bytes; no key
/// generation, so 10k of them are cheap).
std::string fake_id(std::uint64_t n) {
  crypto::ed25519_public pub{};
  for (int i = 0; i < 8; ++i)
    pub[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  pub[31] = 0x5a;
  return multiformats::peer_id::from_public_key(pub).to_string();
}

std::string addr(int host, int port = 4001) {
  return "/ip4/10.0." + std::to_string(host / 250) + "." + std::to_string(host % 250 + 1) +
         "/tcp/" + std::to_string(port);
}

/// Two ids with lo < hi as text.
std::pair<std::string, std::string> ordered_pair(std::uint64_t a, std::uint64_t b) {
  auto x = fake_id(a), y = fake_id(b);
  if (y < x) std::swap(x, y);
  return {x, y};
}

std::vector<mesh::dial_request> drain(mesh::manager& m, time_point now) {
  std::vector<mesh::dial_request> out;
  while (auto d = m.poll_dial(now))
    out.push_back(std::move(*d));
  return out;
}

struct fixture : ::testing::Test {
  fixture() { crypto::init(); }
  crypto::seeded_rng rng{42};
};

using mesh_manager = fixture;

TEST_F(mesh_manager, dials_a_discovered_peer_once_and_tracks_the_connection) {
  auto [self, peer] = ordered_pair(1, 2);
  mesh::manager m({}, self, rng);
  m.discovered(peer, {addr(1), addr(2) + "/p2p/" + peer}, mesh::source::mdns, t0);
  ASSERT_NE(m.find(peer), nullptr);
  EXPECT_EQ(m.next_deadline(), t0);

  auto d = m.poll_dial(t0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->peer_id, peer);
  EXPECT_EQ(d->addrs, (std::vector<std::string>{addr(1), addr(2)}));  // /p2p/ stripped
  EXPECT_EQ(m.find(peer)->state, mesh::peer_state::dialing);
  EXPECT_FALSE(m.poll_dial(t0));  // no duplicate dial
  m.discovered(peer, {addr(3)}, mesh::source::pex, t0);
  EXPECT_FALSE(m.poll_dial(t0));
  EXPECT_EQ(m.next_deadline(), no_deadline);

  m.dial_finished(d->dial_id, peer, t0 + 10ms);
  EXPECT_EQ(m.find(peer)->state, mesh::peer_state::connected);
  EXPECT_EQ(m.connected_count(), 1u);
  m.connected(peer, t0 + 10ms);  // the daemon's connection event too: idempotent
  EXPECT_EQ(m.connected_count(), 1u);
  EXPECT_EQ(m.find(peer)->sources, mesh::bit(mesh::source::mdns) | mesh::bit(mesh::source::pex));
  EXPECT_FALSE(m.poll_dial(t0 + 1h));
  EXPECT_EQ(m.next_deadline(), no_deadline);
}

TEST_F(mesh_manager, tie_break_lower_id_dials_at_once_higher_waits) {
  auto [lo, hi] = ordered_pair(3, 4);
  mesh::manager low({}, lo, rng);
  mesh::manager high({}, hi, rng);
  low.discovered(hi, {addr(1)}, mesh::source::mdns, t0);
  high.discovered(lo, {addr(2)}, mesh::source::mdns, t0);

  auto d = low.poll_dial(t0);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->peer_id, hi);

  EXPECT_FALSE(high.poll_dial(t0));
  EXPECT_EQ(high.next_deadline(), t0 + 1000ms);
  EXPECT_FALSE(high.poll_dial(t0 + 999ms));
  // The lower one's connection arrived meanwhile: the higher one never dials.
  high.connected(lo, t0 + 20ms);
  EXPECT_EQ(high.next_deadline(), no_deadline);
  EXPECT_FALSE(high.poll_dial(t0 + 2s));

  // Had it not arrived, the higher one dials after tie_break_delay.
  mesh::manager high2({}, hi, rng);
  high2.discovered(lo, {addr(2)}, mesh::source::mdns, t0);
  high2.on_deadline(t0 + 1000ms);
  auto d2 = high2.poll_dial(t0 + 1000ms);
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->peer_id, lo);

  // Only mDNS discoveries are tie-broken: pex peers are dialled at once.
  mesh::manager high3({}, hi, rng);
  high3.discovered(lo, {addr(2)}, mesh::source::pex, t0);
  EXPECT_TRUE(high3.poll_dial(t0));
}

TEST_F(mesh_manager, parallel_dial_limit) {
  mesh::config c;
  c.max_parallel_dials = 3;
  mesh::manager m(c, fake_id(0), rng);
  for (int i = 1; i <= 10; ++i)
    m.discovered(fake_id(static_cast<std::uint64_t>(i)), {addr(i)}, mesh::source::pex, t0);
  auto first = drain(m, t0);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(m.dialing_count(), 3u);
  EXPECT_EQ(m.next_deadline(), no_deadline);  // only a dial_finished frees a slot: no spinning

  m.dial_finished(first[0].dial_id,
                  std::error_code(std::make_error_code(std::errc::connection_refused)), t0 + 5ms);
  EXPECT_EQ(m.next_deadline(), t0);  // the others are due already
  auto more = drain(m, t0 + 5ms);
  ASSERT_EQ(more.size(), 1u);
  std::set<std::string> ids;
  for (auto& d : first)
    ids.insert(d.peer_id);
  EXPECT_EQ(ids.count(more[0].peer_id), 0u);
}

TEST_F(mesh_manager, target_connections_limit_and_bootstrap_exemption) {
  mesh::config c;
  c.target_connections = 4;
  c.max_parallel_dials = 8;
  mesh::manager m(c, fake_id(0), rng);
  for (int i = 1; i <= 10; ++i)
    m.discovered(fake_id(static_cast<std::uint64_t>(i)), {addr(i)}, mesh::source::pex, t0);
  // Two inbound connections count towards the target.
  m.connected(fake_id(100), t0);
  m.connected(fake_id(101), t0);
  auto ds = drain(m, t0);
  ASSERT_EQ(ds.size(), 2u);
  for (auto& d : ds)
    m.dial_finished(d.dial_id, d.peer_id, t0 + 1ms);
  EXPECT_EQ(m.connected_count(), 4u);
  EXPECT_FALSE(m.poll_dial(t0 + 1s));
  EXPECT_EQ(m.next_deadline(), no_deadline);

  // A bootstrap address is dialled even at the target.
  auto boot = fake_id(200);
  ASSERT_TRUE(m.add_bootstrap(addr(200) + "/p2p/" + boot, t0 + 1s));
  auto b = m.poll_dial(t0 + 1s);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->peer_id, boot);
  EXPECT_FALSE(m.poll_dial(t0 + 1s));

  // One connection goes away: one more ordinary peer may be dialled.
  m.disconnected(fake_id(100), t0 + 2s);
  m.dial_finished(b->dial_id, std::error_code(std::make_error_code(std::errc::timed_out)), t0 + 2s);
  auto next = drain(m, t0 + 2s);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_NE(next[0].peer_id, boot);  // the bootstrap is in backoff
}

TEST_F(mesh_manager, backoff_grows_is_capped_and_jittered) {
  mesh::config c;  // 1 s initial, 30 s max, 25 % jitter
  auto peer = fake_id(7);
  std::set<std::int64_t> capped_delays;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    crypto::seeded_rng r(seed);
    mesh::manager m(c, fake_id(0), r);
    m.discovered(peer, {addr(7)}, mesh::source::identify, t0);  // not forgotten, no tie-break
    time_point now = t0;
    for (std::uint32_t k = 1; k <= 12; ++k) {
      auto d = m.poll_dial(now);
      ASSERT_TRUE(d) << "failure " << k;
      m.dial_finished(d->dial_id,
                      std::error_code(std::make_error_code(std::errc::host_unreachable)), now);
      const auto* p = m.find(peer);
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(p->state, mesh::peer_state::backoff);
      EXPECT_EQ(p->failures, k);
      const auto delay =
          std::chrono::duration_cast<std::chrono::milliseconds>(p->next_attempt - now);
      const double base =
          std::min(1000.0 * static_cast<double>(1u << std::min(k - 1, 20u)), 30000.0);
      EXPECT_GE(static_cast<double>(delay.count()), base * 0.75 - 1) << "failure " << k;
      EXPECT_LE(static_cast<double>(delay.count()), std::min(base * 1.25, 30000.0))
          << "failure " << k;
      if (k >= 7) capped_delays.insert(delay.count());
      // The deadline is exact: nothing a nanosecond before, the dial at it.
      EXPECT_EQ(m.next_deadline(), p->next_attempt);
      EXPECT_FALSE(m.poll_dial(p->next_attempt - 1ns));
      now = p->next_attempt;
      m.on_deadline(now);
    }
  }
  EXPECT_GT(capped_delays.size(), 10u);  // jitter: not one fixed value at the cap
}

TEST_F(mesh_manager, reconnects_within_200ms_after_a_disconnect) {
  auto peer = fake_id(9);
  std::set<std::int64_t> delays;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    crypto::seeded_rng r(seed);
    mesh::manager m({}, fake_id(0), r);
    m.discovered(peer, {addr(9)}, mesh::source::pex, t0);
    m.connected(peer, t0);
    EXPECT_FALSE(m.poll_dial(t0 + 1s));
    const time_point gone = t0 + 5s;
    m.disconnected(peer, gone);
    EXPECT_EQ(m.connected_count(), 0u);
    const time_point dl = m.next_deadline();
    ASSERT_GE(dl, gone);
    ASSERT_LE(dl, gone + 200ms);
    delays.insert((dl - gone).count());
    if (dl > gone) {
      EXPECT_FALSE(m.poll_dial(dl - 1ns));
    }
    m.on_deadline(dl);
    auto d = m.poll_dial(dl);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->peer_id, peer);
  }
  EXPECT_GT(delays.size(), 5u);  // a random delay, not a fixed one
}

TEST_F(mesh_manager, mdns_sighting_redials_a_peer_in_backoff) {
  auto peer = fake_id(11);
  mesh::manager m({}, fake_id(0), rng);
  m.discovered(peer, {addr(11)}, mesh::source::pex, t0);
  time_point now = t0;
  time_point last_try{};
  for (int k = 0; k < 5; ++k) {  // backoff ~16 s now
    now = m.next_deadline();
    auto d = m.poll_dial(now);
    ASSERT_TRUE(d);
    last_try = now;
    m.dial_finished(d->dial_id, std::error_code(std::make_error_code(std::errc::timed_out)),
                    now + 100ms);
  }
  const auto* p = m.find(peer);
  ASSERT_NE(p, nullptr);
  ASSERT_GT(p->next_attempt, last_try + 10s);

  // Another pex mention changes nothing.
  m.discovered(peer, {addr(11)}, mesh::source::pex, last_try + 500ms);
  EXPECT_GT(m.next_deadline(), last_try + 10s);
  // An mDNS sighting 500 ms after the last try: re-dial at last try + min_redial_interval.
  m.discovered(peer, {addr(11)}, mesh::source::mdns, last_try + 500ms);
  EXPECT_EQ(m.next_deadline(), last_try + 2s);
  EXPECT_FALSE(m.poll_dial(last_try + 2s - 1ns));
  auto d = m.poll_dial(last_try + 2s);
  ASSERT_TRUE(d);
  m.dial_finished(d->dial_id, std::error_code(std::make_error_code(std::errc::timed_out)),
                  last_try + 2s);
  // A sighting long after the last try: re-dial at once.
  const time_point later = last_try + 2s + 5s;
  m.discovered(peer, {addr(11)}, mesh::source::mdns, later);
  EXPECT_EQ(m.next_deadline(), later);
  EXPECT_TRUE(m.poll_dial(later));
}

TEST_F(mesh_manager, lost_forgets_peers_with_no_source_left) {
  auto [self, a] = ordered_pair(20, 21);
  auto b = fake_id(22), c = fake_id(23);
  mesh::manager m({}, self, rng);
  m.discovered(a, {addr(1)}, mesh::source::mdns, t0);
  m.discovered(b, {addr(2)}, mesh::source::mdns, t0);
  m.discovered(b, {addr(3)}, mesh::source::pex, t0);
  m.discovered(c, {addr(4)}, mesh::source::mdns, t0);
  m.connected(c, t0);

  m.lost(a, mesh::source::mdns, t0 + 1s);
  EXPECT_EQ(m.find(a), nullptr);
  m.lost(b, mesh::source::mdns, t0 + 1s);
  ASSERT_NE(m.find(b), nullptr);
  EXPECT_EQ(m.find(b)->sources, mesh::bit(mesh::source::pex));
  m.lost(c, mesh::source::mdns, t0 + 1s);
  ASSERT_NE(m.find(c), nullptr);  // still connected
  m.disconnected(c, t0 + 2s);
  EXPECT_EQ(m.find(c), nullptr);  // left: no reason to re-dial
  EXPECT_EQ(m.connected_count(), 0u);
  // Nothing left to dial except b.
  auto ds = drain(m, t0 + 3s);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].peer_id, b);
}

TEST_F(mesh_manager, memory_bounded_with_10k_fake_peers_bootstrap_and_connected_kept) {
  mesh::config c;
  c.max_known_peers = 1024;
  c.max_addrs_per_peer = 4;
  mesh::manager m(c, fake_id(0), rng);
  const auto boot = fake_id(1);
  ASSERT_TRUE(m.add_bootstrap(addr(1) + "/p2p/" + boot, t0));
  const auto friend_id = fake_id(2);
  m.discovered(friend_id, {addr(2)}, mesh::source::mdns, t0);
  m.connected(friend_id, t0);

  for (std::uint64_t i = 0; i < 10'000; ++i) {
    std::vector<std::string> many;
    for (int k = 0; k < 20; ++k)
      many.push_back(addr(static_cast<int>(i % 2000), 1000 + k));
    m.discovered(fake_id(1000 + i), many, i % 2 ? mesh::source::pex : mesh::source::mdns,
                 t0 + std::chrono::milliseconds(i));
    if (i % 100 == 0) m.connected(fake_id(1000 + i), t0 + std::chrono::milliseconds(i));
  }
  const auto all = m.peers();
  EXPECT_LE(all.size(), 1024u);
  std::size_t max_addrs = 0;
  for (const auto& p : all)
    max_addrs = std::max(max_addrs, p.addrs.size());
  EXPECT_LE(max_addrs, 4u);
  ASSERT_NE(m.find(boot), nullptr);
  EXPECT_NE(m.find(boot)->sources & mesh::bit(mesh::source::bootstrap), 0u);
  ASSERT_NE(m.find(friend_id), nullptr);
  EXPECT_EQ(m.find(friend_id)->state, mesh::peer_state::connected);
  for (std::uint64_t i = 0; i < 10'000; i += 100)
    EXPECT_NE(m.find(fake_id(1000 + i)), nullptr);
  EXPECT_EQ(m.connected_count(), 101u);
  // The newest discoveries are the ones kept.
  EXPECT_NE(m.find(fake_id(1000 + 9'999)), nullptr);
  EXPECT_EQ(m.find(fake_id(1000 + 1)), nullptr);
}

TEST_F(mesh_manager, bootstrap_without_peer_id_learns_it_and_is_redialled_forever) {
  mesh::config c;
  c.forget_after_failures = 2;
  mesh::manager m(c, fake_id(0), rng);
  const std::string baddr = "/ip4/192.168.7.1/tcp/4001";
  ASSERT_TRUE(m.add_bootstrap(baddr, t0));
  ASSERT_TRUE(m.add_bootstrap(baddr, t0));  // the same address again: no second entry
  ASSERT_EQ(m.bootstraps().size(), 1u);
  EXPECT_TRUE(m.peers().empty());

  // Failures back off but never forget the address.
  time_point now = t0;
  for (int k = 0; k < 10; ++k) {
    now = m.next_deadline();
    ASSERT_NE(now, no_deadline);
    auto d = m.poll_dial(now);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->peer_id.empty());
    EXPECT_EQ(d->addrs, std::vector<std::string>{baddr});
    m.dial_finished(d->dial_id,
                    std::error_code(std::make_error_code(std::errc::connection_refused)), now);
  }
  EXPECT_EQ(m.bootstraps()[0].failures, 10u);
  EXPECT_LE(m.next_deadline() - now, std::chrono::nanoseconds(30s));

  // It answers: the id is learned, the peer is a bootstrap peer and connected.
  now = m.next_deadline();
  auto d = m.poll_dial(now);
  ASSERT_TRUE(d);
  const auto q = fake_id(5);
  m.dial_finished(d->dial_id, q, now);
  const auto* p = m.find(q);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->state, mesh::peer_state::connected);
  EXPECT_NE(p->sources & mesh::bit(mesh::source::bootstrap), 0u);
  EXPECT_EQ(p->addrs, std::vector<std::string>{baddr});
  EXPECT_EQ(m.bootstraps()[0].peer_id, q);
  EXPECT_EQ(m.bootstraps()[0].failures, 0u);
  EXPECT_FALSE(m.poll_dial(now + 1h));

  // Its disconnect re-dials the bootstrap address within 200 ms (one dial, not two).
  m.disconnected(q, now + 1s);
  const time_point dl = m.next_deadline();
  ASSERT_LE(dl, now + 1s + 200ms);
  auto again = drain(m, dl);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].peer_id.empty());
  EXPECT_EQ(again[0].addrs, std::vector<std::string>{baddr});
  // Lost through mDNS (no such source) or failing: still kept.
  m.lost(q, mesh::source::mdns, dl);
  m.dial_finished(again[0].dial_id, std::error_code(std::make_error_code(std::errc::timed_out)),
                  dl);
  EXPECT_NE(m.find(q), nullptr);
  EXPECT_NE(m.next_deadline(), no_deadline);
}

TEST_F(mesh_manager, bootstrap_answering_with_our_own_id_is_dropped) {
  const auto self = fake_id(0);
  mesh::manager m({}, self, rng);
  EXPECT_EQ(m.add_bootstrap(addr(1) + "/p2p/" + self, t0).error(), mesh::errc::own_address);
  EXPECT_EQ(m.add_bootstrap("not-an-address", t0).error(), mesh::errc::invalid_multiaddr);
  ASSERT_TRUE(m.add_bootstrap(addr(2), t0));
  auto d = m.poll_dial(t0);
  ASSERT_TRUE(d);
  m.dial_finished(d->dial_id, self, t0);
  EXPECT_EQ(m.find(self), nullptr);
  EXPECT_EQ(m.connected_count(), 0u);
  EXPECT_EQ(m.next_deadline(), no_deadline);
  EXPECT_FALSE(m.poll_dial(t0 + 1h));
}

TEST_F(mesh_manager, dial_reaching_another_peer_id_is_a_failure) {
  const auto p = fake_id(30), q = fake_id(31);
  mesh::manager m({}, fake_id(0), rng);
  m.discovered(p, {addr(30)}, mesh::source::pex, t0);
  auto d = m.poll_dial(t0);
  ASSERT_TRUE(d);
  m.dial_finished(d->dial_id, q, t0 + 50ms);
  ASSERT_NE(m.find(p), nullptr);
  EXPECT_EQ(m.find(p)->state, mesh::peer_state::backoff);
  EXPECT_EQ(m.find(p)->failures, 1u);
  EXPECT_EQ(m.find(q), nullptr);
  EXPECT_EQ(m.connected_count(), 0u);
  // An unknown or repeated dial id is ignored.
  m.dial_finished(d->dial_id, p, t0 + 60ms);
  m.dial_finished(12345, p, t0 + 60ms);
  EXPECT_EQ(m.connected_count(), 0u);
}

TEST_F(mesh_manager, pex_only_peers_are_forgotten_after_repeated_failures) {
  mesh::config c;
  c.forget_after_failures = 3;
  const auto px = fake_id(40), md = fake_id(41);
  mesh::manager m(c, fake_id(0), rng);
  m.discovered(px, {addr(40)}, mesh::source::pex, t0);
  m.discovered(md, {addr(41)}, mesh::source::mdns, t0);
  time_point now = t0;
  for (int k = 0; k < 3 * 2 + 2; ++k) {
    now = std::max(now, m.next_deadline());
    for (auto& d : drain(m, now))
      m.dial_finished(d.dial_id, std::error_code(std::make_error_code(std::errc::timed_out)), now);
  }
  EXPECT_EQ(m.find(px), nullptr);
  ASSERT_NE(m.find(md), nullptr);
  EXPECT_GE(m.find(md)->failures, 3u);
}

TEST_F(mesh_manager, bad_input_is_dropped_silently) {
  const auto self = fake_id(0), p = fake_id(50), other = fake_id(51);
  mesh::manager m({}, self, rng);
  m.discovered("not-a-peer-id", {addr(1)}, mesh::source::mdns, t0);
  m.discovered(self, {addr(2)}, mesh::source::mdns, t0);
  m.discovered(p, {"garbage", addr(3) + "/p2p/" + other}, mesh::source::pex, t0);
  EXPECT_TRUE(m.peers().empty());
  m.discovered(p, {"/ip4/1.2.3.4/tcp/99999", addr(3) + "/p2p/" + other, addr(4)}, mesh::source::pex,
               t0);
  ASSERT_NE(m.find(p), nullptr);
  EXPECT_EQ(m.find(p)->addrs, std::vector<std::string>{addr(4)});
  m.connected(self, t0);
  m.connected("xyz", t0);
  m.disconnected("xyz", t0);
  m.lost("", mesh::source::mdns, t0);
  EXPECT_EQ(m.connected_count(), 0u);
  EXPECT_EQ(m.peers().size(), 1u);
  // Addresses merge newest first.
  m.discovered(p, {addr(5)}, mesh::source::identify, t0 + 1s);
  EXPECT_EQ(m.find(p)->addrs, (std::vector<std::string>{addr(5), addr(4)}));
}

TEST_F(mesh_manager, healthiest_candidates_first) {
  mesh::config c;
  c.max_parallel_dials = 1;
  auto self = fake_id(0);
  mesh::manager m(c, self, rng);
  const auto px = fake_id(60), st = fake_id(61), boot = fake_id(62);
  m.discovered(px, {addr(60)}, mesh::source::pex, t0);
  m.discovered(st, {addr(61)}, mesh::source::store, t0);
  ASSERT_TRUE(m.add_bootstrap(addr(62) + "/p2p/" + boot, t0));
  std::vector<std::string> order;
  for (int k = 0; k < 3; ++k) {
    auto d = m.poll_dial(t0);
    ASSERT_TRUE(d);
    order.push_back(d->peer_id);
    m.dial_finished(d->dial_id, d->peer_id, t0);
    m.disconnected(d->peer_id, t0);  // back to idle, connected "now": same recency for all
  }
  EXPECT_EQ(order, (std::vector<std::string>{boot, st, px}));
}

TEST_F(mesh_manager, fewer_failures_dialled_first) {
  mesh::config c;
  c.max_parallel_dials = 1;
  mesh::manager m(c, fake_id(0), rng);
  const auto a = fake_id(70), b = fake_id(71);
  m.discovered(a, {addr(70)}, mesh::source::pex, t0);
  auto d = m.poll_dial(t0);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->peer_id, a);
  m.dial_finished(d->dial_id, std::error_code(std::make_error_code(std::errc::timed_out)), t0);
  m.discovered(b, {addr(71)}, mesh::source::pex, t0 + 1h);
  // Both due: the one that never failed goes first.
  d = m.poll_dial(t0 + 1h);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->peer_id, b);
}

TEST_F(mesh_manager, inbound_connection_during_our_dial_causes_no_second_dial) {
  const auto p = fake_id(80);
  mesh::manager m({}, fake_id(0), rng);
  m.discovered(p, {addr(80)}, mesh::source::pex, t0);
  auto d = m.poll_dial(t0);
  ASSERT_TRUE(d);
  m.connected(p, t0 + 1ms);     // the peer dialled us at the same time
  m.disconnected(p, t0 + 2ms);  // and that connection closed (e.g. duplicate pruned)
  EXPECT_EQ(m.find(p)->state, mesh::peer_state::dialing);
  EXPECT_FALSE(m.poll_dial(t0 + 1s));
  m.dial_finished(d->dial_id, p, t0 + 3ms);
  EXPECT_EQ(m.find(p)->state, mesh::peer_state::connected);
  EXPECT_EQ(m.connected_count(), 1u);

  // Our dial failing while the inbound connection stands is no failure.
  m.disconnected(p, t0 + 1s);
  auto d2 = m.poll_dial(t0 + 2s);
  ASSERT_TRUE(d2);
  m.connected(p, t0 + 2s);
  m.dial_finished(d2->dial_id, std::error_code(std::make_error_code(std::errc::connection_reset)),
                  t0 + 2s);
  EXPECT_EQ(m.find(p)->state, mesh::peer_state::connected);
  EXPECT_EQ(m.find(p)->failures, 0u);
}

TEST_F(mesh_manager, keyless_bootstrap_follows_a_new_identity) {
  mesh::manager m({}, fake_id(0), rng);
  const std::string baddr = "/ip4/192.168.7.2/tcp/4001";
  ASSERT_TRUE(m.add_bootstrap(baddr, t0));
  const auto old_id = fake_id(90), new_id = fake_id(91);
  auto d = m.poll_dial(t0);
  ASSERT_TRUE(d);
  m.dial_finished(d->dial_id, old_id, t0);
  m.disconnected(old_id, t0 + 1s);
  d = m.poll_dial(m.next_deadline());
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->peer_id.empty());
  m.dial_finished(d->dial_id, new_id, t0 + 2s);  // the node restarted with a new key
  EXPECT_EQ(m.find(old_id), nullptr);            // no reason left to keep the old one
  ASSERT_NE(m.find(new_id), nullptr);
  EXPECT_EQ(m.find(new_id)->state, mesh::peer_state::connected);
  EXPECT_EQ(m.bootstraps()[0].peer_id, new_id);
}

TEST_F(mesh_manager, bootstrap_list_is_bounded) {
  mesh::manager m({}, fake_id(0), rng);
  for (std::size_t i = 0; i < mesh::max_bootstrap_addrs; ++i)
    ASSERT_TRUE(m.add_bootstrap(addr(static_cast<int>(i)), t0));
  EXPECT_EQ(m.add_bootstrap("/ip4/1.1.1.1/tcp/1", t0).error(), mesh::errc::too_many_bootstraps);
  EXPECT_EQ(drain(m, t0).size(), mesh::config{}.max_parallel_dials);
}

TEST_F(mesh_manager, timer_driven_loop_never_spins) {
  mesh::config c;
  c.max_parallel_dials = 2;
  mesh::manager m(c, fake_id(0), rng);
  for (int i = 1; i <= 6; ++i)
    m.discovered(fake_id(static_cast<std::uint64_t>(100 + i)), {addr(i)}, mesh::source::mdns, t0);
  ASSERT_TRUE(m.add_bootstrap("/ip4/10.9.9.9/tcp/1", t0));
  // A daemon loop in virtual time where every dial fails 300 ms after it starts.
  time_point now = t0;
  std::vector<std::pair<time_point, std::uint64_t>> pending;
  int wakeups = 0;
  while (now < t0 + 120s) {
    ++wakeups;
    ASSERT_LT(wakeups, 2000);
    m.on_deadline(now);
    for (auto& d : drain(m, now))
      pending.emplace_back(now + 300ms, d.dial_id);
    const time_point dl = m.next_deadline();
    ASSERT_GT(dl, now);  // after draining, the timer is always in the future
    time_point wake = dl;
    for (auto& [t, id] : pending)
      wake = std::min(wake, t);
    ASSERT_NE(wake, no_deadline);
    now = wake;
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->first <= now) {
        m.dial_finished(it->second, std::error_code(std::make_error_code(std::errc::timed_out)),
                        now);
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }
  EXPECT_GT(wakeups, 20);
  EXPECT_EQ(m.peers().size(), 6u);  // mDNS peers stay known while they fail
}

}  // namespace

namespace {

TEST_F(mesh_manager, a_flood_of_one_packet_mdns_peers_leaves_room_for_real_ones) {
  mesh::config c;
  c.max_parallel_dials = 8;
  c.tie_break_delay = 0ms;
  mesh::manager m(c, fake_id(0), rng);
  // 200 "peers" each named by one mDNS packet (a flood of fakes).
  for (int i = 1; i <= 200; ++i)
    m.discovered(fake_id(static_cast<std::uint64_t>(i)), {addr(i)}, mesh::source::mdns, t0);
  auto first = drain(m, t0);
  EXPECT_EQ(first.size(), 4u);                // half the slots at most
  EXPECT_EQ(m.next_deadline(), no_deadline);  // no spinning while they are in flight
  // A real peer answers again (it answers every query): it is dialled at once, past the flood.
  const auto real = fake_id(1000);
  m.discovered(real, {addr(900)}, mesh::source::mdns, t0 + 10ms);
  EXPECT_EQ(m.next_deadline(), no_deadline);  // seen once: as unproven as the fakes
  EXPECT_TRUE(drain(m, t0 + 10ms).empty());
  m.discovered(real, {}, mesh::source::mdns, t0 + 20ms);
  EXPECT_LE(m.next_deadline(), t0 + 20ms);
  auto next = drain(m, t0 + 20ms);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].peer_id, real);
  // Peers from an authenticated source are never held back by the flood either.
  m.discovered(fake_id(2000), {addr(901)}, mesh::source::pex, t0 + 30ms);
  auto pex = drain(m, t0 + 30ms);
  ASSERT_EQ(pex.size(), 1u);
  EXPECT_EQ(pex[0].peer_id, fake_id(2000));
  // When a fake dial fails, another unproven one may go.
  m.dial_finished(first[0].dial_id, std::error_code(std::make_error_code(std::errc::timed_out)),
                  t0 + 1500ms);
  EXPECT_EQ(drain(m, t0 + 1500ms).size(), 1u);
}

}  // namespace

// A peer that closes every connection right after the handshake (it refuses us: another
// network, a revoked key) is re-dialled with growing backoff, not in a loop; a connection
// that lasted resets that.
TEST_F(mesh_manager, connections_refused_after_the_handshake_back_off) {
  const auto p = fake_id(81);
  mesh::manager m({}, fake_id(0), rng);
  m.discovered(p, {addr(81)}, mesh::source::pex, t0);
  time_point now = t0;
  std::vector<clock_duration> gaps;
  for (int i = 0; i < 4; ++i) {
    auto d = m.poll_dial(now);
    ASSERT_TRUE(d) << i;
    m.dial_finished(d->dial_id, p, now + 1ms);
    m.disconnected(p, now + 5ms);  // refused right after the handshake
    EXPECT_EQ(m.find(p)->failures, static_cast<std::uint32_t>(i + 1));
    const auto next = m.next_deadline();
    gaps.push_back(next - now);
    now = next;
  }
  EXPECT_GE(gaps[0], 700ms);  // backoff_initial 1 s, jitter 25 %
  EXPECT_GT(gaps[3], gaps[0] * 3);
  // A connection that lasts resets the failures: the next re-dial is quick again.
  auto d = m.poll_dial(now);
  ASSERT_TRUE(d);
  m.dial_finished(d->dial_id, p, now);
  m.disconnected(p, now + 10s);
  EXPECT_EQ(m.find(p)->failures, 0u);
  EXPECT_LE(m.next_deadline(), now + 10s + mesh::reconnect_delay_max);
}
