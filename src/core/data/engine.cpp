#include "core/data/engine.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <list>
#include <map>

namespace starling::data {

namespace {

class engine_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "data.engine"; }
  std::string message(int c) const override {
    switch (static_cast<engine_errc>(c)) {
      case engine_errc::unknown_publisher:
        return "unknown publisher";
      case engine_errc::not_a_key:
        return "a key may not contain wildcards";
      case engine_errc::unknown_link:
        return "no data link to that peer";
      case engine_errc::no_hello:
        return "data stream does not start with hello";
      case engine_errc::bad_hello:
        return "bad hello (version or node id)";
      case engine_errc::unknown_alias:
        return "message uses an undeclared alias";
      case engine_errc::bad_record:
        return "invalid node record";
      case engine_errc::unknown_query:
        return "no such query (it ended or expired)";
      case engine_errc::reply_key_mismatch:
        return "the reply's key does not match the query's selector";
      case engine_errc::too_many_queries:
        return "too many queries pending";
      case engine_errc::bad_parameters:
        return "query parameters over 4 KiB";
      case engine_errc::would_block:
        return "a link towards a subscriber is congested (try again when it has room)";
    }
    return "unknown data engine error";
  }
};

/// Frames are closed at this size; a single message may take one over it.
constexpr std::size_t batch_bytes = 64 * 1024;
/// Output lanes of a link (engine::link::lane).
constexpr std::size_t lane_count = 5;
/// Samples queued for one link beyond which it is congested: a relay drops further samples
/// for it (counted; reliable ones are repaired end to end later), a blocking publisher's
/// put() is refused with would_block.
constexpr std::size_t max_link_backlog = 8 * 1024 * 1024;
/// The longest run of frames a lane sends raw, untried, after frames that did not compress.
constexpr std::uint32_t max_zstd_pause = 64;

std::size_t lane_of(priority p) {
  return 1 + static_cast<std::size_t>(p);
}
/// Sources whose targets one key caches.
constexpr std::size_t max_sources_per_key = 8;

// Reliability (docs/protocols/data.md, "Reliability").
/// Samples of one reliable publisher kept for repair, and their payload bytes.
constexpr std::size_t history_samples = 1024;
constexpr std::size_t history_bytes = 4 * 1024 * 1024;
/// A history slot keeps its buffer for reuse up to this capacity.
constexpr std::size_t history_keep_capacity = 4096;
/// Out-of-order samples held for in-order delivery, over all publishers of a node.
constexpr std::size_t hold_samples = 1024;
constexpr std::size_t hold_bytes = 4 * 1024 * 1024;
/// Repair requests for one gap: the first at once, then after nack_interval, doubling (a
/// request or its repair may wait out TCP retransmissions on every hop); after nack_tries
/// unanswered, about 3 s, the gap is given up.
constexpr clock_duration nack_interval = std::chrono::milliseconds(200);
constexpr int nack_tries = 5;
/// Holes asked for in one round of nacks of one stream.
constexpr std::size_t nacks_per_round = 16;
/// Heartbeats of a publisher after its last sample.
constexpr clock_duration heartbeat_after[] = {
    std::chrono::milliseconds(20), std::chrono::milliseconds(200), std::chrono::seconds(1)};
/// A heartbeat is forwarded again only after this long (breaks loops of changing routes).
constexpr clock_duration heartbeat_refresh = std::chrono::milliseconds(100);
/// Receive state of a publisher is collected after this long without traffic.
constexpr clock_duration stream_idle = std::chrono::seconds(60);
constexpr clock_duration sweep_interval = std::chrono::seconds(10);
/// Receive states held; when full, idle ones (no gap) are dropped.
constexpr std::size_t max_streams = 65536;

// Queries.
/// Our queries pending at once.
constexpr std::size_t max_pending_queries = 1024;
/// Incoming queries being answered by local queryables at once; past it, a node answers
/// "final" at once.
constexpr std::size_t max_incoming_queries = 4096;
/// The longest an incoming query is held for its queryables.
constexpr clock_duration max_query_timeout = std::chrono::minutes(5);

}  // namespace

const std::error_category& engine_category() noexcept {
  static const engine_category_impl c;
  return c;
}

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
  std::array<lane, lane_count> lanes;
  /// Bytes of samples waiting for room (lanes 1-4, frames and open batches).
  std::size_t backlog() const {
    std::size_t n = 0;
    for (std::size_t i = 1; i < lane_count; ++i) {
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
};

/// One sample kept by its source for repair.
struct history_entry {
  std::uint64_t seq = 0;
  std::uint64_t timestamp = 0;
  std::uint8_t flags = 0;
  std::string encoding;
  bytes payload;
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
  std::vector<history_entry> ring;
  std::size_t first = 0;  ///< slot of the oldest sample
  std::size_t count = 0;
  std::size_t bytes_held = 0;  ///< payload bytes of the samples held (the 4 MiB rule)
  std::size_t buffers = 0;     ///< capacity of the slots' payload buffers, plus encodings
  /// Memory the history takes: its slots and their buffers.
  std::size_t footprint() const { return ring.capacity() * sizeof(history_entry) + buffers; }
  // Heartbeats.
  time_point last_put{};
  int hb_stage = 3;  ///< heartbeats sent since last_put (3: none due)
  bool hb_armed = false;

  void remember(std::uint64_t s, std::uint64_t ts, std::uint8_t flags, std::string_view enc,
                bytes_view payload) {
    while (count > 0 && (count == history_samples || bytes_held + payload.size() > history_bytes))
      evict();
    const std::size_t slot = (first + count) % history_samples;
    if (slot == ring.size()) ring.emplace_back();
    history_entry& e = ring[slot];
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
    history_entry& e = ring[first];
    bytes_held -= e.payload.size();
    buffers -= e.payload.capacity();
    if (e.payload.capacity() > history_keep_capacity) {
      bytes().swap(e.payload);
    } else {
      e.payload.clear();
    }
    buffers += e.payload.capacity();
    first = (first + 1) % history_samples;
    --count;
  }
  const history_entry* find(std::uint64_t s) const {
    if (count == 0) return nullptr;
    const std::uint64_t oldest = ring[first].seq;
    if (s < oldest || s - oldest >= count) return nullptr;
    return &ring[(first + static_cast<std::size_t>(s - oldest)) % history_samples];
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
  std::vector<std::uint64_t> interested;                          ///< node numbers, sorted
  std::vector<std::pair<peer_id, std::vector<peer_id>>> targets;  ///< per source
};

engine::engine(peer_id self, std::uint64_t initial_version, engine_sink& sink, engine_options opts)
    : m_self(std::move(self)),
      m_sink(sink),
      m_opts(opts),
      m_compressor(opts.compress_level),
      m_routes(m_self, initial_version) {}

engine::~engine() = default;

engine::link* engine::find_link(const peer_id& peer) {
  auto it = m_links.find(peer);
  return it == m_links.end() ? nullptr : it->second.get();
}

std::size_t engine::backlog() const {
  std::size_t n = 0;
  for (const auto& [p, l] : m_links)
    n += l->backlog();
  return n;
}

std::vector<peer_id> engine::links() const {
  std::vector<peer_id> out;
  out.reserve(m_links.size());
  for (const auto& [p, l] : m_links)
    out.push_back(p);
  std::sort(out.begin(), out.end());
  return out;
}

bytes& engine::out_for(link& l, std::size_t lane_index) {
  auto& ln = l.lanes[lane_index];
  if (!ln.writing) {
    ln.writer.begin();
    ln.incompressible = 0;
    ln.writing = true;
  } else if (ln.writer.body_size() >= batch_bytes) {
    if (auto f = finish_frame(l, lane_index)) {
      ln.frames.emplace_back(f->begin(), f->end());
      ln.queued += ln.frames.back().size();
    }
    ln.writer.begin();
    ln.incompressible = 0;
  }
  if (!l.dirty) {
    l.dirty = true;
    m_dirty.push_back(&l);
  }
  return ln.writer.body();
}

void engine::drain_transmit(const std::function<void(const peer_id&, bytes_view)>& fn,
                            const std::function<std::size_t(const peer_id&)>& room) {
  sync_declarations();
  if (m_own_dirty) {
    m_own_dirty = false;
    flood_record(m_routes.own(), nullptr);
  }
  auto dirty = std::move(m_dirty);
  m_dirty.clear();
  for (link* l : dirty) {
    l->dirty = false;
    std::size_t budget = SIZE_MAX;
    bool left = false;
    for (std::size_t i = 0; i < lane_count; ++i) {
      auto& ln = l->lanes[i];
      if (i == 1 && room) budget = room(l->peer);  // lane 0 ignores the budget
      while (!ln.frames.empty() && budget > 0) {
        fn(l->peer, ln.frames.front());
        budget -= std::min(budget, ln.frames.front().size());
        ln.queued -= ln.frames.front().size();
        ln.frames.pop_front();
      }
      if (ln.writing && ln.writer.body_size() > 0) {
        const auto f = finish_frame(*l, i);
        if (!f) {
          ++m_stats.protocol_errors;  // cannot happen: frames close at batch_bytes
        } else if (ln.frames.empty() && budget > 0) {
          fn(l->peer, *f);  // the common case: one frame, no copy
          budget -= std::min(budget, f->size());
        } else {
          ln.frames.emplace_back(f->begin(), f->end());
          ln.queued += ln.frames.back().size();
        }
      }
      ln.writing = false;
      if (!ln.frames.empty()) left = true;
    }
    if (left) m_waiting.push_back(l);
  }
  // Links still holding samples are drained again when the caller has room (has_output()).
  for (link* l : m_waiting) {
    if (!l->dirty) {
      l->dirty = true;
      m_dirty.push_back(l);
    }
  }
  m_waiting.clear();
}

std::optional<bytes_view> engine::finish_frame(link& l, std::size_t lane_index) {
  auto& ln = l.lanes[lane_index];
  if (!ln.writer.finish()) return std::nullopt;
  const std::size_t body = ln.writer.body_size();
  const std::size_t compressible = body - std::min(body, ln.incompressible);
  if (!l.zstd || compressible < m_opts.compress_threshold) return ln.writer.frame();
  if (ln.incompressible > compressible) {
    ++m_stats.frames_left_raw;  // mostly payloads that are compressed already
    return ln.writer.frame();
  }
  const bytes_view raw = ln.writer.frame();
  if (ln.zstd_skip > 0) {
    --ln.zstd_skip;
    ++m_stats.frames_left_raw;  // the lane's recent frames did not compress
    return raw;
  }
  auto z = m_compressor.compress_frame(raw.subspan(raw.size() - body), m_zout);
  if (!z || z->size() * 8 > raw.size() * 7) {
    ln.zstd_pause =
        std::min<std::uint32_t>(max_zstd_pause, std::max<std::uint32_t>(1, ln.zstd_pause * 2));
    ln.zstd_skip = ln.zstd_pause;
  } else {
    ln.zstd_pause = 0;
  }
  if (!z) {
    ++m_stats.frames_left_raw;  // no smaller
    return raw;
  }
  ++m_stats.frames_compressed;
  m_stats.compress_bytes_in += raw.size();
  m_stats.compress_bytes_out += z->size();
  return z;
}

void engine::note_payload(link& l, std::size_t lane_index, std::string_view encoding,
                          std::size_t size) {
  if (!encoding.empty() && compressed_encoding(encoding))
    l.lanes[lane_index].incompressible += size;
}

std::uint64_t engine::node_alias_for(link& l, const peer_id& node) {
  if (node == m_self) return 0;
  if (auto it = l.tx_nodes.find(node); it != l.tx_nodes.end()) return it->second;
  if (l.next_node > max_alias) return UINT64_MAX;
  const std::uint64_t a = l.next_node++;
  l.tx_nodes.emplace(node, a);
  (void)encode(node_alias{a, node.bytes()}, out_for(l));
  return a;
}

std::uint64_t engine::key_alias_for(link& l, std::string_view key, std::size_t lane_index) {
  auto& ln = l.lanes[lane_index];
  const std::uint64_t per_lane = max_alias / lane_count;
  const std::uint64_t base = 1 + lane_index * per_lane;
  if (auto it = ln.tx_keys.find(key); it != ln.tx_keys.end()) {
    ln.key_used[it->second - base] = 1;
    return it->second;
  }
  std::uint64_t slot = 0;
  if (ln.tx_key_of.size() < per_lane) {
    slot = ln.tx_key_of.size();
    ln.tx_key_of.emplace_back();
    ln.key_used.push_back(0);
  } else {
    // The lane's range is full: reuse an alias not used lately (a clock sweep). The new
    // meaning is declared on this lane, after every earlier use of the old one.
    while (ln.key_used[ln.key_hand]) {
      ln.key_used[ln.key_hand] = 0;
      ln.key_hand = (ln.key_hand + 1) % per_lane;
    }
    slot = ln.key_hand;
    ln.key_hand = (ln.key_hand + 1) % per_lane;
    ln.tx_keys.erase(ln.tx_key_of[slot]);
    ++m_stats.aliases_reused;
  }
  const std::uint64_t a = base + slot;
  ln.tx_key_of[slot] = std::string(key);
  ln.key_used[slot] = 1;
  ln.tx_keys.emplace(std::string(key), a);
  (void)encode(key_alias{a, std::string(key)}, out_for(l, lane_index));
  return a;
}

// ---- links and records ----

void engine::link_up(const peer_id& peer, time_point now) {
  if (find_link(peer)) link_down(peer, now);
  auto l = std::make_unique<link>();
  l->peer = peer;
  link& ref = *l;
  ref.reader.accept_compressed(m_opts.compression);
  m_links.emplace(peer, std::move(l));
  (void)encode(
      hello{protocol_version, m_self.bytes(), m_opts.compression ? feature_zstd : 0, max_frame},
      out_for(ref));
  auto changed = m_routes.set_links(links(), now);
  if (changed && *changed) {
    flood_own();
  } else {
    send_record(ref, m_routes.own());
  }
  for (const node_record* r : m_routes.records()) {
    if (r->origin != m_self) send_record(ref, *r);
  }
  pump_routing();
}

void engine::link_down(const peer_id& peer, time_point now) {
  auto it = m_links.find(peer);
  if (it == m_links.end()) return;
  link* l = it->second.get();
  std::erase(m_dirty, l);
  m_links.erase(it);
  auto changed = m_routes.set_links(links(), now);
  if (changed && *changed) flood_own();
  pump_routing();
}

void engine::send_record(link& l, const node_record& r) {
  record_message m;
  m.origin = node_alias_for(l, r.origin);
  m.version = r.version;
  m.links.reserve(r.links.size());
  for (const auto& n : r.links)
    m.links.push_back(node_alias_for(l, n));
  if (m.origin == UINT64_MAX ||
      std::find(m.links.begin(), m.links.end(), UINT64_MAX) != m.links.end()) {
    ++m_stats.alias_exhausted;
    return;
  }
  m.decls.reserve(r.decls.size());
  for (const auto& d : r.decls) {
    m.decls.push_back(wire_decl{static_cast<std::uint8_t>(d.k), d.flags, d.expr});
  }
  if (!encode(m, out_for(l))) ++m_stats.protocol_errors;
}

void engine::flood_record(const node_record& r, const link* except) {
  for (auto& [p, l] : m_links) {
    if (l.get() != except) send_record(*l, r);
  }
}

void engine::flood_own() {
  // Sent at the next drain: a burst of changes (links coming up at start, many declarations)
  // floods one version of our record, not one per change.
  m_own_dirty = true;
}

void engine::pump_routing() {
  while (auto e = m_routes.poll_event()) {
    auto [it, fresh] = m_node_numbers.try_emplace(e->node, m_next_node_number);
    if (fresh) m_node_by_number.emplace(m_next_node_number++, e->node);
    const std::uint64_t number = it->second;
    for (const auto& d : e->removed) {
      auto x = keyexpr::keyexpr::parse(d.expr);
      if (!x) continue;
      if (d.k == declaration::kind::subscriber) m_remote_subs.erase(*x, number);
      if (d.k == declaration::kind::queryable) m_remote_qbls.erase(*x, number);
      if (d.k == declaration::kind::token) token_event(d.expr, e->node, false);
    }
    for (const auto& d : e->added) {
      auto x = keyexpr::keyexpr::parse(d.expr);
      if (!x) continue;
      if (d.k == declaration::kind::subscriber) m_remote_subs.insert(*x, number);
      if (d.k == declaration::kind::queryable) m_remote_qbls.insert(*x, number);
      if (d.k == declaration::kind::token) token_event(d.expr, e->node, true);
    }
    // Receive state of an unreachable source stays (routes may show a source unreachable
    // for a moment while the records of a changing mesh catch up): open gaps keep asking
    // until their tries run out, and the idle sweep collects it.
    if (e->k == routing_event::kind::unreachable) {
      // Queries waiting for it do not wait any longer.
      std::vector<std::uint64_t> waiting;
      for (const auto& [qid, q] : m_pending) {
        if (std::find(q->remaining.begin(), q->remaining.end(), e->node) != q->remaining.end())
          waiting.push_back(qid);
      }
      for (auto qid : waiting)
        node_finished(e->node, qid, true);
      m_node_by_number.erase(number);
      m_node_numbers.erase(it);
    }
    m_sink.on_routing_event(*e);
  }
}

void engine::update_declarations() {
  m_decls_dirty = true;
}

void engine::sync_declarations() {
  if (!m_decls_dirty) return;
  m_decls_dirty = false;
  std::vector<declaration> decls;
  decls.reserve(m_subs.size() + m_qbls.size() + m_tokens.size());
  for (const auto& [id, s] : m_subs) {
    decls.push_back(declaration{declaration::kind::subscriber, 0, s->expr.str()});
  }
  for (const auto& [id, q] : m_qbls) {
    decls.push_back(declaration{declaration::kind::queryable,
                                static_cast<std::uint8_t>(q->complete ? 1 : 0), q->expr.str()});
  }
  for (const auto& [id, key] : m_tokens) {
    decls.push_back(declaration{declaration::kind::token, 0, key});
  }
  auto changed = m_routes.set_declarations(std::move(decls));
  if (changed && *changed) flood_own();
}

result<void> engine::on_bytes(const peer_id& peer, bytes_view in, time_point now,
                              std::uint64_t physical_ntp) {
  link* l = find_link(peer);
  if (!l) return engine_errc::unknown_link;
  l->reader.feed(in);
  for (;;) {
    auto f = l->reader.next_frame();
    if (!f) {
      ++m_stats.protocol_errors;
      return f.error();
    }
    if (!*f) return {};
    bytes_view body = **f;
    if (l->reader.last_flags() & frame_compressed) {
      // Bounded like a raw frame's body; a corrupt frame or a bomb is refused, counted.
      if (auto d = m_decompressor.decompress(body, m_zin, max_frame - 1); !d) {
        ++m_stats.decompress_refused;
        ++m_stats.protocol_errors;
        return d.error();
      }
      ++m_stats.frames_decompressed;
      body = m_zin;
    }
    while (!body.empty()) {
      std::size_t used = 0;
      auto m = decode_message(body, used);
      if (!m) {
        ++m_stats.protocol_errors;
        return m.error();
      }
      if (auto r = handle(*l, *m, now, physical_ntp); !r) {
        ++m_stats.protocol_errors;
        return r.error();
      }
      body = body.subspan(used);
    }
  }
}

result<void> engine::handle(link& l, const message& m, time_point now, std::uint64_t physical_ntp) {
  if (!l.got_hello) {
    const auto* h = std::get_if<hello>(&m);
    if (!h) return engine_errc::no_hello;
    if (h->version != protocol_version || h->node != l.peer.bytes()) return engine_errc::bad_hello;
    l.got_hello = true;
    l.zstd = m_opts.compression && (h->features & feature_zstd) != 0;
    return {};
  }
  if (std::holds_alternative<hello>(m)) return engine_errc::bad_hello;  // only once
  if (const auto* a = std::get_if<node_alias>(&m)) {
    auto id = peer_id::from_bytes(a->node);
    if (!id) return id.error();
    if (l.rx_nodes.size() <= a->alias) l.rx_nodes.resize(a->alias + 1);
    l.rx_nodes[a->alias] = std::move(*id);
    return {};
  }
  if (const auto* k = std::get_if<key_alias>(&m)) {
    auto x = keyexpr::key::parse(k->key);
    if (!x) return make_error_code(errc::bad_value);
    if (l.rx_keys.size() <= k->alias) l.rx_keys.resize(k->alias + 1);
    l.rx_keys[k->alias] = x->str();
    return {};
  }
  if (const auto* r = std::get_if<record_message>(&m)) return handle_record(l, *r, now);
  if (const auto* p = std::get_if<push>(&m)) return handle_push(l, *p, now, physical_ntp);
  if (const auto* h = std::get_if<heartbeat>(&m)) return handle_heartbeat(l, *h, now);
  if (const auto* n = std::get_if<nack>(&m)) return handle_nack(l, *n, now);
  if (const auto* r = std::get_if<repair>(&m)) return handle_repair(l, *r, now);
  if (const auto* q = std::get_if<query>(&m)) return handle_query(l, *q, now);
  if (const auto* r = std::get_if<data::reply>(&m)) return handle_reply(l, *r);
  if (const auto* f = std::get_if<data::reply_final>(&m)) return handle_reply_final(l, *f);
  ++m_stats.unknown_messages;  // unknown, or not handled by this version yet
  return {};
}

const peer_id* engine::resolve_node(const link& l, std::uint64_t alias) const {
  if (alias == 0) return &l.peer;
  if (alias >= l.rx_nodes.size() || !l.rx_nodes[alias]) return nullptr;
  return &*l.rx_nodes[alias];
}

result<void> engine::handle_record(link& l, const record_message& m, time_point now) {
  auto resolve = [&](std::uint64_t alias) { return resolve_node(l, alias); };
  node_record r;
  const peer_id* origin = resolve(m.origin);
  if (!origin) return engine_errc::unknown_alias;
  r.origin = *origin;
  r.version = m.version;
  r.links.reserve(m.links.size());
  for (auto a : m.links) {
    const peer_id* n = resolve(a);
    if (!n) return engine_errc::unknown_alias;
    r.links.push_back(*n);
  }
  r.decls.reserve(m.decls.size());
  for (const auto& d : m.decls) {
    auto x = keyexpr::keyexpr::parse(d.expr);
    if (!x) return engine_errc::bad_record;
    r.decls.push_back(declaration{static_cast<declaration::kind>(d.kind), d.flags, x->str()});
  }
  const peer_id origin_id = r.origin;
  switch (m_routes.apply(std::move(r), now)) {
    case routing_table::outcome::stored:
      ++m_stats.records_stored;
      if (const node_record* stored = m_routes.find(origin_id)) flood_record(*stored, &l);
      break;
    case routing_table::outcome::own_bumped:
      flood_own();
      break;
    case routing_table::outcome::stale:
    case routing_table::outcome::full:
      break;
    case routing_table::outcome::invalid:
      return engine_errc::bad_record;
  }
  pump_routing();
  return {};
}

// ---- samples ----

engine::key_state& engine::key_entry(std::string_view key) {
  auto it = m_keys.find(key);
  if (it != m_keys.end()) return *it->second;
  // A key of the old generation moves to the current one (its state, on the heap, stays where
  // it is, so references to it stay valid); a new key gets a fresh entry.
  auto old = m_keys_old.find(key);
  decltype(m_keys)::node_type moved;
  if (old != m_keys_old.end()) {
    m_keys_old_bytes -= old->first.size();
    moved = m_keys_old.extract(old);
  }
  if (m_keys.size() >= max_cached_keys || m_keys_bytes + key.size() > max_cached_key_bytes) {
    // The current generation is full: it becomes the old one, the old one is dropped.
    m_keys_old = std::move(m_keys);
    m_keys_old_bytes = m_keys_bytes;
    m_keys.clear();
    m_keys_bytes = 0;
  }
  m_keys_bytes += key.size();
  if (moved) return *m_keys.insert(std::move(moved)).position->second;
  return *m_keys.emplace(std::string(key), std::make_unique<key_state>()).first->second;
}

const std::vector<peer_id>& engine::targets_for(key_state& ks, const peer_id& source) {
  // route_sample() refreshed ks.interested and cleared ks.targets for this generation.
  for (auto& [src, t] : ks.targets) {
    if (src == source) return t;
  }
  if (ks.targets.size() >= max_sources_per_key) ks.targets.clear();
  std::vector<peer_id> out;
  m_routes.forward_targets(
      source,
      [&](const node_record& rec) {
        auto it = m_node_numbers.find(rec.origin);
        return it != m_node_numbers.end() &&
               std::binary_search(ks.interested.begin(), ks.interested.end(), it->second);
      },
      out);
  ks.targets.emplace_back(source, std::move(out));
  return ks.targets.back().second;
}

const std::vector<std::uint64_t>& engine::local_subs_for(key_state& ks, std::string_view key) {
  if (ks.local_generation != m_local_generation) {
    ks.local_generation = m_local_generation;
    ks.local_subs.clear();
    if (auto k = keyexpr::key::parse(key)) {
      m_local_subs.for_each_match(*k, [&](std::uint64_t id) { ks.local_subs.push_back(id); });
    }
  }
  return ks.local_subs;
}

void engine::deliver_local(std::string_view key, const sample& s) {
  const auto& subs = local_subs_for(key_entry(key), key);
  // The sink may call back into the engine (publish, subscribe), which can change the cached
  // list: deliver from a copy when there is more than one subscription.
  if (subs.empty()) return;
  if (subs.size() == 1) {
    const std::uint64_t id = subs.front();
    ++m_stats.samples_delivered;
    m_sink.on_sample(id, s);
    return;
  }
  const std::vector<std::uint64_t> ids = subs;
  for (std::uint64_t id : ids) {
    if (!m_subs.count(id)) continue;  // undeclared by an earlier handler
    ++m_stats.samples_delivered;
    m_sink.on_sample(id, s);
  }
}

bool engine::send_push(link& l, const peer_id& source, std::string_view key, const push& p) {
  push q = p;
  q.source = node_alias_for(l, source);
  q.key = key_alias_for(l, key, lane_of(p.prio()));
  if (q.source == UINT64_MAX || q.key == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return false;
  }
  if (l.backlog() >= max_link_backlog) {
    ++m_stats.congestion_dropped;  // the link is not keeping up
    return false;
  }
  if (!encode(q, out_for(l, lane_of(p.prio())))) return false;
  note_payload(l, lane_of(p.prio()), q.encoding, q.payload.size());
  ++m_stats.samples_forwarded;
  return true;
}

const std::vector<peer_id>* engine::targets_for_key(const peer_id& source, std::string_view key) {
  key_state& ks = key_entry(key);
  if (ks.route_generation != m_routes.generation()) {
    ks.route_generation = m_routes.generation();
    ks.targets.clear();
    ks.interested.clear();
    if (auto k = keyexpr::key::parse(key)) {
      m_remote_subs.for_each_match(*k, [&](std::uint64_t n) { ks.interested.push_back(n); });
      std::sort(ks.interested.begin(), ks.interested.end());
      ks.interested.erase(std::unique(ks.interested.begin(), ks.interested.end()),
                          ks.interested.end());
    }
  }
  if (ks.interested.empty()) return nullptr;
  return &targets_for(ks, source);
}

void engine::route_sample(const peer_id& source, const link* from, std::string_view key,
                          const push& wire_sample) {
  const auto* targets = targets_for_key(source, key);
  if (!targets) return;
  for (const auto& t : *targets) {
    if (from && t == from->peer) continue;
    if (link* l = find_link(t)) send_push(*l, source, key, wire_sample);
  }
}

result<void> engine::handle_push(link& l, const push& m, time_point now,
                                 std::uint64_t physical_ntp) {
  const peer_id* source = resolve_node(l, m.source);
  if (!source || m.key >= l.rx_keys.size() || l.rx_keys[m.key].empty()) {
    return engine_errc::unknown_alias;
  }
  ++m_stats.samples_received;
  if (*source == m_self) {
    ++m_stats.duplicates;  // our own sample came back around a changing route
    return {};
  }
  if (!m_clock.update(m.timestamp, physical_ntp)) {
    ++m_stats.clock_refused;
    return {};
  }
  stream* st = stream_for(*source, m.publisher, now);
  if (m.seq <= st->highest && m.timestamp > st->highest_ts) {
    // Within one life of a source, stamps grow with sequence numbers: an older number with a
    // newer stamp means the source restarted and numbers its publishers anew.
    give_up_gaps(*st);
    const peer_id* keep = st->source;
    *st = stream{};
    st->source = keep;
    st->publisher = m.publisher;
    st->last_activity = now;
  }
  if (!st->accept(m.seq)) {
    ++m_stats.duplicates;
    return {};
  }
  if (m.seq == st->highest) st->highest_ts = m.timestamp;
  st->prio = m.prio();
  const std::string& key = l.rx_keys[m.key];
  route_sample(*source, &l, key, m);
  receive_ordered(*st, key, m, now, false);
  return {};
}

// ---- reliability ----

engine::stream* engine::stream_for(const peer_id& source, std::uint64_t pub, time_point now) {
  auto it = m_streams.find(seq_ref{source, pub});
  if (it == m_streams.end()) {
    if (m_streams.size() >= max_streams) {
      // Drop every state without a gap; their next samples start them over.
      const std::size_t before = m_streams.size();
      std::erase_if(m_streams, [](const auto& kv) { return !kv.second->gapped; });
      m_stats.streams_reset += before - m_streams.size();
    }
    it = m_streams.emplace(seq_key{source, pub}, std::make_unique<stream>()).first;
    it->second->source = &it->first.source;
    it->second->publisher = pub;
    if (m_next_sweep == no_deadline) m_next_sweep = now + sweep_interval;
  }
  it->second->last_activity = now;
  return it->second.get();
}

void engine::receive_ordered(stream& st, std::string_view key, const push& m, time_point now,
                             bool repaired) {
  const bool reliable = (m.flags & push_flags::reliable) != 0;
  const sample s{key,         m.payload, m.encoding,   (m.flags & push_flags::del) != 0,
                 m.timestamp, st.source, st.publisher, m.seq};
  if (!reliable) {
    // Best effort: deliver what arrives, in whatever order.
    if (!repaired) deliver_local(key, s);
    return;
  }
  if (local_subs_for(key_entry(key), key).empty()) return;  // a relay only
  if (!st.delivering) {
    st.delivering = true;  // delivery starts with the first sample this node gets
    st.next = m.seq;
  }
  if (m.seq < st.next || st.held.count(m.seq)) {
    if (repaired) ++m_stats.duplicates;
    return;
  }
  if (repaired) ++m_stats.samples_repaired;
  if (m.seq == st.next) {
    ++st.next;
    deliver_local(key, s);
    deliver_held(st);
    return;
  }
  // A gap: hold this one (bounded) and ask the source for the missing ones.
  if (m_held_count >= hold_samples || m_held_bytes + m.payload.size() > hold_bytes) {
    give_up_gaps(st);
    if (m.seq >= st.next) {
      st.next = m.seq + 1;
      deliver_local(key, s);
    }
    return;
  }
  held_sample h{std::string(key), std::string(m.encoding),
                bytes(m.payload.begin(), m.payload.end()), m.timestamp, m.flags};
  st.held_bytes += h.payload.size();
  m_held_bytes += h.payload.size();
  ++m_held_count;
  st.held.emplace(m.seq, std::move(h));
  open_gap(st, now);
}

void engine::open_gap(stream& st, time_point now) {
  if (st.gapped) return;
  st.gapped = true;
  st.nack_count = 0;
  ++m_stats.gaps;
  m_gapped.push_back(&st);
  send_nacks(st, now);
}

void engine::close_gap(stream& st) {
  if (!st.gapped) return;
  st.gapped = false;
  st.nack_due = no_deadline;
  std::erase(m_gapped, &st);
}

void engine::deliver_held(stream& st) {
  while (!st.held.empty() && st.held.begin()->first <= st.next) {
    auto node = st.held.extract(st.held.begin());
    const held_sample& h = node.mapped();
    st.held_bytes -= h.payload.size();
    m_held_bytes -= h.payload.size();
    --m_held_count;
    if (node.key() < st.next) continue;
    st.next = node.key() + 1;
    const sample s{h.key,       h.payload, h.encoding,   (h.flags & push_flags::del) != 0,
                   h.timestamp, st.source, st.publisher, node.key()};
    deliver_local(h.key, s);
  }
  if (st.held.empty() && st.announced < st.next) close_gap(st);
}

void engine::give_up_gaps(stream& st) {
  if (!st.delivering) return;
  // Skip every hole: what is held is delivered in order.
  std::uint64_t expect = st.next;
  for (const auto& [seq, h] : st.held) {
    if (seq > expect) m_stats.samples_lost += seq - expect;
    expect = seq + 1;
  }
  if (st.announced >= expect) {
    m_stats.samples_lost += st.announced - expect + 1;
    expect = st.announced + 1;
  }
  while (!st.held.empty()) {
    st.next = st.held.begin()->first;
    deliver_held(st);
  }
  st.next = std::max(st.next, expect);
  close_gap(st);
}

void engine::send_nacks(stream& st, time_point now) {
  st.nack_due = now + nack_interval * (1 << std::min(st.nack_count, nack_tries));
  ++st.nack_count;
  // One nack per hole between `next` and the highest held or announced sample.
  std::uint64_t expect = st.next;
  std::size_t sent = 0;
  auto ask = [&](std::uint64_t first, std::uint64_t count) {
    if (sent >= nacks_per_round) return;
    ++sent;
    nack n;
    n.publisher = st.publisher;
    n.first = first;
    n.count = std::min<std::uint64_t>(count, history_samples);
    send_unicast_nack(*st.source, m_self, n);
  };
  for (const auto& [seq, h] : st.held) {
    if (seq > expect) ask(expect, seq - expect);
    expect = seq + 1;
  }
  if (st.announced >= expect) ask(expect, st.announced - expect + 1);
}

engine::link* engine::unicast_link(const peer_id& dest) {
  auto hop = m_routes.next_hop(dest);
  link* l = hop ? find_link(*hop) : nullptr;
  if (!l) ++m_stats.unicast_dropped;
  return l;
}

void engine::send_unicast_nack(const peer_id& dest, const peer_id& requester, nack n) {
  link* l = unicast_link(dest);
  if (!l) return;
  n.dest = node_alias_for(*l, dest);
  n.requester = node_alias_for(*l, requester);
  if (n.dest == UINT64_MAX || n.requester == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  if (requester == m_self) ++m_stats.nacks_sent;
  (void)encode(n, out_for(*l));
}

void engine::send_unicast_repair(const peer_id& dest, const peer_id& source, std::string_view key,
                                 repair r) {
  link* l = unicast_link(dest);
  if (!l) return;
  r.dest = node_alias_for(*l, dest);
  r.sample.source = node_alias_for(*l, source);
  r.sample.key = key_alias_for(*l, key, 0);
  if (r.dest == UINT64_MAX || r.sample.source == UINT64_MAX || r.sample.key == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  if (encode(r, out_for(*l))) note_payload(*l, 0, r.sample.encoding, r.sample.payload.size());
}

result<void> engine::handle_heartbeat(link& l, const heartbeat& m, time_point now) {
  const peer_id* source = resolve_node(l, m.source);
  if (!source || m.key >= l.rx_keys.size() || l.rx_keys[m.key].empty()) {
    return engine_errc::unknown_alias;
  }
  if (*source == m_self) return {};
  stream* st = stream_for(*source, m.publisher, now);
  const std::string& key = l.rx_keys[m.key];
  // Down the source's tree like its samples; the same announcement only once in a while, so
  // that a heartbeat caught in a loop of changing routes dies out.
  if (m.last_seq != st->hb_seq || now - st->hb_time >= heartbeat_refresh) {
    st->hb_seq = m.last_seq;
    st->hb_time = now;
    if (const auto* targets = targets_for_key(*source, key)) {
      for (const auto& t : *targets) {
        if (t == l.peer) continue;
        if (link* out = find_link(t))
          send_heartbeat_on(*out, *source, key, m.publisher, m.last_seq, st->prio);
      }
    }
  }
  if (st->delivering && !local_subs_for(key_entry(key), key).empty()) {
    st->announced = std::max(st->announced, m.last_seq);
    if (st->announced >= st->next) open_gap(*st, now);
  }
  return {};
}

result<void> engine::handle_nack(link& l, const nack& m, time_point now) {
  (void)now;
  const peer_id* dest = resolve_node(l, m.dest);
  const peer_id* requester = resolve_node(l, m.requester);
  if (!dest || !requester) return engine_errc::unknown_alias;
  if (*dest != m_self) {
    if (m.hops <= 1) {
      ++m_stats.unicast_dropped;
      return {};
    }
    nack fwd = m;
    fwd.hops = static_cast<std::uint8_t>(m.hops - 1);
    const peer_id to = *dest, from = *requester;
    send_unicast_nack(to, from, fwd);
    return {};
  }
  auto it = m_pubs.find(m.publisher);
  if (it == m_pubs.end() || *requester == m_self) return {};
  const publisher& p = *it->second;
  const peer_id to = *requester;
  const std::uint64_t count = std::min<std::uint64_t>(m.count, history_samples);
  for (std::uint64_t s = m.first; s - m.first < count; ++s) {
    const history_entry* e = p.find(s);
    if (!e) continue;
    repair r;
    r.sample.flags = e->flags;
    r.sample.publisher = m.publisher;
    r.sample.seq = e->seq;
    r.sample.timestamp = e->timestamp;
    r.sample.encoding = e->encoding;
    r.sample.payload = e->payload;
    send_unicast_repair(to, m_self, p.key, r);
    ++m_stats.repairs_sent;
  }
  return {};
}

result<void> engine::handle_repair(link& l, const repair& m, time_point now) {
  const peer_id* dest = resolve_node(l, m.dest);
  const peer_id* source = resolve_node(l, m.sample.source);
  if (!dest || !source || m.sample.key >= l.rx_keys.size() || l.rx_keys[m.sample.key].empty()) {
    return engine_errc::unknown_alias;
  }
  const std::string& key = l.rx_keys[m.sample.key];
  if (*dest != m_self) {
    if (m.hops <= 1) {
      ++m_stats.unicast_dropped;
      return {};
    }
    repair fwd = m;
    fwd.hops = static_cast<std::uint8_t>(m.hops - 1);
    const peer_id to = *dest, src = *source;
    send_unicast_repair(to, src, key, fwd);
    return {};
  }
  auto it = m_streams.find(seq_ref{*source, m.sample.publisher});
  if (it == m_streams.end()) return {};  // forgotten meanwhile
  it->second->last_activity = now;
  receive_ordered(*it->second, key, m.sample, now, true);
  return {};
}

void engine::send_heartbeat_on(link& l, const peer_id& source, std::string_view key,
                               std::uint64_t pub, std::uint64_t last_seq, priority prio) {
  heartbeat h;
  h.source = node_alias_for(l, source);
  h.key = key_alias_for(l, key, lane_of(prio));
  if (h.source == UINT64_MAX || h.key == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  h.publisher = pub;
  h.last_seq = last_seq;
  // Behind the publisher's samples on the same lane: it must not overtake them.
  (void)encode(h, out_for(l, lane_of(prio)));
}

// ---- queries ----

result<std::uint64_t> engine::declare_queryable(std::string_view expr, bool complete) {
  auto x = keyexpr::keyexpr::parse(expr);
  if (!x) return x.error().code;
  const std::uint64_t id = m_next_id++;
  m_local_qbls.insert(*x, id);
  m_qbls.emplace(id, std::make_unique<queryable>(queryable{*x, complete}));
  update_declarations();
  return id;
}

void engine::undeclare_queryable(std::uint64_t id) {
  auto it = m_qbls.find(id);
  if (it == m_qbls.end()) return;
  m_local_qbls.erase(it->second->expr, id);
  m_qbls.erase(it);
  update_declarations();
}

namespace {

/// Whether a queryable on `expr` (complete or not) is asked by a query with `target`.
bool queryable_fits(const keyexpr::keyexpr& expr, bool complete, const keyexpr::keyexpr& selector,
                    query_target target) {
  if (target == query_target::all_complete) return complete && keyexpr::includes(expr, selector);
  return keyexpr::intersects(expr, selector);
}

}  // namespace

result<std::uint64_t> engine::get(std::string_view selector, const query_options& opts,
                                  time_point now) {
  sync_declarations();
  auto sel = keyexpr::keyexpr::parse(selector);
  if (!sel) return sel.error().code;
  if (opts.parameters.size() > max_parameters) return engine_errc::bad_parameters;
  if (opts.payload && opts.payload->size() > max_payload) return errc::payload_too_large;
  if (m_pending.size() >= max_pending_queries) return engine_errc::too_many_queries;
  const std::uint64_t qid = m_next_qid++;
  auto q = std::make_unique<pending_query>();
  q->deadline = now + opts.timeout;
  q->consolidate = opts.consolidate;
  q->selector = *sel;
  q->target = opts.target;
  q->parameters = opts.parameters;
  q->payload = opts.payload;
  q->timeout = opts.timeout;

  // Which nodes: ours if a local queryable fits, and every reachable node whose does.
  bool local = false;
  m_local_qbls.for_each_intersecting(*sel, [&](std::uint64_t id) {
    auto it = m_qbls.find(id);
    if (it != m_qbls.end() &&
        queryable_fits(it->second->expr, it->second->complete, *sel, opts.target))
      local = true;
  });
  std::vector<std::uint64_t> numbers;
  m_remote_qbls.for_each_intersecting(*sel, [&](std::uint64_t n) { numbers.push_back(n); });
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  std::vector<peer_id> nodes;
  for (auto n : numbers) {
    auto it = m_node_by_number.find(n);
    if (it == m_node_by_number.end() || !m_routes.reachable(it->second)) continue;
    const node_record* rec = m_routes.find(it->second);
    if (!rec) continue;
    bool fits = false;
    for (const auto& d : rec->decls) {
      if (d.k != declaration::kind::queryable) continue;
      auto x = keyexpr::keyexpr::parse(d.expr);
      if (x && queryable_fits(*x, (d.flags & 1) != 0, *sel, opts.target)) fits = true;
    }
    if (fits) nodes.push_back(it->second);
  }
  if (opts.target == query_target::best) {
    if (local) {
      nodes.clear();
    } else if (!nodes.empty()) {
      // The nearest; of equally near ones, the smallest id (every querier picks alike).
      auto best = nodes.front();
      std::uint32_t best_hops = m_routes.hops(best).value_or(UINT32_MAX);
      for (const auto& n : nodes) {
        const std::uint32_t h = m_routes.hops(n).value_or(UINT32_MAX);
        if (h < best_hops || (h == best_hops && n < best)) {
          best = n;
          best_hops = h;
        }
      }
      nodes.assign(1, best);
    }
  }
  for (const auto& n : nodes) {
    query w;
    w.qid = qid;
    w.target = static_cast<std::uint8_t>(opts.target);
    w.consolidation = static_cast<std::uint8_t>(opts.consolidate);
    w.timeout_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(opts.timeout).count());
    const std::string sel_text = sel->str();
    w.selector = sel_text;
    w.parameters = opts.parameters;
    if (opts.payload) w.payload = bytes_view(*opts.payload);
    send_unicast_query(n, m_self, w);
    q->remaining.push_back(n);
  }
  if (local) q->remaining.push_back(m_self);
  q->result.nodes_asked = q->remaining.size();
  // Our own queryables (or an empty answer) at the next on_deadline(): no callback runs
  // before the caller knows the query's id.
  q->local_due = local || nodes.empty();
  m_pending.emplace(qid, std::move(q));
  return qid;
}

void engine::run_query(const peer_id& origin, std::uint64_t qid, const keyexpr::keyexpr& selector,
                       query_target target, std::string_view parameters,
                       std::optional<bytes_view> payload, clock_duration timeout, time_point now) {
  std::vector<std::uint64_t> ids;
  m_local_qbls.for_each_intersecting(selector, [&](std::uint64_t id) {
    auto it = m_qbls.find(id);
    if (it != m_qbls.end() &&
        queryable_fits(it->second->expr, it->second->complete, selector, target))
      ids.push_back(id);
  });
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.empty() || m_handles.size() >= max_incoming_queries) {
    // Nothing here answers (any more): done at once.
    if (origin == m_self) {
      node_finished(m_self, qid, false);
    } else {
      send_unicast_final(origin, m_self, data::reply_final{0, default_hops, 0, qid});
    }
    return;
  }
  auto in = std::make_shared<incoming_query>();
  in->origin = origin;
  in->qid = qid;
  in->selector = selector;
  in->open = static_cast<int>(ids.size());
  in->deadline = now + std::min(timeout, max_query_timeout);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;  // (queryable, handle)
  for (auto id : ids) {
    const std::uint64_t handle = m_next_id++;
    m_handles.emplace(handle, in);
    calls.emplace_back(id, handle);
  }
  const std::string sel_text = selector.str();
  const std::string params(parameters);
  for (const auto& [id, handle] : calls) {
    if (!m_qbls.count(id)) {  // undeclared by an earlier handler
      reply_final(handle);
      continue;
    }
    query_request r;
    r.handle = handle;
    r.selector = sel_text;
    r.parameters = params;
    r.payload = payload;
    r.origin = &in->origin;
    m_sink.on_query(id, r);
  }
}

result<void> engine::reply(std::uint64_t handle, std::string_view key, bytes_view payload,
                           std::string_view encoding, std::uint64_t physical_ntp, bool error,
                           std::uint64_t timestamp) {
  auto it = m_handles.find(handle);
  if (it == m_handles.end()) return engine_errc::unknown_query;
  auto k = keyexpr::key::parse(key);
  if (!k) {
    if (k.error().code == keyexpr::errc::wildcard_in_key) return engine_errc::not_a_key;
    return k.error().code;
  }
  const incoming_query& in = *it->second;
  if (!keyexpr::matches(*in.selector, *k)) return engine_errc::reply_key_mismatch;
  if (payload.size() > max_payload) return errc::payload_too_large;
  if (encoding.size() > max_encoding) return errc::field_too_large;
  const std::uint64_t ts = timestamp != 0 ? timestamp : m_clock.stamp(physical_ntp);
  const std::string key_text = k->str();
  if (in.origin == m_self) {
    deliver_reply(m_self, in.qid, reply_view{key_text, payload, encoding, ts, &m_self, error});
    return {};
  }
  data::reply r;
  r.qid = in.qid;
  r.flags = static_cast<std::uint8_t>((error ? reply_flags::error : 0) |
                                      (encoding.empty() ? 0 : reply_flags::has_encoding));
  r.key = key_text;
  r.timestamp = ts;
  r.encoding = encoding;
  r.payload = payload;
  const peer_id to = in.origin;
  send_unicast_reply(to, m_self, r);
  return {};
}

void engine::reply_final(std::uint64_t handle) {
  auto it = m_handles.find(handle);
  if (it == m_handles.end()) return;
  auto in = std::move(it->second);
  m_handles.erase(it);
  if (--in->open > 0) return;
  if (in->origin == m_self) {
    node_finished(m_self, in->qid, false);
  } else {
    send_unicast_final(in->origin, m_self, data::reply_final{0, default_hops, 0, in->qid});
  }
}

void engine::deliver_reply(const peer_id& from, std::uint64_t qid, const reply_view& r) {
  auto it = m_pending.find(qid);
  if (it == m_pending.end()) return;  // ended already (a late reply)
  ++m_stats.replies_received;
  pending_query& q = *it->second;
  if (q.consolidate == data::consolidation::latest) {
    auto [k, fresh] = q.latest.try_emplace(std::string(r.key));
    if (fresh || r.timestamp > k->second.timestamp) {
      k->second.payload.assign(r.payload.begin(), r.payload.end());
      k->second.encoding.assign(r.encoding);
      k->second.timestamp = r.timestamp;
      k->second.from = from;
      k->second.error = r.error;
    }
    return;
  }
  ++q.result.replies;
  m_sink.on_reply(qid, r);
}

void engine::node_finished(const peer_id& node, std::uint64_t qid, bool gone) {
  auto it = m_pending.find(qid);
  if (it == m_pending.end()) return;
  pending_query& q = *it->second;
  auto at = std::find(q.remaining.begin(), q.remaining.end(), node);
  if (at == q.remaining.end()) return;
  q.remaining.erase(at);
  if (gone) {
    ++q.result.nodes_gone;
  } else {
    ++q.result.nodes_answered;
  }
  if (q.remaining.empty() && !q.local_due) finish_query(qid, false);
}

void engine::finish_query(std::uint64_t qid, bool timed_out) {
  auto it = m_pending.find(qid);
  if (it == m_pending.end()) return;
  std::unique_ptr<pending_query> q = std::move(it->second);
  m_pending.erase(it);
  for (const auto& [key, k] : q->latest) {
    ++q->result.replies;
    m_sink.on_reply(qid, reply_view{key, k.payload, k.encoding, k.timestamp, &k.from, k.error});
  }
  q->result.timed_out = timed_out;
  if (timed_out) ++m_stats.queries_timed_out;
  m_sink.on_query_done(qid, q->result);
}

void engine::send_unicast_query(const peer_id& dest, const peer_id& origin, query q) {
  link* l = unicast_link(dest);
  if (!l) return;
  q.dest = node_alias_for(*l, dest);
  q.origin = node_alias_for(*l, origin);
  if (q.dest == UINT64_MAX || q.origin == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  if (origin == m_self) ++m_stats.queries_sent;
  (void)encode(q, out_for(*l));
}

void engine::send_unicast_reply(const peer_id& dest, const peer_id& from, data::reply r) {
  link* l = unicast_link(dest);
  if (!l) return;
  r.dest = node_alias_for(*l, dest);
  r.from = node_alias_for(*l, from);
  if (r.dest == UINT64_MAX || r.from == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  if (encode(r, out_for(*l))) note_payload(*l, 0, r.encoding, r.payload.size());
}

void engine::send_unicast_final(const peer_id& dest, const peer_id& from, data::reply_final f) {
  link* l = unicast_link(dest);
  if (!l) return;
  f.dest = node_alias_for(*l, dest);
  f.from = node_alias_for(*l, from);
  if (f.dest == UINT64_MAX || f.from == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  (void)encode(f, out_for(*l));
}

result<void> engine::handle_query(link& l, const query& m, time_point now) {
  const peer_id* dest = resolve_node(l, m.dest);
  const peer_id* origin = resolve_node(l, m.origin);
  if (!dest || !origin) return engine_errc::unknown_alias;
  auto sel = keyexpr::keyexpr::parse(m.selector);
  if (!sel || m.target > 2 || m.consolidation > 1) return make_error_code(errc::bad_value);
  if (*dest != m_self) {
    if (m.hops <= 1) {
      ++m_stats.unicast_dropped;
      return {};
    }
    query fwd = m;
    fwd.hops = static_cast<std::uint8_t>(m.hops - 1);
    const peer_id to = *dest, from = *origin;
    send_unicast_query(to, from, fwd);
    return {};
  }
  ++m_stats.queries_received;
  const peer_id from = *origin;
  run_query(from, m.qid, *sel, static_cast<query_target>(m.target), m.parameters, m.payload,
            std::chrono::milliseconds(std::min<std::uint64_t>(m.timeout_ms, 300'000)), now);
  return {};
}

result<void> engine::handle_reply(link& l, const data::reply& m) {
  const peer_id* dest = resolve_node(l, m.dest);
  const peer_id* from = resolve_node(l, m.from);
  if (!dest || !from) return engine_errc::unknown_alias;
  if (!keyexpr::key::parse(m.key)) return make_error_code(errc::bad_value);
  if (*dest != m_self) {
    if (m.hops <= 1) {
      ++m_stats.unicast_dropped;
      return {};
    }
    data::reply fwd = m;
    fwd.hops = static_cast<std::uint8_t>(m.hops - 1);
    const peer_id to = *dest, src = *from;
    send_unicast_reply(to, src, fwd);
    return {};
  }
  const peer_id src = *from;
  deliver_reply(src, m.qid,
                reply_view{m.key, m.payload, m.encoding, m.timestamp, &src,
                           (m.flags & reply_flags::error) != 0});
  return {};
}

result<void> engine::handle_reply_final(link& l, const data::reply_final& m) {
  const peer_id* dest = resolve_node(l, m.dest);
  const peer_id* from = resolve_node(l, m.from);
  if (!dest || !from) return engine_errc::unknown_alias;
  if (*dest != m_self) {
    if (m.hops <= 1) {
      ++m_stats.unicast_dropped;
      return {};
    }
    data::reply_final fwd = m;
    fwd.hops = static_cast<std::uint8_t>(m.hops - 1);
    const peer_id to = *dest, src = *from;
    send_unicast_final(to, src, fwd);
    return {};
  }
  const peer_id src = *from;
  node_finished(src, m.qid, false);
  return {};
}

// ---- liveliness ----

result<std::uint64_t> engine::declare_token(std::string_view key) {
  auto k = keyexpr::key::parse(key);
  if (!k) {
    if (k.error().code == keyexpr::errc::wildcard_in_key) return engine_errc::not_a_key;
    return k.error().code;
  }
  const std::uint64_t id = m_next_id++;
  const std::string text = k->str();
  const bool first = std::none_of(m_tokens.begin(), m_tokens.end(),
                                  [&](const auto& kv) { return kv.second == text; });
  m_tokens.emplace(id, text);
  update_declarations();
  if (first) token_event(text, m_self, true);
  return id;
}

void engine::undeclare_token(std::uint64_t id) {
  auto it = m_tokens.find(id);
  if (it == m_tokens.end()) return;
  const std::string text = std::move(it->second);
  m_tokens.erase(it);
  update_declarations();
  const bool last = std::none_of(m_tokens.begin(), m_tokens.end(),
                                 [&](const auto& kv) { return kv.second == text; });
  if (last) token_event(text, m_self, false);
}

void engine::token_event(const std::string& key, const peer_id& node, bool alive) {
  auto k = keyexpr::key::parse(key);
  if (!k) return;
  std::vector<std::uint64_t> ids;
  m_local_watches.for_each_match(*k, [&](std::uint64_t id) { ids.push_back(id); });
  for (auto id : ids) {
    if (m_watches.count(id)) m_sink.on_liveliness(id, key, node, alive);
  }
}

result<std::uint64_t> engine::watch_liveliness(std::string_view expr) {
  auto x = keyexpr::keyexpr::parse(expr);
  if (!x) return x.error().code;
  const std::uint64_t id = m_next_id++;
  m_watches.emplace(id, *x);
  m_local_watches.insert(*x, id);
  auto now = liveliness_tokens(expr);
  if (now) {
    for (const auto& [key, node] : *now) {
      if (!m_watches.count(id)) break;  // the handler ended the watch
      m_sink.on_liveliness(id, key, node, true);
    }
  }
  return id;
}

void engine::unwatch_liveliness(std::uint64_t id) {
  auto it = m_watches.find(id);
  if (it == m_watches.end()) return;
  m_local_watches.erase(it->second, id);
  m_watches.erase(it);
}

result<std::vector<std::pair<std::string, peer_id>>> engine::liveliness_tokens(
    std::string_view expr) const {
  auto x = keyexpr::keyexpr::parse(expr);
  if (!x) return x.error().code;
  std::vector<std::pair<std::string, peer_id>> out;
  // Our own tokens from the table itself: our record may not list the newest yet (see
  // m_decls_dirty).
  for (const auto& [id, text] : m_tokens) {
    auto k = keyexpr::key::parse(text);
    if (k && keyexpr::matches(*x, *k)) out.emplace_back(text, m_self);
  }
  for (const node_record* r : m_routes.records()) {
    if (r->origin == m_self || !m_routes.reachable(r->origin)) continue;
    for (const auto& d : r->decls) {
      if (d.k != declaration::kind::token) continue;
      auto k = keyexpr::key::parse(d.expr);
      if (k && keyexpr::matches(*x, *k)) out.emplace_back(d.expr, r->origin);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---- local API ----

result<std::uint64_t> engine::declare_subscriber(std::string_view expr) {
  auto x = keyexpr::keyexpr::parse(expr);
  if (!x) return x.error().code;
  const std::uint64_t id = m_next_id++;
  m_local_subs.insert(*x, id);
  m_subs.emplace(id, std::make_unique<subscriber>(subscriber{*x}));
  ++m_local_generation;
  update_declarations();
  return id;
}

void engine::undeclare_subscriber(std::uint64_t id) {
  auto it = m_subs.find(id);
  if (it == m_subs.end()) return;
  m_local_subs.erase(it->second->expr, id);
  m_subs.erase(it);
  ++m_local_generation;
  update_declarations();
}

result<std::uint64_t> engine::declare_publisher(std::string_view key, publisher_options opts) {
  auto k = keyexpr::key::parse(key);
  if (!k) {
    if (k.error().code == keyexpr::errc::wildcard_in_key) return engine_errc::not_a_key;
    return k.error().code;
  }
  const std::uint64_t id = m_next_id++;
  auto p = std::make_unique<publisher>();
  p->key = k->str();
  p->opts = std::move(opts);
  m_pubs.emplace(id, std::move(p));
  return id;
}

void engine::undeclare_publisher(std::uint64_t id) {
  drop_publisher(id);
}

void engine::drop_publisher(std::uint64_t id) {
  auto it = m_pubs.find(id);
  if (it == m_pubs.end()) return;
  publisher& p = *it->second;
  if (p.implicit) {
    m_implicit_pubs.erase(p.key);
    m_implicit_lru.erase(p.lru);
    m_implicit_history -= p.footprint();
  }
  m_pubs.erase(it);
  // Its heartbeat timer, if any, stays in the heap and is skipped when due; the heap is
  // compacted once most of its entries are such leftovers.
  if (m_hb_heap.size() > 2 * m_pubs.size() + 64) {
    std::erase_if(m_hb_heap, [&](const auto& t) { return !m_pubs.count(t.second); });
    std::make_heap(m_hb_heap.begin(), m_hb_heap.end(), std::greater<>());
  }
}

void engine::collect_implicit(time_point now) {
  while (!m_implicit_lru.empty()) {
    const std::uint64_t id = m_implicit_lru.front();
    if (m_pubs.at(id)->used + implicit_idle > now) break;
    ++m_stats.implicit_collected;
    drop_publisher(id);
  }
}

result<void> engine::put(std::uint64_t id, bytes_view payload, time_point now,
                         std::uint64_t physical_ntp, bool del) {
  auto it = m_pubs.find(id);
  if (it == m_pubs.end()) return engine_errc::unknown_publisher;
  if (payload.size() > max_payload) return errc::payload_too_large;
  publisher& p = *it->second;
  if (p.opts.congestion == congestion_control::block) {
    // Refused before it is numbered: the caller waits for room and tries again.
    if (const auto* targets = targets_for_key(m_self, p.key)) {
      for (const auto& t : *targets) {
        const link* l = find_link(t);
        if (l && l->backlog() >= max_link_backlog) {
          ++m_stats.puts_blocked;
          return engine_errc::would_block;
        }
      }
    }
  }
  if (p.opts.express) m_express = true;
  const std::uint64_t ts = m_clock.stamp(physical_ntp);
  const std::uint64_t seq = ++p.seq;
  ++m_stats.samples_published;
  push w;
  w.flags = static_cast<std::uint8_t>(
      (del ? push_flags::del : 0) | (p.opts.reliable ? push_flags::reliable : 0) |
      (p.opts.encoding.empty() ? 0 : push_flags::has_encoding) |
      (static_cast<int>(p.opts.prio) << push_flags::priority_shift));
  w.publisher = id;
  w.seq = seq;
  w.timestamp = ts;
  w.encoding = p.opts.encoding;
  w.payload = payload;
  if (p.opts.reliable) {
    const std::size_t before = p.footprint();
    p.remember(seq, ts, w.flags, p.opts.encoding, payload);
    if (p.implicit) {
      m_implicit_history += p.footprint() - before;
      // Over the budget: the least recently used implicit publishers go (never this one, whose
      // own history is bounded by history_bytes).
      while (m_implicit_history > implicit_history_budget && m_implicit_lru.front() != id) {
        ++m_stats.implicit_evicted;
        drop_publisher(m_implicit_lru.front());
      }
    }
    p.last_put = now;
    p.hb_stage = 0;
    if (!p.hb_armed) {
      p.hb_armed = true;
      m_hb_heap.emplace_back(now + heartbeat_after[0], id);
      std::push_heap(m_hb_heap.begin(), m_hb_heap.end(), std::greater<>());
    }
  }
  // Neighbours first: a local handler that publishes in turn sees its sample sent after ours.
  route_sample(m_self, nullptr, p.key, w);
  const sample s{p.key, payload, p.opts.encoding, del, ts, &m_self, id, seq};
  deliver_local(p.key, s);
  return {};
}

result<void> engine::put(std::string_view key, bytes_view payload, std::string_view encoding,
                         time_point now, std::uint64_t physical_ntp, bool del) {
  std::uint64_t id = 0;
  if (auto it = m_implicit_pubs.find(key); it != m_implicit_pubs.end()) {
    id = it->second;
    m_implicit_lru.splice(m_implicit_lru.end(), m_implicit_lru, m_pubs.at(id)->lru);
  } else {
    auto r = declare_publisher(key, publisher_options{});
    if (!r) return r.error();
    id = *r;
    if (m_implicit_lru.size() >= max_implicit_publishers) {
      ++m_stats.implicit_evicted;
      drop_publisher(m_implicit_lru.front());
    }
    publisher& p = *m_pubs.at(id);
    p.implicit = true;
    p.lru = m_implicit_lru.insert(m_implicit_lru.end(), id);
    m_implicit_pubs.emplace(p.key, id);
  }
  // One implicit publisher per key; each put may name its own encoding.
  publisher& p = *m_pubs.at(id);
  p.used = now;
  p.opts.encoding = std::string(encoding);
  return put(id, payload, now, physical_ntp, del);
}

engine_usage engine::usage() const {
  engine_usage u;
  u.publishers = m_pubs.size();
  u.implicit_publishers = m_implicit_lru.size();
  for (const auto& [id, p] : m_pubs)
    u.history_bytes += p->footprint();
  u.implicit_history_bytes = m_implicit_history;
  u.cached_keys = m_keys.size() + m_keys_old.size();
  u.cached_key_bytes = m_keys_bytes + m_keys_old_bytes;
  u.heartbeat_timers = m_hb_heap.size();
  u.streams = m_streams.size();
  u.held_samples = m_held_count;
  return u;
}

time_point engine::next_deadline() const {
  time_point d = std::min(m_routes.next_deadline(), m_next_sweep);
  if (!m_hb_heap.empty()) d = std::min(d, m_hb_heap.front().first);
  if (!m_implicit_lru.empty())
    d = std::min(d, m_pubs.at(m_implicit_lru.front())->used + implicit_idle);
  for (const stream* st : m_gapped)
    d = std::min(d, st->nack_due);
  for (const auto& [qid, q] : m_pending)
    d = std::min(d, q->local_due ? time_point::min() : q->deadline);
  for (const auto& [h, in] : m_handles)
    d = std::min(d, in->deadline);
  return d;
}

void engine::on_deadline(time_point now) {
  sync_declarations();
  m_routes.on_deadline(now);
  pump_routing();
  // Heartbeats of publishers that went quiet.
  while (!m_hb_heap.empty() && m_hb_heap.front().first <= now) {
    std::pop_heap(m_hb_heap.begin(), m_hb_heap.end(), std::greater<>());
    const std::uint64_t id = m_hb_heap.back().second;
    m_hb_heap.pop_back();
    auto it = m_pubs.find(id);
    if (it == m_pubs.end()) continue;
    publisher& p = *it->second;
    const time_point due = p.last_put + heartbeat_after[p.hb_stage];
    if (due <= now) {
      if (const auto* targets = targets_for_key(m_self, p.key)) {
        for (const auto& t : *targets) {
          if (link* l = find_link(t)) {
            send_heartbeat_on(*l, m_self, p.key, id, p.seq, p.opts.prio);
            ++m_stats.heartbeats_sent;
          }
        }
      }
      ++p.hb_stage;
    }
    if (p.hb_stage >= static_cast<int>(std::size(heartbeat_after))) {
      p.hb_armed = false;
      continue;
    }
    m_hb_heap.emplace_back(p.last_put + heartbeat_after[p.hb_stage], id);
    std::push_heap(m_hb_heap.begin(), m_hb_heap.end(), std::greater<>());
  }
  // Gaps: ask again, or give up after nack_tries.
  std::vector<stream*> due;
  for (stream* st : m_gapped) {
    if (st->nack_due <= now) due.push_back(st);
  }
  for (stream* st : due) {
    if (std::find(m_gapped.begin(), m_gapped.end(), st) == m_gapped.end()) continue;
    if (st->nack_count >= nack_tries) {
      give_up_gaps(*st);
    } else {
      send_nacks(*st, now);
    }
  }
  // Queries: run the local part of new ones, end those past their timeout.
  std::vector<std::uint64_t> qids;
  for (const auto& [qid, q] : m_pending)
    qids.push_back(qid);
  std::sort(qids.begin(), qids.end());
  for (auto qid : qids) {
    auto it = m_pending.find(qid);
    if (it == m_pending.end()) continue;
    pending_query& q = *it->second;
    if (q.local_due) {
      q.local_due = false;
      const bool local =
          std::find(q.remaining.begin(), q.remaining.end(), m_self) != q.remaining.end();
      if (local) {
        const auto sel = *q.selector;
        const auto params = q.parameters;
        const auto payload = q.payload;
        std::optional<bytes_view> pv;
        if (payload) pv = bytes_view(*payload);
        run_query(m_self, qid, sel, q.target, params, pv, q.timeout, now);
      } else if (q.remaining.empty()) {
        finish_query(qid, false);  // nobody to ask
      }
      continue;
    }
    if (q.deadline <= now) finish_query(qid, !q.remaining.empty());
  }
  // Incoming queries whose queryables never finished: forget them (the querier's own
  // timeout ends the query there).
  std::erase_if(m_handles, [&](const auto& kv) { return kv.second->deadline <= now; });
  // Implicit publishers gone quiet.
  collect_implicit(now);
  // Receive state of publishers gone quiet.
  if (now >= m_next_sweep) {
    std::erase_if(m_streams, [&](const auto& kv) {
      return !kv.second->gapped && kv.second->last_activity + stream_idle <= now;
    });
    m_next_sweep = m_streams.empty() ? no_deadline : now + sweep_interval;
  }
}

}  // namespace starling::data
