#pragma once
/// The bookkeeping of a connection's streams that are still agreeing on their protocol
/// (multistream-select): the bound on inbound ones and the deadline of every one. Sans-I/O:
/// the caller passes `now` and acts on the answers (resets the streams that timed out or were
/// refused). node::connection drives it; the mss state machines themselves stay per stream.

#include <cstddef>
#include <cstdint>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/common/time.hpp"
#include "core/yamux/frame.hpp"

namespace starling::conn {

/// Bounds of stream negotiation on one connection.
struct negotiation_limits {
  /// Inbound streams negotiating at once at most; more are refused (the peer may not park
  /// streams in negotiation without bound). Outbound ones are ours and not counted.
  std::size_t max_inbound = 32;
  /// A stream must agree on its protocol within this time after it was opened.
  clock_duration timeout = std::chrono::seconds(10);
};

/// Streams in negotiation, ordered by deadline. Memory is bounded by the streams tracked: a
/// stream that leaves is forgotten at once.
class negotiations {
 public:
  explicit negotiations(negotiation_limits limits = {}) : m_limits(limits) {}

  /// The peer opened stream `id` at `now`. True: it is tracked until leave() or its deadline.
  /// False: max_inbound inbound streams are negotiating already (counted in refused()); the
  /// caller resets the stream. An id already tracked is admitted without a new deadline.
  bool admit_inbound(yamux::stream_id id, time_point now);
  /// We opened stream `id` at `now`: tracked (no limit) until leave() or its deadline.
  void start_outbound(yamux::stream_id id, time_point now);
  /// Stream `id` agreed on its protocol, was reset or closed: no longer tracked. Idempotent;
  /// an unknown id is ignored.
  void leave(yamux::stream_id id);

  /// The earliest deadline of a tracked stream; `no_deadline` if none.
  time_point next_deadline() const noexcept;
  /// Streams whose deadline is at or before `now`, earliest deadline first (equal deadlines in
  /// the order the streams were opened). They are no longer tracked and counted in timeouts();
  /// the caller resets each.
  std::vector<yamux::stream_id> expire(time_point now);

  /// Forgets every stream (the connection closed); the counters stay.
  void clear() noexcept;

  /// Streams tracked, in both directions.
  std::size_t size() const noexcept { return m_streams.size(); }
  /// Inbound streams tracked (bounded by max_inbound).
  std::size_t inbound() const noexcept { return m_inbound; }
  /// True while `id` is tracked.
  bool tracking(yamux::stream_id id) const noexcept { return m_streams.count(id) != 0; }
  /// Inbound streams refused by admit_inbound() so far.
  std::uint64_t refused() const noexcept { return m_refused; }
  /// Streams handed out by expire() so far.
  std::uint64_t timeouts() const noexcept { return m_timeouts; }
  const negotiation_limits& limits() const noexcept { return m_limits; }

 private:
  struct tracked {
    time_point deadline;
    std::uint64_t order;
    bool inbound;
  };
  void track(yamux::stream_id id, time_point now, bool inbound);

  negotiation_limits m_limits;
  std::unordered_map<yamux::stream_id, tracked> m_streams;
  /// (deadline, opening order, id) of every tracked stream.
  std::set<std::tuple<time_point, std::uint64_t, yamux::stream_id>> m_by_deadline;
  std::size_t m_inbound = 0;
  std::uint64_t m_next_order = 0;
  std::uint64_t m_refused = 0;
  std::uint64_t m_timeouts = 0;
};

}  // namespace starling::conn
