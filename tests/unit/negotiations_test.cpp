// conn::negotiations: the bound on inbound streams in multistream-select and the deadline of
// every negotiating stream, under a fake clock.
#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "core/conn/negotiations.hpp"

using namespace starling;
using namespace std::chrono_literals;

namespace {

const time_point t0 = time_point{} + 1000s;

yamux::stream_id sid(std::uint32_t n) {
  return yamux::stream_id{n};
}

conn::negotiations make(std::size_t max_inbound, clock_duration timeout) {
  return conn::negotiations(conn::negotiation_limits{max_inbound, timeout});
}

}  // namespace

TEST(Negotiations, EmptyHasNoDeadlineAndExpiresNothing) {
  auto n = make(4, 10s);
  EXPECT_EQ(n.next_deadline(), no_deadline);
  EXPECT_TRUE(n.expire(t0 + 1h).empty());
  EXPECT_EQ(n.timeouts(), 0u);
}

TEST(Negotiations, InboundLimitRefusesAndAdmitsAgainAfterOneLeaves) {
  auto n = make(2, 10s);
  EXPECT_TRUE(n.admit_inbound(sid(2), t0));
  EXPECT_TRUE(n.admit_inbound(sid(4), t0));
  EXPECT_FALSE(n.admit_inbound(sid(6), t0));
  EXPECT_FALSE(n.tracking(sid(6)));
  EXPECT_EQ(n.refused(), 1u);
  EXPECT_EQ(n.inbound(), 2u);
  n.leave(sid(2));  // negotiated
  EXPECT_EQ(n.inbound(), 1u);
  EXPECT_TRUE(n.admit_inbound(sid(8), t0 + 1s));
  EXPECT_EQ(n.refused(), 1u);
}

TEST(Negotiations, OutboundStreamsAreNotBoundedNorCountedAsInbound) {
  auto n = make(1, 10s);
  for (std::uint32_t i = 1; i < 100; i += 2)
    n.start_outbound(sid(i), t0);
  EXPECT_EQ(n.size(), 50u);
  EXPECT_EQ(n.inbound(), 0u);
  EXPECT_TRUE(n.admit_inbound(sid(2), t0));
  EXPECT_FALSE(n.admit_inbound(sid(4), t0));
}

TEST(Negotiations, ExpiresAtTheDeadlineNotBefore) {
  auto n = make(4, 10s);
  ASSERT_TRUE(n.admit_inbound(sid(2), t0));
  EXPECT_EQ(n.next_deadline(), t0 + 10s);
  EXPECT_TRUE(n.expire(t0 + 10s - 1ns).empty());
  EXPECT_TRUE(n.tracking(sid(2)));
  EXPECT_EQ(n.expire(t0 + 10s), std::vector{sid(2)});
  EXPECT_FALSE(n.tracking(sid(2)));
  EXPECT_EQ(n.inbound(), 0u);
  EXPECT_EQ(n.timeouts(), 1u);
  EXPECT_EQ(n.next_deadline(), no_deadline);
}

TEST(Negotiations, ExpiryIsInDeadlineOrderThenOpeningOrder) {
  auto n = make(8, 10s);
  n.start_outbound(sid(5), t0 + 2s);
  ASSERT_TRUE(n.admit_inbound(sid(4), t0 + 1s));
  ASSERT_TRUE(n.admit_inbound(sid(2), t0 + 1s));  // same deadline as 4, opened later
  n.start_outbound(sid(1), t0);
  EXPECT_EQ(n.next_deadline(), t0 + 10s);
  // Only what is due comes out; the rest waits for its own deadline.
  EXPECT_EQ(n.expire(t0 + 11s), (std::vector{sid(1), sid(4), sid(2)}));
  EXPECT_EQ(n.next_deadline(), t0 + 12s);
  EXPECT_EQ(n.expire(t0 + 60s), std::vector{sid(5)});
  EXPECT_EQ(n.timeouts(), 4u);
  EXPECT_EQ(n.size(), 0u);
}

TEST(Negotiations, StreamLeavingEarlyNeitherExpiresNorHoldsTheDeadline) {
  auto n = make(4, 10s);
  ASSERT_TRUE(n.admit_inbound(sid(2), t0));
  n.start_outbound(sid(1), t0 + 3s);
  n.leave(sid(2));
  EXPECT_EQ(n.next_deadline(), t0 + 13s);  // the one that left no longer counts
  EXPECT_TRUE(n.expire(t0 + 12s).empty());
  EXPECT_EQ(n.expire(t0 + 13s), std::vector{sid(1)});
  EXPECT_EQ(n.timeouts(), 1u);
  n.leave(sid(1));  // already gone: nothing happens
  n.leave(sid(99));
  EXPECT_EQ(n.size(), 0u);
}

TEST(Negotiations, ManyShortNegotiationsBehindASlowOneStayBounded) {
  // A peer that keeps one stream parked while opening and finishing thousands of others must
  // not grow the bookkeeping: finished streams are forgotten at once.
  auto n = make(2, 10s);
  ASSERT_TRUE(n.admit_inbound(sid(2), t0));
  for (std::uint32_t i = 4; i < 20000; i += 2) {
    ASSERT_TRUE(n.admit_inbound(sid(i), t0 + 1ms));
    n.leave(sid(i));
  }
  EXPECT_EQ(n.size(), 1u);
  EXPECT_EQ(n.inbound(), 1u);
  EXPECT_EQ(n.expire(t0 + 10s), std::vector{sid(2)});
}

TEST(Negotiations, AdmittingATrackedIdKeepsItsDeadline) {
  auto n = make(1, 10s);
  ASSERT_TRUE(n.admit_inbound(sid(2), t0));
  EXPECT_TRUE(n.admit_inbound(sid(2), t0 + 5s));
  EXPECT_EQ(n.inbound(), 1u);
  EXPECT_EQ(n.next_deadline(), t0 + 10s);
}

TEST(Negotiations, ClearForgetsStreamsButKeepsCounters) {
  auto n = make(1, 1s);
  ASSERT_TRUE(n.admit_inbound(sid(2), t0));
  EXPECT_FALSE(n.admit_inbound(sid(4), t0));
  EXPECT_EQ(n.expire(t0 + 1s).size(), 1u);
  ASSERT_TRUE(n.admit_inbound(sid(6), t0 + 1s));
  n.clear();
  EXPECT_EQ(n.size(), 0u);
  EXPECT_EQ(n.inbound(), 0u);
  EXPECT_EQ(n.next_deadline(), no_deadline);
  EXPECT_EQ(n.refused(), 1u);
  EXPECT_EQ(n.timeouts(), 1u);
  EXPECT_TRUE(n.admit_inbound(sid(8), t0 + 2s));
}
