// Hybrid logical clock: stamps strictly increase, counters run within a tick, remote stamps
// pull the clock forward, stamps too far ahead are refused, NTP conversions round-trip.
#include <gtest/gtest.h>

#include "core/data/hlc.hpp"

using namespace starling::data;
using namespace std::chrono_literals;

TEST(DataHlc, NtpConversionsRoundTrip) {
  // 2026-12-06T00:00:00Z is 1796515200 s after the Unix epoch.
  const auto t = std::chrono::seconds(1796515200) + 250ms;
  const std::uint64_t ntp = ntp64_from_unix(t);
  EXPECT_EQ(ntp >> 32, 1796515200ULL + 2208988800ULL);
  EXPECT_EQ(ntp & 0xffffffffULL, 0x40000000ULL);  // a quarter second
  EXPECT_EQ(unix_from_ntp64(ntp), t);
  EXPECT_EQ(format_ntp64(ntp), "2026-12-06T00:00:00.250000000Z");
  EXPECT_EQ(unix_from_ntp64(0), 0ns);
  EXPECT_EQ(ntp64_span(1s), 1ULL << 32);
  EXPECT_EQ(ntp64_span(-5s), 0u);
}

TEST(DataHlc, StampsIncreaseWithinAndAcrossTicks) {
  hlc c;
  const std::uint64_t t0 = ntp64_from_unix(std::chrono::seconds(1'800'000'000));
  const std::uint64_t a = c.stamp(t0);
  EXPECT_EQ(a & counter_mask, 0u);
  // The physical clock does not move (or moves less than a tick): the counter runs.
  const std::uint64_t b = c.stamp(t0);
  const std::uint64_t d = c.stamp(t0 + 3);
  EXPECT_EQ(b, a + 1);
  EXPECT_EQ(d, a + 2);
  // The physical clock goes back: stamps still increase.
  EXPECT_EQ(c.stamp(t0 - (1ULL << 32)), a + 3);
  // It moves on a whole tick: back to counter 0 at the new tick.
  const std::uint64_t later = t0 + ntp64_span(1ms);
  EXPECT_EQ(c.stamp(later), later & ~counter_mask);
}

TEST(DataHlc, RemoteStampsPullTheClockForward) {
  hlc c;
  const std::uint64_t now = ntp64_from_unix(std::chrono::seconds(1'800'000'000));
  const std::uint64_t remote = now + ntp64_span(100ms);
  ASSERT_TRUE(c.update(remote, now));
  EXPECT_GT(c.stamp(now), remote);
  // An older remote stamp changes nothing.
  const std::uint64_t last = c.last();
  ASSERT_TRUE(c.update(now - ntp64_span(10s), now));
  EXPECT_EQ(c.last(), last);
}

TEST(DataHlc, StampsTooFarAheadAreRefused) {
  hlc c(500ms);
  const std::uint64_t now = ntp64_from_unix(std::chrono::seconds(1'800'000'000));
  const std::uint64_t before = c.stamp(now);
  auto r = c.update(now + ntp64_span(501ms), now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(hlc_errc::too_far_ahead));
  EXPECT_EQ(r.error().message(), "timestamp too far in the future");
  EXPECT_EQ(c.last(), before);  // unchanged
  EXPECT_TRUE(c.update(now + ntp64_span(499ms), now));
}
