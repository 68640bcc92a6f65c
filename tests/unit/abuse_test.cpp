// Misbehaviour scores, temporary bans and token buckets (core/abuse), on a fake clock.
#include <gtest/gtest.h>

#include "core/abuse/scoreboard.hpp"
#include "core/abuse/token_bucket.hpp"

using namespace starling;
using namespace starling::abuse;
using namespace std::chrono_literals;

namespace {

peer_id peer(std::uint8_t n) {
  bytes key(36, 0);
  key[0] = 0x08;
  key[1] = 0x01;
  key[2] = 0x12;
  key[3] = 0x20;
  key[4] = n;
  key[5] = static_cast<std::uint8_t>(n >> 8);
  return *peer_id::from_encoded_public_key(key);
}

}  // namespace

TEST(AbuseScores, OffencesAddUpToABanThatEnds) {
  scoreboard sb;
  time_point t{};
  // Four malformed frames (25 each) in a row: banned at the fourth.
  for (int i = 0; i < 3; ++i) {
    auto r = sb.report(peer(1), offence::malformed, t);
    EXPECT_FALSE(r.banned_now);
    EXPECT_FALSE(sb.banned_until(peer(1), t));
  }
  auto r = sb.report(peer(1), offence::malformed, t);
  EXPECT_TRUE(r.banned_now);
  EXPECT_EQ(r.banned_until, t + 1min);
  EXPECT_EQ(r.bans, 1u);
  EXPECT_EQ(sb.banned(t), 1u);
  EXPECT_FALSE(sb.banned_until(peer(2), t)) << "only that peer";
  // Offences during the ban change nothing.
  EXPECT_FALSE(sb.report(peer(1), offence::bad_signature, t + 10s).banned_now);
  EXPECT_EQ(sb.banned_until(peer(1), t + 59s), t + 1min);
  EXPECT_FALSE(sb.banned_until(peer(1), t + 1min));
  EXPECT_EQ(sb.banned(t + 1min), 0u);
}

TEST(AbuseScores, OccasionalMistakesAreForgiven) {
  scoreboard sb;
  time_point t{};
  // An access violation (2 points) every 3 s forever never bans: 1 point a second is
  // forgiven.
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(sb.report(peer(1), offence::access_violation, t).banned_now) << i;
    t += 3s;
  }
  EXPECT_LE(sb.score(peer(1), t), 2.0);
  // 50 at once do.
  EXPECT_TRUE(sb.report(peer(1), offence::access_violation, t, 50).banned_now);
}

TEST(AbuseScores, RepeatedBansDoubleUpToTheMaximumAndAreForgottenLater) {
  scoreboard_config cfg;
  cfg.max_ban = 5min;
  scoreboard sb(cfg);
  time_point t{};
  std::vector<clock_duration> lengths;
  for (int i = 0; i < 5; ++i) {
    auto r = sb.report(peer(1), offence::bad_signature, t, 2);
    ASSERT_TRUE(r.banned_now);
    lengths.push_back(r.banned_until - t);
    t = r.banned_until;
  }
  EXPECT_EQ(lengths, (std::vector<clock_duration>{1min, 2min, 4min, 5min, 5min}));
  // A day without offences: the next ban is a first one again.
  t += 25h;
  EXPECT_EQ(sb.report(peer(1), offence::bad_signature, t, 2).banned_until - t, 1min);
}

TEST(AbuseScores, MemoryIsBoundedAndBansSurviveAFloodOfNewPeers) {
  scoreboard_config cfg;
  cfg.max_peers = 8;
  scoreboard sb(cfg);
  time_point t{};
  ASSERT_TRUE(sb.report(peer(1), offence::bad_signature, t, 2).banned_now);
  for (int i = 2; i < 500; ++i)
    sb.report(peer(static_cast<std::uint8_t>(i % 250 + 2)), offence::access_violation, t);
  EXPECT_LE(sb.size(), 8u);
  EXPECT_TRUE(sb.banned_until(peer(1), t + 30s)) << "a ban is never evicted";
  sb.sweep(t + 48h);
  EXPECT_EQ(sb.size(), 0u);
}

TEST(AbuseScores, Names) {
  EXPECT_EQ(name(offence::malformed), "malformed");
  EXPECT_EQ(name(offence::access_violation), "access_violation");
  EXPECT_EQ(name(offence::flood), "flood");
}

TEST(AbuseBucket, RateAndBurst) {
  token_bucket b(10, 5);  // 10 a second, 5 at once
  time_point t{};
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(b.take(t)) << i;
  EXPECT_FALSE(b.take(t));
  EXPECT_FALSE(b.take(t + 50ms));  // half a token
  EXPECT_TRUE(b.take(t + 100ms));
  EXPECT_FALSE(b.take(t + 100ms));
  // A long pause saves no more than the burst.
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(b.take(t + 1h)) << i;
  EXPECT_FALSE(b.take(t + 1h));
  // A clock that goes back takes nothing and gives nothing.
  EXPECT_FALSE(b.take(t));
}
