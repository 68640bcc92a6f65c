// node::metrics: what each stream event a connection reports adds to the host's counters.
#include <gtest/gtest.h>

#include "node/metrics.hpp"

using namespace starling;
using node::stream_event;

TEST(Metrics, EachStreamEventCountsItsOwnCounter) {
  node::metrics m;
  m.count(stream_event::opened_inbound);
  m.count(stream_event::opened_outbound);
  m.count(stream_event::opened_outbound);
  m.count(stream_event::reset_by_peer);
  m.count(stream_event::reset_locally);
  m.count(stream_event::refused);
  EXPECT_EQ(m.streams_opened_inbound, 1u);
  EXPECT_EQ(m.streams_opened_outbound, 2u);
  EXPECT_EQ(m.streams_reset_by_peer, 1u);
  EXPECT_EQ(m.streams_reset_locally, 1u);
  EXPECT_EQ(m.streams_refused, 1u);
  EXPECT_EQ(m.stream_negotiation_failures, 0u);
  EXPECT_EQ(m.stream_negotiation_timeouts, 0u);
}

TEST(Metrics, NegotiationTimeoutIsAlsoANegotiationFailure) {
  node::metrics m;
  m.count(stream_event::negotiation_timed_out);
  m.count(stream_event::negotiation_failed);
  EXPECT_EQ(m.stream_negotiation_timeouts, 1u);
  EXPECT_EQ(m.stream_negotiation_failures, 2u);
  EXPECT_EQ(m.streams_refused, 0u);
}

namespace {
/// A sink as a connection sees it, recording into a metrics struct.
class recording_sink final : public node::metrics_sink {
 public:
  void count(stream_event e) noexcept override { m.count(e); }
  node::metrics m;
};
}  // namespace

TEST(Metrics, SinkInterfaceForwards) {
  recording_sink s;
  node::metrics_sink& sink = s;
  sink.count(stream_event::refused);
  EXPECT_EQ(s.m.streams_refused, 1u);
}
