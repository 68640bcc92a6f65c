#pragma once
/// Misbehaviour scores and temporary bans (issue 14, "Abuse"): a sans-I/O core the host feeds
/// with what its layers saw a peer do wrong, and asks whether a peer is banned.
///
/// Each offence adds its weight to the peer's score; the score decays linearly (forgiveness
/// per second), so occasional mistakes (a frame cut by a crash, a sample sent just before a
/// policy change arrived) never add up, while a steady stream of them does. When the score
/// reaches ban_score the peer is banned for first_ban, doubled for each further ban (up to
/// max_ban), and its score starts again from zero; the count of bans is forgotten after
/// forget_after without offences. Memory is bounded: at most max_peers peers are tracked;
/// when full, the entry with the lowest score that is not banned makes room (a flood of new
/// identities cannot evict a ban).
///
/// Time is passed in (time_point, the caller's monotonic clock); nothing here reads a clock.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "core/common/time.hpp"
#include "core/multiformats/peer_id.hpp"

namespace starling::abuse {

using multiformats::peer_id;

/// What a peer did wrong.
enum class offence : std::uint8_t {
  malformed,         ///< a frame or message that does not parse (protocol error)
  bad_signature,     ///< a signature that does not verify (log entries, certificates)
  access_violation,  ///< a message its roles do not allow (dropped by an access check)
  flood,             ///< more than a rate limit allows (queries, log entries, perf requests)
  refused_entry,     ///< a membership log entry refused for another reason
};
inline constexpr std::size_t offence_count = 5;

/// The name of an offence, for logs and metrics ("malformed", "access_violation", ...).
std::string_view name(offence o) noexcept;

/// Weights, thresholds and bounds.
struct scoreboard_config {
  /// Points per offence, by enum order: malformed, bad_signature, access_violation, flood,
  /// refused_entry.
  std::array<double, offence_count> weights{25, 50, 2, 10, 10};
  double ban_score = 100;         ///< a score this high bans the peer
  double forgive_per_second = 1;  ///< points forgiven per second
  clock_duration first_ban = std::chrono::minutes(1);
  clock_duration max_ban = std::chrono::hours(24);
  clock_duration forget_after = std::chrono::hours(24);  ///< ban count kept this long
  std::size_t max_peers = 4096;
};

/// What report() did.
struct report_result {
  double score = 0;           ///< the score after the offence (0 right after a ban)
  bool banned_now = false;    ///< this offence started a ban
  time_point banned_until{};  ///< when the ban ends (banned_now, or already banned)
  std::uint32_t bans = 0;     ///< bans of this peer so far (within forget_after)
};

/// The scores of the peers of one node.
class scoreboard {
 public:
  explicit scoreboard(scoreboard_config cfg = {}) : m_cfg(cfg) {}

  /// `peer` committed `o`, `count` times, at `now`.
  report_result report(const peer_id& peer, offence o, time_point now, std::uint32_t count = 1);
  /// When `peer`'s ban ends, if it is banned at `now`.
  std::optional<time_point> banned_until(const peer_id& peer, time_point now) const;
  /// Peers banned at `now`.
  std::size_t banned(time_point now) const;
  /// The peer's score at `now` (0 for an unknown peer).
  double score(const peer_id& peer, time_point now) const;
  /// Peers tracked.
  std::size_t size() const noexcept { return m_peers.size(); }
  /// Drops entries with nothing left to remember (score decayed to 0, no ban running, no
  /// offence within forget_after).
  void sweep(time_point now);

 private:
  struct entry {
    double score = 0;
    time_point scored_at{};
    time_point last_offence{};
    time_point banned_until{};
    std::uint32_t bans = 0;
  };
  double decayed(const entry& e, time_point now) const;
  void make_room(time_point now);

  scoreboard_config m_cfg;
  std::unordered_map<peer_id, entry> m_peers;
};

}  // namespace starling::abuse
