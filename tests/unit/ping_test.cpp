#include <gtest/gtest.h>

#include "core/ping/ping.hpp"

using namespace starling;
using namespace std::chrono_literals;

namespace {
const time_point t0 = time_point(1000s);
}

TEST(Ping, ClientServerRoundTripEverySplit) {
  ASSERT_TRUE(crypto::init());
  crypto::seeded_rng rng(7);
  ping::client c;
  ping::server s;
  for (std::size_t at = 0; at <= ping::payload_size; ++at) {
    const time_point start = t0 + std::chrono::seconds(at);
    ASSERT_TRUE(c.start(start, rng));
    EXPECT_TRUE(c.in_flight());
    EXPECT_EQ(c.next_deadline(), start + 10s);
    bytes sent;
    c.poll_transmit(sent);
    ASSERT_EQ(sent.size(), 32u);
    bytes again;
    c.poll_transmit(again);
    EXPECT_TRUE(again.empty()) << "sent once";
    // The server echoes only complete payloads.
    ASSERT_TRUE(s.feed(bytes_view(sent).first(at)));
    bytes echo;
    s.poll_transmit(echo);
    if (at < 32) {
      EXPECT_TRUE(echo.empty());
      EXPECT_EQ(s.idle(), at == 0);
    }
    ASSERT_TRUE(s.feed(bytes_view(sent).subspan(at)));
    s.poll_transmit(echo);
    ASSERT_EQ(echo, sent);
    EXPECT_TRUE(s.idle());
    // The client sees the echo split too.
    ASSERT_TRUE(c.feed(bytes_view(echo).first(at), start + 3ms));
    if (at < 32) {
      EXPECT_FALSE(c.poll_event());
    }
    ASSERT_TRUE(c.feed(bytes_view(echo).subspan(at), start + 5ms));
    auto rtt = c.poll_event();
    ASSERT_TRUE(rtt);
    EXPECT_EQ(*rtt, at == 32 ? 3ms : 5ms) << "measured when the last byte arrives";
    EXPECT_FALSE(c.poll_event()) << "reported once";
    EXPECT_FALSE(c.in_flight());
    EXPECT_EQ(c.next_deadline(), no_deadline);
  }
}

TEST(Ping, PayloadsDiffer) {
  ASSERT_TRUE(crypto::init());
  crypto::seeded_rng rng(1);
  ping::client c;
  bytes a, b;
  ASSERT_TRUE(c.start(t0, rng));
  c.poll_transmit(a);
  ASSERT_TRUE(c.feed(a, t0 + 1ms));
  ASSERT_TRUE(c.start(t0 + 1s, rng));
  c.poll_transmit(b);
  EXPECT_NE(a, b);
}

TEST(Ping, Mismatch) {
  crypto::seeded_rng rng(2);
  ping::client c;
  ASSERT_TRUE(c.start(t0, rng));
  bytes sent;
  c.poll_transmit(sent);
  sent[31] ^= 1;
  ASSERT_TRUE(c.feed(bytes_view(sent).first(31), t0));
  EXPECT_EQ(c.feed(bytes_view(sent).subspan(31), t0).error(), ping::errc::mismatch);
  EXPECT_EQ(c.start(t0, rng).error(), ping::errc::mismatch) << "final";
}

TEST(Ping, UnexpectedAndBusy) {
  crypto::seeded_rng rng(3);
  ping::client c;
  EXPECT_EQ(c.feed(bytes{1}, t0).error(), ping::errc::unexpected_data);
  ping::client c2;
  ASSERT_TRUE(c2.start(t0, rng));
  EXPECT_EQ(c2.start(t0, rng).error(), ping::errc::busy);
  bytes sent;
  c2.poll_transmit(sent);
  sent.push_back(0);
  EXPECT_EQ(c2.feed(sent, t0).error(), ping::errc::unexpected_data) << "33 bytes for one ping";
}

TEST(Ping, Timeout) {
  crypto::seeded_rng rng(4);
  ping::client c(2s);
  EXPECT_TRUE(c.on_deadline(t0 + 100s)) << "nothing outstanding";
  ASSERT_TRUE(c.start(t0, rng));
  EXPECT_EQ(c.next_deadline(), t0 + 2s);
  EXPECT_TRUE(c.on_deadline(t0 + 1999ms));
  EXPECT_EQ(c.on_deadline(t0 + 2s).error(), ping::errc::timeout);
  EXPECT_EQ(c.next_deadline(), no_deadline);
}

TEST(Ping, ServerEchoesSeveralAndBoundsBacklog) {
  ping::server s;
  bytes in(32 * 3 + 5);
  for (std::size_t i = 0; i < in.size(); ++i)
    in[i] = static_cast<std::uint8_t>(i);
  ASSERT_TRUE(s.feed(in));
  bytes out;
  s.poll_transmit(out);
  EXPECT_EQ(out, bytes(in.begin(), in.begin() + 96));
  EXPECT_FALSE(s.idle());
  ping::server flooded;
  EXPECT_TRUE(flooded.feed(bytes(ping::server::max_backlog, 0)));
  EXPECT_EQ(flooded.feed(bytes(32, 0)).error(), ping::errc::backlog);
}
