// Two conn::connection cores wired back to back in memory, with a fake clock and seeded rngs.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "core/conn/connection.hpp"
#include "core/mss/errors.hpp"
#include "core/noise/errc.hpp"

using namespace starling;
using namespace std::chrono_literals;

namespace {

struct side {
  side(conn::direction dir, std::uint64_t seed, time_point now, bool early = true,
       bool lazy = false, std::optional<crypto::ed25519_public> expected = std::nullopt)
      : rng(seed),
        id(crypto::ed25519_generate(rng)),
        core(make_cfg(dir, early, lazy, expected), id, rng, now) {}
  side(const conn::config& cfg, std::uint64_t seed, time_point now)
      : rng(seed), id(crypto::ed25519_generate(rng)), core(cfg, id, rng, now) {}

  static conn::config make_cfg(conn::direction dir, bool early, bool lazy,
                               std::optional<crypto::ed25519_public> expected) {
    conn::config c;
    c.dir = dir;
    c.early_muxer = early;
    c.lazy_security = lazy;
    c.expected_remote = expected;
    c.handshake_timeout = 5s;
    c.mux.keepalive_interval = 0s;
    c.mux.ping_on_start = false;
    c.mux_hold = 0s;  // the initiator's hold has its own tests below
    return c;
  }

  /// Drains events into the observations below.
  void drain() {
    while (auto e = core.poll_event()) {
      if (auto* est = std::get_if<conn::established>(&*e)) {
        established = *est;
        // `established` promises a running muxer (streams are opened right away on it).
        EXPECT_NE(core.mux(), nullptr) << "established before the muxer exists";
        continue;
      }
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, yamux::stream_data>) {
              append(received, v.bytes);
              ASSERT_TRUE(core.mux()->consume(v.id, v.bytes.size()));
            } else if constexpr (std::is_same_v<T, yamux::stream_opened>) {
              opened.push_back(v.id);
            } else if constexpr (std::is_same_v<T, yamux::stream_read_closed>) {
              ++fins;
            } else if constexpr (std::is_same_v<T, yamux::go_away_received>) {
              go_away = v.code;
            }
          },
          std::get<yamux::event>(*e));
    }
  }

  crypto::seeded_rng rng;
  crypto::ed25519_keypair id;
  conn::connection core;
  std::optional<conn::established> established;
  std::vector<yamux::stream_id> opened;
  bytes received;
  int fins = 0;
  std::optional<std::uint32_t> go_away;
  std::error_code err;
};

class conn_pair : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }

  /// Moves bytes both ways, `chunk` bytes per feed, until neither side has output.
  /// Returns the number of rounds it took (bounded).
  int pump(side& a, side& b, std::size_t chunk = SIZE_MAX) {
    int rounds = 0;
    for (; rounds < 100; ++rounds) {
      bytes ab, ba;
      a.core.poll_transmit(ab);
      b.core.poll_transmit(ba);
      if (ab.empty() && ba.empty()) break;
      deliver(ab, b, chunk);
      deliver(ba, a, chunk);
      a.drain();
      b.drain();
    }
    return rounds;
  }
  void deliver(const bytes& data, side& to, std::size_t chunk) {
    for (std::size_t off = 0; off < data.size(); off += chunk) {
      const std::size_t n = std::min(chunk, data.size() - off);
      bytes piece(data.begin() + static_cast<std::ptrdiff_t>(off),
                  data.begin() + static_cast<std::ptrdiff_t>(off + n));
      auto r = inplace ? to.core.feed_inplace(piece, now) : to.core.feed(piece, now);
      if (inplace) std::fill(piece.begin(), piece.end(), 0xdd);  // the core may not keep views
      if (!r) {
        if (!to.err) to.err = r.error();
        return;
      }
    }
  }

  time_point now = time_point(1000s);
  bool inplace = false;  ///< deliver through feed_inplace (decrypt in the input buffer)
};

TEST_F(conn_pair, handshake_all_early_muxer_combinations) {
  for (int mask = 0; mask < 4; ++mask) {
    const bool de = mask & 1, le = mask & 2;
    side d(conn::direction::outbound, 1 + mask, now, de);
    side l(conn::direction::inbound, 100 + mask, now, le);
    pump(d, l);
    ASSERT_FALSE(d.err) << d.err.message();
    ASSERT_FALSE(l.err) << l.err.message();
    ASSERT_TRUE(d.established && l.established) << "mask " << mask;
    EXPECT_TRUE(d.core.is_established());
    EXPECT_TRUE(l.core.is_established());
    EXPECT_EQ(d.established->early_muxer, de && le) << "mask " << mask;
    EXPECT_EQ(l.established->early_muxer, de && le) << "mask " << mask;
    EXPECT_EQ(d.established->remote_identity, l.id.pub);
    EXPECT_EQ(l.established->remote_identity, d.id.pub);
    EXPECT_EQ(d.core.next_deadline(), no_deadline);  // no handshake timer, no keep-alive
  }
}

TEST_F(conn_pair, lazy_dialer_sends_noise_before_the_echo) {
  for (bool early : {true, false}) {
    side d(conn::direction::outbound, 7, now, early, /*lazy=*/true);
    side l(conn::direction::inbound, 8, now, early);
    bytes first;
    d.core.poll_transmit(first);
    const std::string mss_part = "\x13/multistream/1.0.0\n\x07/noise\n";
    ASSERT_GT(first.size(), mss_part.size());  // Noise message 1 follows at once
    EXPECT_EQ(std::string(as_chars(first).substr(0, mss_part.size())), mss_part);
    // The listener gets it all in one read.
    ASSERT_TRUE(l.core.feed(first, now));
    pump(d, l);
    ASSERT_FALSE(d.err || l.err);
    ASSERT_TRUE(d.established && l.established);
    EXPECT_EQ(d.established->early_muxer, early);
  }
}

TEST_F(conn_pair, handshake_and_data_survive_any_split_fed_in_place) {
  inplace = true;
  for (std::size_t chunk : {1u, 2u, 3u, 13u, 64u, 1000u, 70000u}) {
    side d(conn::direction::outbound, chunk, now, true);
    side l(conn::direction::inbound, chunk + 50, now, true);
    pump(d, l, chunk);
    ASSERT_FALSE(d.err || l.err) << chunk;
    ASSERT_TRUE(d.established && l.established) << chunk;
    auto id = d.core.mux()->open_stream();
    ASSERT_TRUE(id);
    std::string msg(100000, 'x');  // several Noise frames
    for (std::size_t i = 0; i < msg.size(); ++i)
      msg[i] = static_cast<char>('a' + i % 26);
    ASSERT_EQ(*d.core.mux()->write(*id, as_bytes(msg)), msg.size());
    pump(d, l, chunk);
    ASSERT_FALSE(d.err || l.err) << chunk;
    EXPECT_EQ(std::string(as_chars(l.received)), msg) << chunk;
  }
}

TEST_F(conn_pair, handshake_and_data_survive_any_split) {
  for (std::size_t chunk : {1u, 2u, 3u, 5u, 7u, 12u, 13u, 31u, 64u, 100u, 1000u}) {
    for (bool early : {true, false}) {
      side d(conn::direction::outbound, chunk, now, early);
      side l(conn::direction::inbound, chunk + 50, now, early);
      pump(d, l, chunk);
      ASSERT_FALSE(d.err || l.err) << chunk;
      ASSERT_TRUE(d.established && l.established) << chunk;
      auto id = d.core.mux()->open_stream();
      ASSERT_TRUE(id);
      std::string msg(3000, 'x');
      for (std::size_t i = 0; i < msg.size(); ++i)
        msg[i] = static_cast<char>('a' + i % 26);
      ASSERT_EQ(*d.core.mux()->write(*id, as_bytes(msg)), msg.size());
      pump(d, l, chunk);
      ASSERT_EQ(l.opened.size(), 1u) << chunk;
      EXPECT_EQ(std::string(as_chars(l.received)), msg) << chunk;
    }
  }
}

TEST_F(conn_pair, expected_remote_mismatch_fails_the_dialer) {
  crypto::seeded_rng other(99);
  const auto wrong = crypto::ed25519_generate(other).pub;
  side d(conn::direction::outbound, 1, now, true, false, wrong);
  side l(conn::direction::inbound, 2, now);
  pump(d, l);
  EXPECT_EQ(d.err, noise::errc::peer_id_mismatch);
  EXPECT_FALSE(d.established);
  EXPECT_TRUE(d.core.finished());
  EXPECT_EQ(d.core.error(), noise::errc::peer_id_mismatch);
  // Dead: further input is refused with the same error.
  EXPECT_EQ(d.core.feed(as_bytes(std::string("x")), now).error(), noise::errc::peer_id_mismatch);
  // The listener never completes.
  EXPECT_FALSE(l.established);
}

TEST_F(conn_pair, expected_remote_match_succeeds) {
  crypto::seeded_rng lrng(2);
  const auto right = crypto::ed25519_generate(lrng).pub;
  side d(conn::direction::outbound, 1, now, true, false, right);
  side l(conn::direction::inbound, 2, now);
  ASSERT_EQ(l.id.pub, right);
  pump(d, l);
  EXPECT_FALSE(d.err || l.err);
  EXPECT_TRUE(d.established && l.established);
}

TEST_F(conn_pair, handshake_timeout_fires_via_on_deadline) {
  side l(conn::direction::inbound, 2, now);
  EXPECT_EQ(l.core.next_deadline(), now + 5s);
  EXPECT_TRUE(l.core.on_deadline(now + 4s));  // early call: nothing happens
  EXPECT_FALSE(l.core.finished());
  auto r = l.core.on_deadline(now + 5s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), conn::errc::handshake_timeout);
  EXPECT_TRUE(l.core.finished());
  EXPECT_EQ(l.core.next_deadline(), no_deadline);

  // A dialer stuck half-way (listener answers mss but never Noise) times out too.
  side d(conn::direction::outbound, 3, now);
  bytes out;
  d.core.poll_transmit(out);
  ASSERT_TRUE(d.core.feed(as_bytes(std::string("\x13/multistream/1.0.0\n\x07/noise\n")), now));
  EXPECT_EQ(d.core.on_deadline(now + 6s).error(), conn::errc::handshake_timeout);
}

TEST_F(conn_pair, garbage_fails_cleanly_at_every_stage) {
  // An HTTP request: 'G' reads as a 71-byte mss message, which is not newline-terminated.
  std::string garbage = "GET / HTTP/1.1\r\nHost: example.org\r\n";
  garbage.resize(80, 'x');
  side l(conn::direction::inbound, 2, now);
  auto r = l.core.feed(as_bytes(garbage), now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category(), mss::category());
  EXPECT_TRUE(l.core.finished());

  // Garbage in place of Noise message 1 (after a proper mss exchange).
  side l2(conn::direction::inbound, 3, now);
  std::string msg = "\x13/multistream/1.0.0\n\x07/noise\n";
  msg += std::string("\x00\x05hello", 7);
  auto r2 = l2.core.feed(as_bytes(msg), now);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().category(), noise::category());

  // Garbage after the handshake: the Noise frame fails to decrypt.
  side d(conn::direction::outbound, 4, now);
  side l3(conn::direction::inbound, 5, now);
  pump(d, l3);
  ASSERT_TRUE(l3.established);
  auto r3 = l3.core.feed(as_bytes(std::string("\x00\x20", 2) + std::string(32, 'z')), now);
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error(), noise::errc::decrypt_failed);
  EXPECT_TRUE(l3.core.finished());
}

TEST_F(conn_pair, stream_round_trip_and_half_close) {
  side d(conn::direction::outbound, 1, now);
  side l(conn::direction::inbound, 2, now);
  pump(d, l);
  ASSERT_TRUE(d.core.mux() && l.core.mux());
  auto id = d.core.mux()->open_stream();
  ASSERT_TRUE(id);
  ASSERT_TRUE(d.core.mux()->write(*id, as_bytes(std::string("ping?"))));
  ASSERT_TRUE(d.core.mux()->close_write(*id));
  pump(d, l);
  ASSERT_EQ(l.opened.size(), 1u);
  EXPECT_EQ(l.opened[0], *id);
  EXPECT_EQ(std::string(as_chars(l.received)), "ping?");
  EXPECT_EQ(l.fins, 1);
  ASSERT_TRUE(l.core.mux()->write(*id, as_bytes(std::string("pong!"))));
  pump(d, l);
  EXPECT_EQ(std::string(as_chars(d.received)), "pong!");
}

TEST_F(conn_pair, close_sends_go_away_and_finishes) {
  side d(conn::direction::outbound, 1, now);
  side l(conn::direction::inbound, 2, now);
  pump(d, l);
  ASSERT_TRUE(d.established && l.established);
  EXPECT_FALSE(d.core.finished());
  d.core.close();
  EXPECT_FALSE(d.core.finished());  // GoAway not handed out yet
  bytes out;
  d.core.poll_transmit(out);
  EXPECT_FALSE(out.empty());
  EXPECT_TRUE(d.core.finished());
  ASSERT_TRUE(l.core.feed(out, now));
  l.drain();
  ASSERT_TRUE(l.go_away);
  EXPECT_EQ(*l.go_away, 0u);
  EXPECT_FALSE(d.core.error());
}

TEST_F(conn_pair, close_during_handshake_finishes_at_once) {
  side d(conn::direction::outbound, 1, now);
  d.core.close();
  EXPECT_TRUE(d.core.finished());
  EXPECT_EQ(d.core.feed(as_bytes(std::string("x")), now).error(), conn::errc::closed);
}

// ---- the initiator's hold (Yamux output waits for the responder's first Yamux frame) ----

conn::config hold_cfg(conn::direction dir, bool early = true) {
  conn::config c = side::make_cfg(dir, early, false, std::nullopt);
  c.mux_hold = 100ms;
  return c;
}

TEST_F(conn_pair, initiator_holds_yamux_until_the_responders_first_frame) {
  for (bool early : {true, false}) {
    side d(hold_cfg(conn::direction::outbound, early), 1, now);
    side l(hold_cfg(conn::direction::inbound, early), 2, now);
    pump(d, l);
    ASSERT_TRUE(d.established && l.established) << early;
    EXPECT_TRUE(d.core.holding_mux_output());
    EXPECT_FALSE(l.core.holding_mux_output());  // the responder never holds
    EXPECT_EQ(d.core.next_deadline(), now + 100ms);

    auto id = d.core.mux()->open_stream();
    ASSERT_TRUE(id);
    ASSERT_TRUE(d.core.mux()->write(*id, as_bytes(std::string("early"))));
    bytes out;
    d.core.poll_transmit(out);
    EXPECT_TRUE(out.empty()) << "Yamux bytes left while holding";
    EXPECT_TRUE(d.core.on_deadline(now + 99ms));  // before the hold deadline: still held
    d.core.poll_transmit(out);
    EXPECT_TRUE(out.empty());

    // The responder opens a stream (as identify does): its SYN releases the dialer.
    auto lid = l.core.mux()->open_stream();
    ASSERT_TRUE(lid);
    bytes syn;
    l.core.poll_transmit(syn);
    ASSERT_FALSE(syn.empty());
    ASSERT_TRUE(d.core.feed(syn, now + 1ms));
    d.drain();
    EXPECT_FALSE(d.core.holding_mux_output());
    EXPECT_EQ(d.core.next_deadline(), no_deadline);
    pump(d, l);
    ASSERT_FALSE(d.err || l.err);
    ASSERT_EQ(l.opened.size(), 1u);
    EXPECT_EQ(l.opened[0], *id);
    EXPECT_EQ(std::string(as_chars(l.received)), "early");
  }
}

TEST_F(conn_pair, final_handshake_message_is_never_held_and_yamux_never_rides_on_it) {
  for (bool early : {true, false}) {
    side d(hold_cfg(conn::direction::outbound, early), 3, now);
    side l(hold_cfg(conn::direction::inbound, early), 4, now);
    // Run the handshake by hand; the dialer opens a stream the moment it is established.
    bool opened = false;
    // (Without the early muxer the dialer is established one round trip later, after the echo.)
    for (int i = 0; i < 20 && !(l.established && opened); ++i) {
      bytes ab, ba;
      d.core.poll_transmit(ab);
      l.core.poll_transmit(ba);
      deliver(ba, d, SIZE_MAX);
      d.drain();
      if (d.established && !opened) {
        opened = true;
        auto id = d.core.mux()->open_stream();
        ASSERT_TRUE(id);
        ASSERT_TRUE(d.core.mux()->write(*id, as_bytes(std::string("x"))));
        d.core.poll_transmit(ab);  // message 3 (or the muxer proposal) and nothing of Yamux
      }
      deliver(ab, l, SIZE_MAX);
      l.drain();
    }
    ASSERT_FALSE(d.err || l.err) << early;
    ASSERT_TRUE(opened && l.established) << early;
    EXPECT_TRUE(l.opened.empty()) << "a Yamux frame rode on the handshake";
    EXPECT_TRUE(d.core.holding_mux_output());
  }
}

TEST_F(conn_pair, hold_ends_at_its_deadline_when_the_responder_stays_silent) {
  side d(hold_cfg(conn::direction::outbound), 5, now);
  side l(hold_cfg(conn::direction::inbound), 6, now);
  pump(d, l);
  ASSERT_TRUE(d.established && l.established);
  auto id = d.core.mux()->open_stream();
  ASSERT_TRUE(id);
  ASSERT_TRUE(d.core.mux()->write(*id, as_bytes(std::string("late"))));
  EXPECT_EQ(d.core.next_deadline(), now + 100ms);
  ASSERT_TRUE(d.core.on_deadline(now + 100ms));
  EXPECT_FALSE(d.core.holding_mux_output());
  bytes out;
  d.core.poll_transmit(out);
  ASSERT_FALSE(out.empty());
  ASSERT_TRUE(l.core.feed(out, now + 100ms));
  l.drain();
  ASSERT_EQ(l.opened.size(), 1u);
  EXPECT_EQ(std::string(as_chars(l.received)), "late");
}

TEST_F(conn_pair, responder_output_is_never_held) {
  side d(hold_cfg(conn::direction::outbound), 7, now);
  side l(hold_cfg(conn::direction::inbound), 8, now);
  // Up to message 3: the responder is established and has heard nothing of Yamux.
  for (int i = 0; i < 20 && !l.established; ++i) {
    bytes ab, ba;
    d.core.poll_transmit(ab);
    l.core.poll_transmit(ba);
    deliver(ab, l, SIZE_MAX);
    deliver(ba, d, SIZE_MAX);
    d.drain();
    l.drain();
  }
  ASSERT_TRUE(l.established);
  EXPECT_FALSE(l.core.holding_mux_output());
  auto id = l.core.mux()->open_stream();
  ASSERT_TRUE(id);
  bytes out;
  l.core.poll_transmit(out);
  EXPECT_FALSE(out.empty());
}

TEST_F(conn_pair, close_while_holding_sends_the_go_away) {
  side d(hold_cfg(conn::direction::outbound), 9, now);
  side l(hold_cfg(conn::direction::inbound), 10, now);
  pump(d, l);
  ASSERT_TRUE(d.core.holding_mux_output());
  auto id = d.core.mux()->open_stream();
  ASSERT_TRUE(id);
  ASSERT_TRUE(d.core.mux()->write(*id, as_bytes(std::string("bye"))));
  d.core.close();
  bytes out;
  d.core.poll_transmit(out);
  EXPECT_TRUE(d.core.finished());
  ASSERT_TRUE(l.core.feed(out, now));
  l.drain();
  EXPECT_EQ(std::string(as_chars(l.received)), "bye");  // queued data goes before the GoAway
  ASSERT_TRUE(l.go_away);
  EXPECT_EQ(*l.go_away, 0u);
}

TEST_F(conn_pair, two_default_cores_need_no_hold_deadline) {
  // With Yamux's ping on start (the node's default) the responder writes at once.
  conn::config dc = hold_cfg(conn::direction::outbound), lc = hold_cfg(conn::direction::inbound);
  dc.mux.ping_on_start = lc.mux.ping_on_start = true;
  side d(dc, 11, now);
  side l(lc, 12, now);
  pump(d, l);
  ASSERT_TRUE(d.established && l.established);
  auto id = d.core.mux()->open_stream();
  ASSERT_TRUE(id);
  ASSERT_TRUE(d.core.mux()->write(*id, as_bytes(std::string("now"))));
  // What the shell does: the start ping is due at once (a deadline in the past); the clock
  // never moves, so the hold deadline never passes.
  for (int i = 0; i < 5 && l.received.empty(); ++i) {
    for (side* s : {&d, &l}) {
      if (s->core.next_deadline() <= now) {
        ASSERT_TRUE(s->core.on_deadline(now));
      }
    }
    pump(d, l);
  }
  EXPECT_FALSE(d.core.holding_mux_output());
  EXPECT_EQ(std::string(as_chars(l.received)), "now");
}

}  // namespace
