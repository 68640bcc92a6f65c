#pragma once
/// Private to the data engine's translation units (engine.cpp, engine_samples.cpp,
/// engine_reliability.cpp, engine_queries.cpp): the limits and timings of
/// docs/protocols/data.md and the engine's private state types.

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/abuse/token_bucket.hpp"
#include "core/data/engine.hpp"

namespace starling::data {

namespace detail {

/// Frames are closed at this size; a single message may take one over it.
inline constexpr std::size_t batch_bytes = 64 * 1024;
/// Output lanes of a link (engine::link::lane).
inline constexpr std::size_t lane_count = 5;
/// Samples queued for one link beyond which it is congested: a relay drops further samples
/// for it (counted; reliable ones are repaired end to end later), a blocking publisher's
/// put() is refused with would_block.
inline constexpr std::size_t max_link_backlog = 8 * 1024 * 1024;
/// The longest run of frames a lane sends raw, untried, after frames that did not compress.
inline constexpr std::uint32_t max_zstd_pause = 64;

inline std::size_t lane_of(priority p) {
  return 1 + static_cast<std::size_t>(p);
}
/// Sources whose targets one key caches.
inline constexpr std::size_t max_sources_per_key = 8;

// Reliability (docs/protocols/data.md, "Reliability").
/// Samples of one reliable publisher kept for repair, and their payload bytes.
inline constexpr std::size_t history_samples = 1024;
inline constexpr std::size_t history_bytes = 4 * 1024 * 1024;
/// A history slot keeps its buffer for reuse up to this capacity.
inline constexpr std::size_t history_keep_capacity = 4096;
/// Out-of-order samples held for in-order delivery, over all publishers of a node.
inline constexpr std::size_t hold_samples = 1024;
inline constexpr std::size_t hold_bytes = 4 * 1024 * 1024;
/// Repair requests for one gap: the first at once, then after nack_interval, doubling (a
/// request or its repair may wait out TCP retransmissions on every hop); after nack_tries
/// unanswered, about 3 s, the gap is given up.
inline constexpr clock_duration nack_interval = std::chrono::milliseconds(200);
inline constexpr int nack_tries = 5;
/// Holes asked for in one round of nacks of one stream.
inline constexpr std::size_t nacks_per_round = 16;
/// Heartbeats of a publisher after its last sample.
inline constexpr clock_duration heartbeat_after[] = {
    std::chrono::milliseconds(20), std::chrono::milliseconds(200), std::chrono::seconds(1)};
/// A heartbeat is forwarded again only after this long (breaks loops of changing routes).
inline constexpr clock_duration heartbeat_refresh = std::chrono::milliseconds(100);
/// Receive state of a publisher is collected after this long without traffic.
inline constexpr clock_duration stream_idle = std::chrono::seconds(60);
inline constexpr clock_duration sweep_interval = std::chrono::seconds(10);
/// Receive states held; when full, idle ones (no gap) are dropped.
inline constexpr std::size_t max_streams = 65536;

// Queries.
/// Our queries pending at once.
inline constexpr std::size_t max_pending_queries = 1024;
/// Incoming queries being answered by local queryables at once; past it, a node answers
/// "final" at once.
inline constexpr std::size_t max_incoming_queries = 4096;
/// The longest an incoming query is held for its queryables.
inline constexpr clock_duration max_query_timeout = std::chrono::minutes(5);

/// One sample kept by its source for repair.
struct history_entry {
  std::uint64_t seq = 0;
  std::uint64_t timestamp = 0;
  std::uint8_t flags = 0;
  std::string encoding;
  bytes payload;
};

}  // namespace detail

struct engine::link {
  peer_id peer;
  bool got_hello = false;
  bool dirty = false;
  bool zstd = false;  ///< both ends offered compression: large frames go compressed
  frame_reader reader;
  /// Output by lane: 0 protocol messages (hello, aliases, records, nacks, repairs, queries,
  /// replies), then samples by priority: 1 control, 2 real-time, 3 data, 4 background.
  /// Lane 0 always goes out at the next drain; the others as the link has room, in order.
  struct lane {
    frame_writer writer;
    bool writing = false;
    std::size_t incompressible = 0;  ///< payload bytes of the open frame already compressed
    /// Frames still to send raw without trying zstd, and the length of the last such pause:
    /// after a frame that did not shrink by an eighth, the next 1, 2, 4 ... 64 frames of the
    /// lane are not tried, so incompressible data (random, encrypted, unlabelled media) costs
    /// a trial per 64 frames, not one per frame. A frame that shrinks ends the pause.
    std::uint32_t zstd_skip = 0;
    std::uint32_t zstd_pause = 0;
    std::deque<bytes> frames;  ///< finished frames not yet drained
    std::size_t queued = 0;    ///< bytes in `frames`
    // Key aliases: each lane declares and uses its own range of aliases, in its own order,
    // so that a lane drained later never changes what an alias means for another lane.
    string_map<std::uint64_t> tx_keys;
    std::vector<std::string> tx_key_of;  ///< by alias - base: the key it stands for now
    std::vector<std::uint8_t> key_used;  ///< by alias - base: used since the hand passed
    std::uint64_t key_hand = 0;          ///< the next slot considered for reuse
  };
  std::array<lane, detail::lane_count> lanes;
  /// Bytes of samples waiting for room (lanes 1-4, frames and open batches).
  std::size_t backlog() const {
    std::size_t n = 0;
    for (std::size_t i = 1; i < detail::lane_count; ++i) {
      n += lanes[i].queued + (lanes[i].writing ? lanes[i].writer.body_size() : 0);
    }
    return n;
  }
  std::unordered_map<peer_id, std::uint64_t> tx_nodes;
  std::uint64_t next_node = 1;
  string_map<std::uint64_t> tx_keys;
  std::uint64_t next_key = 1;
  std::vector<std::string> tx_key_of;            ///< by alias: the key it stands for now
  std::vector<std::uint8_t> key_used;            ///< by alias: used since the clock hand passed
  std::uint64_t key_hand = 1;                    ///< the next alias considered for reuse
  std::vector<std::optional<peer_id>> rx_nodes;  ///< by alias
  std::vector<std::string> rx_keys;              ///< by alias; "" = not declared
  /// Ingress decisions on samples, by key alias (engine::requirement_met): the node right for
  /// the last two (node alias, operation) asked (two sources on one key, or put and del,
  /// alternate without a miss), and the relay's own right. Valid while `generation` is the
  /// engine's access generation and `epoch` the link's rx_epoch.
  struct rx_right {
    std::uint64_t generation = 0;
    std::uint64_t epoch = 0;
    struct slot {
      std::uint64_t node = 0;
      std::uint8_t op = 0;
      bool used = false;
      bool ok = false;
    };
    std::array<slot, 2> slots{};
    std::uint8_t next = 0;  ///< the slot the next miss replaces
    std::uint64_t relay_generation = 0;
    std::uint8_t relay_op = 0;
    bool relay_ok = false;
  };
  std::vector<rx_right> rx_rights;  ///< by key alias
  /// Bumps when a node alias is declared again (cached decisions name nodes by alias).
  std::uint64_t rx_epoch = 1;
  /// Queries this neighbour may still send (engine_options::queries_per_second).
  abuse::token_bucket query_budget{0, 0};
};

struct engine::publisher {
  std::string key;
  publisher_options opts;
  std::uint64_t seq = 0;
  // Implicit publishers (put on a key without a declared publisher): collected when idle.
  bool implicit = false;
  std::list<std::uint64_t>::iterator lru;  ///< in m_implicit_lru
  time_point used{};                       ///< the last put
  // History ring of the last samples (reliable publishers): slots reused, so a steady
  // stream of samples allocates nothing once the ring has grown.
  std::vector<detail::history_entry> ring;
  std::size_t first = 0;  ///< slot of the oldest sample
  std::size_t count = 0;
  std::size_t bytes_held = 0;  ///< payload bytes of the samples held (the 4 MiB rule)
  std::size_t buffers = 0;     ///< capacity of the slots' payload buffers, plus encodings
  /// Memory the history takes: its slots and their buffers.
  std::size_t footprint() const {
    return ring.capacity() * sizeof(detail::history_entry) + buffers;
  }
  // Access: may this node publish on `key` (access generation of the answer; 0: none).
  std::uint64_t access_generation = 0;
  bool may_put = true;
  bool may_del = true;
  // Heartbeats.
  time_point last_put{};
  int hb_stage = 3;  ///< heartbeats sent since last_put (3: none due)
  bool hb_armed = false;

  void remember(std::uint64_t s, std::uint64_t ts, std::uint8_t flags, std::string_view enc,
                bytes_view payload) {
    while (count > 0 && (count == detail::history_samples ||
                         bytes_held + payload.size() > detail::history_bytes))
      evict();
    const std::size_t slot = (first + count) % detail::history_samples;
    if (slot == ring.size()) ring.emplace_back();
    detail::history_entry& e = ring[slot];
    buffers -= e.payload.capacity() + e.encoding.size();
    e.seq = s;
    e.timestamp = ts;
    e.flags = flags;
    e.encoding.assign(enc);
    e.payload.assign(payload.begin(), payload.end());
    buffers += e.payload.capacity() + e.encoding.size();
    bytes_held += payload.size();
    ++count;
  }
  void evict() {
    detail::history_entry& e = ring[first];
    bytes_held -= e.payload.size();
    buffers -= e.payload.capacity();
    if (e.payload.capacity() > detail::history_keep_capacity) {
      bytes().swap(e.payload);
    } else {
      e.payload.clear();
    }
    buffers += e.payload.capacity();
    first = (first + 1) % detail::history_samples;
    --count;
  }
  const detail::history_entry* find(std::uint64_t s) const {
    if (count == 0) return nullptr;
    const std::uint64_t oldest = ring[first].seq;
    if (s < oldest || s - oldest >= count) return nullptr;
    return &ring[(first + static_cast<std::size_t>(s - oldest)) % detail::history_samples];
  }
};

struct engine::queryable {
  keyexpr::keyexpr expr;
  bool complete = false;
};

/// One of our queries, until it ends.
struct engine::pending_query {
  std::vector<peer_id> remaining;  ///< asked nodes that have not finished
  time_point deadline{};
  data::consolidation consolidate = data::consolidation::none;
  query_result result;
  struct kept {
    bytes payload;
    std::string encoding;
    std::uint64_t timestamp = 0;
    peer_id from;
    bool error = false;
  };
  std::map<std::string, kept> latest;  ///< consolidation::latest, by key
  // A query our own queryables answer runs at the next on_deadline(), not inside get().
  bool local_due = false;
  std::optional<keyexpr::keyexpr> selector;
  query_target target = query_target::all;
  std::string parameters;
  std::optional<bytes> payload;
  clock_duration timeout{};
};

/// A query our queryables are answering.
struct engine::incoming_query {
  peer_id origin;
  std::uint64_t qid = 0;
  std::optional<keyexpr::keyexpr> selector;
  int open = 0;  ///< queryables that have not called reply_final
  time_point deadline{};
};

/// A sample held until the ones before it arrive.
struct engine::held_sample {
  std::string key;
  std::string encoding;
  bytes payload;
  std::uint64_t timestamp = 0;
  std::uint8_t flags = 0;
};

/// What a node knows of one (source, publisher) it receives from.
struct engine::stream {
  const peer_id* source = nullptr;  ///< the map key's, stable while the stream exists
  std::uint64_t publisher = 0;
  // Forwarding: a sliding window of the sequence numbers seen.
  std::uint64_t highest = 0;
  std::uint64_t highest_ts = 0;  ///< the timestamp of sample `highest`
  std::uint64_t seen = 0;        ///< bit i: highest - i was seen
  // In-order delivery to local subscribers (reliable publishers).
  bool delivering = false;
  std::uint64_t next = 0;  ///< the next sequence number to deliver
  std::map<std::uint64_t, held_sample> held;
  std::size_t held_bytes = 0;
  priority prio = priority::data;  ///< of the last sample (heartbeats follow on its lane)
  std::uint64_t announced = 0;     ///< the last sequence number a heartbeat announced
  bool gapped = false;
  int nack_count = 0;
  time_point nack_due = no_deadline;
  /// The publisher ended (publisher_end): the state goes once nothing up to its last
  /// sample (`announced`) is missing or the gap is given up.
  bool ended = false;
  // Heartbeat forwarding.
  std::uint64_t hb_seq = 0;
  time_point hb_time{};
  time_point last_activity{};

  /// Marks `s` seen; false when it was seen before or is too old to tell.
  bool accept(std::uint64_t s) {
    if (s > highest) {
      const std::uint64_t shift = s - highest;
      seen = shift >= 64 ? 0 : seen << shift;
      seen |= 1;
      highest = s;
      return true;
    }
    const std::uint64_t d = highest - s;
    if (d >= 64) return false;
    const std::uint64_t bit = std::uint64_t{1} << d;
    if (seen & bit) return false;
    seen |= bit;
    return true;
  }
};

struct engine::subscriber {
  keyexpr::keyexpr expr;
};

struct engine::key_state {
  std::uint64_t local_generation = UINT64_MAX;
  std::vector<std::uint64_t> local_subs;
  std::uint64_t route_generation = UINT64_MAX;
  std::uint64_t access_generation = 0;    ///< of `targets` (neighbours allowed to receive)
  std::vector<std::uint64_t> interested;  ///< node numbers, sorted
  std::vector<std::pair<peer_id, std::vector<peer_id>>> targets;  ///< per source
};

}  // namespace starling::data
