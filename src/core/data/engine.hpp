#pragma once
/// The data layer of one node as a sans-I/O core (docs/protocols/data.md): links to
/// neighbours, the routing table, local subscriptions and publishers, and the forwarding of
/// samples across the mesh. The node (or the simulator) owns one engine and drives it:
///
///   - link_up(peer) when a `/starling/data/1` stream pair to a neighbour is ready,
///     link_down(peer) when it is gone;
///   - on_bytes(peer, bytes) with what the peer's stream delivered;
///   - drain_transmit(fn) after any call: fn(peer, bytes) for each link with output;
///   - next_deadline() / on_deadline(now) for timers.
///
/// Samples for local subscribers are handed to an `engine_sink` synchronously, from inside
/// put() or on_bytes(); the views in a `sample` are valid during that call only.
///
/// Reliable publishers are reliable end to end: the source keeps a bounded history, a node
/// that delivers a publisher's samples holds out-of-order ones, asks the source to repeat a
/// gap (nack, repair) and delivers in order; heartbeats make a lost last sample visible.
///
/// Frames to a neighbour that offered zstd in its hello are compressed when large enough and
/// not made of already compressed payloads (core/data/compress.hpp).
///
/// Access: with an access_guard (set_access), every message from a neighbour first passes the
/// ingress checks of access_rules.hpp (a denied one is dropped and counted, the link stays),
/// declarations in node records count only when their origin may make them, a sample goes
/// to a neighbour only when that neighbour may subscribe to its key (so to no subscriber
/// behind it either), a reply only when it may query the key, a liveliness token only when it
/// may watch it, and the local API refuses what this node may not do (access_denied). Local
/// declarations this node loses the right to are suspended (left out of its record, given
/// nothing) until it has the right again. Decisions are cached (per link and key alias, per
/// key and source, per publisher), so the data path asks the guard once per key, not per
/// sample; access_changed() drops the caches and re-evaluates every declaration at once.

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/common/time.hpp"
#include "core/data/compress.hpp"
#include "core/data/guard.hpp"
#include "core/data/hlc.hpp"
#include "core/data/routing.hpp"
#include "core/data/wire.hpp"
#include "core/keyexpr/key_index.hpp"
#include "core/keyexpr/keyexpr.hpp"

namespace starling::data {

/// Hashes strings and string views alike, so that maps keyed by std::string are searched with
/// a string_view without building a string (no allocation per sample).
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
/// A map from strings searchable by string_view.
template <class V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

/// A sample as a local subscriber sees it. Views are valid during the sink call only.
struct sample {
  std::string_view key;
  bytes_view payload;
  std::string_view encoding;
  bool del = false;
  std::uint64_t timestamp = 0;  ///< the source's hybrid logical clock (NTP64)
  const peer_id* source = nullptr;
  std::uint64_t publisher = 0;
  std::uint64_t seq = 0;
};

/// Which queryables a query asks (the wire's `target`).
enum class query_target : std::uint8_t {
  all = 0,           ///< every node with a matching queryable
  best = 1,          ///< the nearest such node (ourselves first)
  all_complete = 2,  ///< every node with a complete queryable that covers the selector
};
/// What a querier keeps of the replies (the wire's `consolidation`).
enum class consolidation : std::uint8_t {
  none = 0,    ///< every reply, as it arrives
  latest = 1,  ///< one reply per key, the latest by timestamp, when the query ends
};

/// Options of one query.
struct query_options {
  query_target target = query_target::all;
  data::consolidation consolidate = data::consolidation::none;
  clock_duration timeout = std::chrono::seconds(10);
  std::string parameters;        ///< the part of a selector after '?' (at most 4 KiB)
  std::optional<bytes> payload;  ///< a value sent with the query
};

/// A query as a local queryable sees it. Views are valid during the sink call only.
struct query_request {
  std::uint64_t handle = 0;  ///< for reply() and reply_final()
  std::string_view selector;
  std::string_view parameters;
  std::optional<bytes_view> payload;
  const peer_id* origin = nullptr;
};

/// A reply as the querier sees it. Views are valid during the sink call only.
struct reply_view {
  std::string_view key;
  bytes_view payload;
  std::string_view encoding;
  std::uint64_t timestamp = 0;
  const peer_id* from = nullptr;
  bool error = false;  ///< the queryable failed; payload says why
};

/// How a query ended.
struct query_result {
  std::size_t replies = 0;         ///< replies delivered
  std::size_t nodes_asked = 0;     ///< nodes the query went to (ourselves included)
  std::size_t nodes_answered = 0;  ///< of those, nodes that finished (final reply)
  std::size_t nodes_gone = 0;      ///< of those, nodes that became unreachable first
  bool timed_out = false;          ///< some node had not finished at the timeout
};

/// What a neighbour did wrong, as on_violation reports it.
enum class violation : std::uint8_t {
  access,  ///< a message dropped by an ingress access check
  flood,   ///< more queries than engine_options::queries_per_second allows
};

/// Where an engine delivers what local applications asked for.
class engine_sink {
 public:
  virtual ~engine_sink() = default;
  /// A sample for local subscription `sub` (one call per matching subscription).
  virtual void on_sample(std::uint64_t sub, const sample& s) = 0;
  /// A query for local queryable `queryable`. Answer with engine::reply() (any number of
  /// times, now or later) and finish with engine::reply_final(request.handle).
  virtual void on_query(std::uint64_t queryable, const query_request& request) {
    (void)queryable;
    (void)request;
  }
  /// A reply to our query `qid` (consolidated replies come just before on_query_done).
  virtual void on_reply(std::uint64_t qid, const reply_view& r) {
    (void)qid;
    (void)r;
  }
  /// Our query `qid` ended: every asked node finished or went away, or the timeout passed.
  virtual void on_query_done(std::uint64_t qid, const query_result& r) {
    (void)qid;
    (void)r;
  }
  /// A liveliness token matching watch `watch` appeared (alive) or went away on `node`.
  virtual void on_liveliness(std::uint64_t watch, std::string_view key, const peer_id& node,
                             bool alive) {
    (void)watch;
    (void)key;
    (void)node;
    (void)alive;
  }
  /// A node became reachable or unreachable, or its declarations changed (for logs and
  /// liveliness); called after the engine has applied it.
  virtual void on_routing_event(const routing_event&) {}
  /// Neighbour `peer` sent something it should not have (dropped and counted already); the
  /// node scores it (host::report_misbehaviour). Must not call back into the engine.
  virtual void on_violation(const peer_id& peer, violation v) {
    (void)peer;
    (void)v;
  }
};

/// What a publisher does when a link towards a subscriber is congested.
enum class congestion_control : std::uint8_t {
  block,  ///< put() returns would_block; the caller waits for room (data_service::buffered)
  drop,   ///< the sample is dropped for that link (counted); others still get it
};

/// Options of one publisher.
struct publisher_options {
  bool reliable = true;
  std::string encoding;            ///< content type of its samples ("" = none)
  priority prio = priority::data;  ///< control overtakes real-time, data, then background
  congestion_control congestion = congestion_control::block;
  bool express = false;  ///< sent at once (the caller flushes now), not batched
};

/// Bounds of the state an engine keeps per key on the put path (docs/protocols/data.md,
/// "Limits").
///
/// An implicit publisher (engine::put on a key without a declared publisher) is collected
/// `implicit_idle` after its last put: later than its last heartbeat (1 s) and than the whole
/// repair schedule of a receiver that noticed a gap (nacks up to about 3 s after the gap,
/// given up at about 6 s), so its history is no longer asked for. Beyond
/// `max_implicit_publishers`, or `implicit_history_budget` bytes of their histories, the
/// least recently used one is collected early (counted in implicit_evicted). A key put again
/// gets a new publisher number, never one used before in this life of the node, so receivers
/// see a new (source, publisher) that starts at sequence number 1 (not a duplicate, not a
/// gap).
inline constexpr clock_duration implicit_idle = std::chrono::seconds(30);
inline constexpr std::size_t max_implicit_publishers = 4096;
inline constexpr std::size_t implicit_history_budget = 16 * 1024 * 1024;
/// A reliable publisher that is undeclared tells the nodes downstream that it ended, with its
/// last sequence number (`publisher_end`); a receiver that misses samples up to it asks for
/// them for about 3 s and gives up at about 6 s. So its history is kept `retired_linger` after
/// the undeclare (counted from the engine's next on_deadline(), which next_deadline() asks for
/// at once), then freed. At most `max_retired_publishers` such histories, of at most
/// `retired_history_budget` bytes together, are kept: past either, the one undeclared first is
/// freed early (counted in retired_evicted). Implicit publishers are not kept: they are
/// collected long after any repair (implicit_idle) or evicted for room.
inline constexpr clock_duration retired_linger = std::chrono::seconds(10);
inline constexpr std::size_t max_retired_publishers = 1024;
inline constexpr std::size_t retired_history_budget = 16 * 1024 * 1024;
/// The key cache (matching local subscriptions and forwarding targets per key) keeps two
/// generations of at most this many keys and key bytes each; a full generation becomes the
/// old one and the previous old one is dropped, so keys in use survive a turnover.
inline constexpr std::size_t max_cached_keys = 4096;
inline constexpr std::size_t max_cached_key_bytes = 256 * 1024;

/// What an engine holds now (gauges, not counters): for the limits above and for tests.
struct engine_usage {
  std::size_t publishers = 0;           ///< declared and implicit
  std::size_t implicit_publishers = 0;  ///< of those, implicit
  std::size_t history_bytes = 0;  ///< history kept for repair (slots and payload buffers), retired
                                  ///< publishers' included
  std::size_t retired_publishers = 0;      ///< undeclared, history kept (retired_linger)
  std::size_t implicit_history_bytes = 0;  ///< of those, the implicit publishers'
  std::size_t cached_keys = 0;             ///< key cache entries, both generations
  std::size_t cached_key_bytes = 0;        ///< their key text
  std::size_t heartbeat_timers = 0;        ///< heartbeat timer entries (some may be stale)
  std::size_t streams = 0;                 ///< receive states (source, publisher)
  std::size_t held_samples = 0;            ///< samples held for in-order delivery
};

/// Settings of an engine.
struct engine_options {
  /// Offer zstd frames in our hello, take them, and compress frames to neighbours that offered
  /// them too. Off: we behave as a node of the version before compression (no offer, a
  /// compressed frame is a protocol error).
  bool compression = true;
  /// Compress a frame when its compressible bytes (body minus payloads whose encoding is
  /// already compressed) are at least this many, and at least half the body.
  std::size_t compress_threshold = data::compress_threshold;
  int compress_level = data::compress_level;
  /// Queries a neighbour may send (or relay) a second, and in a burst; more are dropped (a
  /// query for us is answered with its end at once), counted in queries_refused and reported
  /// as a flood. 0: no limit.
  double queries_per_second = 1000;
  double query_burst = 2000;
};

/// Counters of an engine (monotonic).
struct engine_stats {
  std::uint64_t samples_published = 0;
  std::uint64_t samples_delivered = 0;  ///< to local subscriptions (one per subscription)
  std::uint64_t samples_forwarded = 0;  ///< copies sent to neighbours
  std::uint64_t samples_received = 0;
  std::uint64_t duplicates = 0;        ///< samples seen again (route changes) and dropped
  std::uint64_t gaps = 0;              ///< gaps opened in a reliable publisher's samples
  std::uint64_t nacks_sent = 0;        ///< repair requests sent (one per hole, per try)
  std::uint64_t repairs_sent = 0;      ///< samples repeated from our history
  std::uint64_t samples_repaired = 0;  ///< holes filled by a repair
  std::uint64_t samples_lost = 0;      ///< sequence numbers given up (history gone, source away)
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t publisher_ends_sent = 0;  ///< publisher_end messages for our publishers (per link)
  std::uint64_t streams_ended = 0;        ///< receive states dropped at their publisher's end
  std::uint64_t retired_evicted = 0;      ///< retired histories freed early (count or budget)
  std::uint64_t unicast_dropped = 0;      ///< nacks/repairs with no route or out of hops
  std::uint64_t streams_reset = 0;        ///< receive state dropped because the table was full
  std::uint64_t queries_sent = 0;         ///< query messages sent (one per asked node)
  std::uint64_t queries_received = 0;
  std::uint64_t replies_received = 0;
  std::uint64_t queries_timed_out = 0;
  std::uint64_t congestion_dropped = 0;  ///< samples not sent on a congested link
  std::uint64_t puts_blocked = 0;        ///< put() refused with would_block
  std::uint64_t clock_refused = 0;       ///< samples stamped too far in the future
  std::uint64_t unknown_messages = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t records_stored = 0;
  std::uint64_t alias_exhausted = 0;     ///< messages not sent: the link's alias table was full
  std::uint64_t aliases_reused = 0;      ///< key aliases given a new key (the table was full)
  std::uint64_t implicit_collected = 0;  ///< implicit publishers collected after implicit_idle
  std::uint64_t implicit_evicted = 0;    ///< collected early (count or history budget reached)
  // Compression (frames to and from neighbours that offered it).
  std::uint64_t frames_compressed = 0;   ///< frames sent compressed
  std::uint64_t compress_bytes_in = 0;   ///< their size uncompressed (whole frames)
  std::uint64_t compress_bytes_out = 0;  ///< their size as sent (whole frames)
  std::uint64_t frames_left_raw = 0;     ///< frames over the threshold not compressed (already
                                         ///< compressed payloads, or no smaller)
  std::uint64_t frames_decompressed = 0;
  std::uint64_t decompress_refused = 0;  ///< compressed frames refused: corrupt or over the limit
  // Access (set_access).
  std::uint64_t access_denied_in = 0;     ///< messages from neighbours dropped by an ingress check
  std::uint64_t access_denied_out = 0;    ///< copies not sent: the neighbour may not receive them
  std::uint64_t declarations_denied = 0;  ///< remote declarations left out (origin's rights)
  std::uint64_t queries_refused = 0;      ///< queries over a neighbour's rate limit
};

/// Errors of the local API (bad input from applications).
enum class engine_errc {
  unknown_publisher = 1,  ///< put() on a publisher that was undeclared or never declared
  not_a_key,              ///< put()/del() on an expression with wildcards
  unknown_link,           ///< on_bytes() for a peer without link_up()
  no_hello,               ///< the first message on a stream is not hello
  bad_hello,              ///< wrong version, or a node id that is not the link's peer
  unknown_alias,          ///< a message that uses a node or key alias never declared
  bad_record,             ///< a node record the routing table refuses
  unknown_query,          ///< reply() on a query that ended, expired or never was
  reply_key_mismatch,     ///< reply() with a key the query's selector does not match
  too_many_queries,       ///< more than 1024 of our queries pending, or incoming ones held
  bad_parameters,         ///< query parameters over 4 KiB
  would_block,            ///< put() of a blocking publisher while a target link is congested
  access_denied,          ///< this node's roles do not allow the operation on that key
};
/// The "data.engine" category.
const std::error_category& engine_category() noexcept;
/// Makes engine_errc usable as std::error_code.
inline std::error_code make_error_code(engine_errc e) noexcept {
  return {static_cast<int>(e), engine_category()};
}

struct requirement;  // access_rules.hpp

/// One node's data layer. Not thread-safe: the network thread owns it.
class engine {
 public:
  /// `initial_version`: the first version of our node record (the start time in ms).
  engine(peer_id self, std::uint64_t initial_version, engine_sink& sink, engine_options opts = {});
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // ---- links ----

  /// A stream pair to `peer` is ready: queues our hello and every record we hold for it, and
  /// adds it to our record. A link already up is reset first.
  void link_up(const peer_id& peer, time_point now);
  /// The link is gone: drops its state and its output, and floods our new record.
  void link_down(const peer_id& peer, time_point now);
  /// Bytes from `peer`'s stream. Errors (the caller resets both streams, logs the reason and
  /// calls link_down): the frame and message errors of wire.hpp, engine_errc::no_hello,
  /// bad_hello, unknown_alias, bad_record, unknown_link.
  result<void> on_bytes(const peer_id& peer, bytes_view in, time_point now,
                        std::uint64_t physical_ntp);
  /// Calls `fn(peer, frames)` (perhaps several times per link) with each link's output:
  /// protocol messages always, then samples by priority while `room(peer)` (bytes the link
  /// can take now; unlimited without it) lasts. What does not fit waits in the engine (up to
  /// 8 MiB per link, then the link counts as congested) for a later drain.
  void drain_transmit(const std::function<void(const peer_id&, bytes_view)>& fn,
                      const std::function<std::size_t(const peer_id&)>& room = {});
  /// Bytes of samples waiting in the engine for room on their links (all links).
  std::size_t backlog() const;
  /// True when a put() since the last call was express (the caller drains at once); resets.
  bool take_express() noexcept { return std::exchange(m_express, false); }
  /// True when some link has output to drain.
  bool has_output() const noexcept { return !m_dirty.empty() || m_own_dirty || m_decls_dirty; }
  /// Neighbours with a link up.
  std::vector<peer_id> links() const;

  // ---- access ----

  /// Checks every operation against `guard` from now on (nullptr: none, everything allowed, as
  /// a node without a network). The guard must outlive the engine or the next set_access().
  /// Re-evaluates like access_changed().
  void set_access(access_guard* guard, time_point now);
  /// The guard's answers changed (policy, roles, revocation): drops every cached decision,
  /// re-evaluates the declarations of every node (watchers see tokens that lost their right
  /// leave, and those that gained it join), suspends or resumes local declarations, and sends
  /// the records that hold liveliness tokens again so neighbours that may now watch them get
  /// them.
  void access_changed(time_point now);

  // ---- local API ----

  /// Subscribes to `expr`; samples go to the sink with the returned id. Errors: those of
  /// keyexpr::keyexpr::parse (as keyexpr::errc), routing_errc::too_many_declarations.
  result<std::uint64_t> declare_subscriber(std::string_view expr);
  /// Ends a subscription (unknown ids are ignored).
  void undeclare_subscriber(std::uint64_t id);
  /// Declares a publisher on `key` (no wildcards). Errors: keyexpr errors, not_a_key.
  result<std::uint64_t> declare_publisher(std::string_view key, publisher_options opts = {});
  /// Ends a publisher (unknown ids are ignored). The nodes downstream are told its last
  /// sequence number (publisher_end, at the next drain) and drop its receive state once they
  /// have it all; a reliable publisher's history stays for their repair requests
  /// (retired_linger).
  void undeclare_publisher(std::uint64_t id);
  /// Publishes a put (or, with `del`, a delete) on publisher `id`, stamped with our clock at
  /// `physical_ntp`; `now` schedules its heartbeats. Local subscribers get it at once,
  /// neighbours in the next drain. Errors: unknown_publisher, errc::payload_too_large.
  result<void> put(std::uint64_t publisher, bytes_view payload, time_point now,
                   std::uint64_t physical_ntp, bool del = false);
  /// A put without a declared publisher: uses an implicit reliable publisher per key, created
  /// on the first put and collected when idle (implicit_idle, max_implicit_publishers,
  /// implicit_history_budget above). Errors: as declare_publisher and put.
  result<void> put(std::string_view key, bytes_view payload, std::string_view encoding,
                   time_point now, std::uint64_t physical_ntp, bool del = false);

  // ---- queries ----

  /// Declares a queryable on `expr`; queries whose selector intersects it reach the sink's
  /// on_query. `complete`: it answers for every key `expr` covers. Errors: keyexpr errors,
  /// routing_errc::too_many_declarations.
  result<std::uint64_t> declare_queryable(std::string_view expr, bool complete = false);
  /// Ends a queryable (unknown ids are ignored).
  void undeclare_queryable(std::uint64_t id);
  /// Sends a query on `selector` (a key expression) to the nodes whose queryables match
  /// (per opts.target), ourselves included. Replies reach on_reply, the end on_query_done
  /// (also when nobody matches: then at the next on_deadline()). Errors: keyexpr errors,
  /// bad_parameters, too_many_queries, errc::payload_too_large.
  result<std::uint64_t> get(std::string_view selector, const query_options& opts, time_point now);
  /// Answers query `handle` (from on_query) with a sample on `key`, which the selector must
  /// match; `error` marks a failure reply. The reply is stamped `timestamp` when given (a
  /// stored sample's own stamp), else with our clock at `physical_ntp`. Errors:
  /// unknown_query, reply_key_mismatch, keyexpr errors, errc::payload_too_large.
  result<void> reply(std::uint64_t handle, std::string_view key, bytes_view payload,
                     std::string_view encoding, std::uint64_t physical_ntp, bool error = false,
                     std::uint64_t timestamp = 0);
  /// This queryable has answered query `handle` completely (unknown handles are ignored).
  void reply_final(std::uint64_t handle);

  // ---- liveliness ----

  /// Declares a liveliness token on `key` (no wildcards): watchers everywhere see it appear,
  /// and go when it is undeclared or this node becomes unreachable. Errors: keyexpr
  /// errors, not_a_key, routing_errc::too_many_declarations.
  result<std::uint64_t> declare_token(std::string_view key);
  /// Ends a token (unknown ids are ignored).
  void undeclare_token(std::uint64_t id);
  /// Watches tokens matching `expr`: on_liveliness with alive=true for every current token
  /// at once (from inside this call), then for each change. Errors: keyexpr errors.
  result<std::uint64_t> watch_liveliness(std::string_view expr);
  /// Ends a watch (unknown ids are ignored).
  void unwatch_liveliness(std::uint64_t id);
  /// The current tokens matching `expr`, as (key, node), sorted. Errors: keyexpr errors.
  result<std::vector<std::pair<std::string, peer_id>>> liveliness_tokens(
      std::string_view expr) const;

  // ---- timers and state ----

  /// When on_deadline() has work.
  time_point next_deadline() const;
  /// Timer expiry: heartbeats, repeated nacks, given-up gaps, idle receive state, and
  /// unreachable records.
  void on_deadline(time_point now);
  /// Samples held for in-order delivery, over all publishers.
  std::size_t held_samples() const noexcept { return m_held_count; }
  /// Receive states (one per (source, publisher) seen).
  std::size_t streams() const noexcept { return m_streams.size(); }
  /// Counters.
  const engine_stats& stats() const noexcept { return m_stats; }
  /// What the engine holds now (O(publishers)).
  engine_usage usage() const;
  /// The routing table (read-only).
  const routing_table& routes() const noexcept { return m_routes; }
  /// Our peer id.
  const peer_id& self() const noexcept { return m_self; }

 private:
  struct link;
  struct publisher;
  struct subscriber;
  struct key_state;
  struct stream;
  struct held_sample;
  struct queryable;
  struct pending_query;
  struct incoming_query;

  link* find_link(const peer_id& peer);
  void flood_own();
  void flood_record(const node_record& r, const link* except);
  void send_record(link& l, const node_record& r);
  void pump_routing();
  void update_declarations();
  void sync_declarations();
  result<void> handle(link& l, const message& m, time_point now, std::uint64_t physical_ntp);
  result<void> handle_record(link& l, const record_message& m, time_point now);
  result<void> handle_push(link& l, const push& m, time_point now, std::uint64_t physical_ntp);
  result<void> handle_heartbeat(link& l, const heartbeat& m, time_point now);
  result<void> handle_nack(link& l, const nack& m, time_point now);
  result<void> handle_repair(link& l, const repair& m, time_point now);
  result<void> handle_publisher_end(link& l, const publisher_end& m, time_point now);
  const peer_id* resolve_node(const link& l, std::uint64_t alias) const;
  void route_sample(const peer_id& source, const link* from, std::string_view key,
                    const push& wire_sample);
  void deliver_local(std::string_view key, const sample& s);
  const std::vector<std::uint64_t>& local_subs_for(key_state& ks, std::string_view key);
  key_state& key_entry(std::string_view key);
  void forget_key(std::string_view key);
  void drop_publisher(std::uint64_t id, bool retire);
  void announce_end(std::uint64_t id, publisher& p);
  void free_oldest_retired();
  void collect_retired(time_point now);
  void collect_implicit(time_point now);
  const std::vector<peer_id>* targets_for_key(const peer_id& source, std::string_view key);
  // Queries and liveliness.
  result<void> handle_query(link& l, const query& m, time_point now);
  result<void> handle_reply(link& l, const data::reply& m);
  result<void> handle_reply_final(link& l, const data::reply_final& m);
  void run_query(const peer_id& origin, std::uint64_t qid, const keyexpr::keyexpr& selector,
                 query_target target, std::string_view parameters,
                 std::optional<bytes_view> payload, clock_duration timeout, time_point now);
  void deliver_reply(const peer_id& from, std::uint64_t qid, const reply_view& r);
  void node_finished(const peer_id& node, std::uint64_t qid, bool gone);
  void finish_query(std::uint64_t qid, bool timed_out);
  void send_unicast_query(const peer_id& dest, const peer_id& origin, query q);
  void send_unicast_reply(const peer_id& dest, const peer_id& from, data::reply r);
  void send_unicast_final(const peer_id& dest, const peer_id& from, data::reply_final f);
  void token_event(const std::string& key, const peer_id& node, bool alive);
  // Access.
  bool ingress_allowed(link& l, const message& m);
  void refuse_query(link& l, const query& q);
  bool requirement_met(link& l, const requirement& r);
  bool may(const peer_id& node, access::operation op, std::string_view key);
  bool may_declare(const peer_id& node, access::operation op, const keyexpr::keyexpr& expr);
  bool declaration_allowed(const peer_id& origin, const declaration& d);
  bool local_put_allowed(publisher& p, bool del);
  void rebuild_remote_declarations();
  // Reliability.
  stream* stream_for(const peer_id& source, std::uint64_t pub, time_point now);
  void receive_ordered(stream& st, std::string_view key, const push& m, time_point now,
                       bool repaired);
  void open_gap(stream& st, time_point now);
  void close_gap(stream& st);
  void deliver_held(stream& st);
  void give_up_gaps(stream& st);
  void finish_if_ended(stream& st);
  void drop_stream(stream& st);
  void send_nacks(stream& st, time_point now);
  link* unicast_link(const peer_id& dest);
  void send_unicast_nack(const peer_id& dest, const peer_id& requester, nack n);
  void send_unicast_repair(const peer_id& dest, const peer_id& source, std::string_view key,
                           repair r);
  void send_heartbeat_on(link& l, const peer_id& source, std::string_view key, std::uint64_t pub,
                         std::uint64_t last_seq, priority prio, bool end = false);
  const std::vector<peer_id>& targets_for(key_state& ks, const peer_id& source,
                                          std::string_view key);
  bool send_push(link& l, const peer_id& source, std::string_view key, const push& p);
  std::uint64_t node_alias_for(link& l, const peer_id& node);
  std::uint64_t key_alias_for(link& l, std::string_view key, std::size_t lane);
  bytes& out_for(link& l, std::size_t lane = 0);
  std::optional<bytes_view> finish_frame(link& l, std::size_t lane);
  void note_payload(link& l, std::size_t lane, std::string_view encoding, std::size_t size);

  peer_id m_self;
  engine_sink& m_sink;
  access_guard* m_guard = nullptr;
  /// Bumps at every access change; cached decisions carry the one they were made in (0: none).
  std::uint64_t m_access_generation = 1;
  /// Remote liveliness tokens local watchers were told of (their origin may hold them and we
  /// may watch them), for the diff of access_changed().
  std::set<std::pair<peer_id, std::string>> m_remote_tokens;
  engine_options m_opts;
  zstd_compressor m_compressor;
  zstd_decompressor m_decompressor;
  bytes m_zout;  ///< the last compressed frame (drained before the next is made)
  bytes m_zin;   ///< the body of the last compressed frame received
  routing_table m_routes;
  hlc m_clock;
  engine_stats m_stats;
  std::unordered_map<peer_id, std::unique_ptr<link>> m_links;
  std::vector<link*> m_dirty;    ///< links with output to drain
  std::vector<link*> m_waiting;  ///< scratch: links whose samples wait for room
  bool m_express = false;
  bool m_own_dirty = false;  ///< our record changed since the last drain
  /// A local declaration changed: the record's list is rebuilt at the next drain, deadline or
  /// query (once for a burst of declarations, not once per declaration).
  bool m_decls_dirty = false;
  // Local declarations.
  std::uint64_t m_next_id = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<subscriber>> m_subs;
  std::unordered_map<std::uint64_t, std::unique_ptr<publisher>> m_pubs;
  string_map<std::uint64_t> m_implicit_pubs;  ///< key -> publisher
  std::list<std::uint64_t> m_implicit_lru;    ///< implicit publishers, least recently put first
  std::size_t m_implicit_history = 0;         ///< history bytes of the implicit publishers
  // Undeclared reliable publishers whose history is kept for repair requests, in the order
  // they were undeclared, with when each goes (no_deadline: not stamped yet; the next
  // on_deadline() stamps it `now + retired_linger`).
  std::unordered_map<std::uint64_t, std::unique_ptr<publisher>> m_retired;
  std::deque<std::pair<time_point, std::uint64_t>> m_retired_order;
  std::size_t m_retired_unstamped = 0;
  std::size_t m_retired_history = 0;  ///< history bytes of the retired publishers
  // Publishers freed while deliver_local() hands their sample to several handlers (a handler
  // undeclared one): the sample points into their key and encoding, so they are freed when
  // the outermost delivery ends.
  int m_delivering = 0;
  std::vector<std::unique_ptr<publisher>> m_freed_in_delivery;
  keyexpr::key_index m_local_subs;   ///< our subscriptions, by id
  keyexpr::key_index m_remote_subs;  ///< reachable nodes' subscriptions, by node number
  std::unordered_map<peer_id, std::uint64_t> m_node_numbers;
  std::unordered_map<std::uint64_t, peer_id> m_node_by_number;
  std::uint64_t m_next_node_number = 1;
  // Per key: matching local subscriptions and forwarding targets, valid for one generation.
  // Two cache generations (max_cached_keys): lookups promote an old entry to the current one.
  string_map<std::unique_ptr<key_state>> m_keys;
  string_map<std::unique_ptr<key_state>> m_keys_old;
  std::size_t m_keys_bytes = 0;          ///< key text in m_keys
  std::size_t m_keys_old_bytes = 0;      ///< key text in m_keys_old
  std::uint64_t m_local_generation = 0;  ///< bumps when local subscriptions change
  // Per (source, publisher): the last sequence number delivered.
  struct seq_key {
    peer_id source;
    std::uint64_t publisher;
    bool operator==(const seq_key&) const = default;
  };
  /// A lookup key that refers to the source instead of copying it (a peer id owns heap
  /// memory: copying one per received sample was the receive path's only allocation).
  struct seq_ref {
    const peer_id& source;
    std::uint64_t publisher;
  };
  struct seq_hash {
    using is_transparent = void;
    static std::size_t mix(const peer_id& source, std::uint64_t publisher) noexcept {
      return std::hash<peer_id>{}(source) ^ (publisher * 0x9e3779b97f4a7c15ULL);
    }
    std::size_t operator()(const seq_key& k) const noexcept { return mix(k.source, k.publisher); }
    std::size_t operator()(const seq_ref& k) const noexcept { return mix(k.source, k.publisher); }
  };
  struct seq_eq {
    using is_transparent = void;
    bool operator()(const seq_key& a, const seq_key& b) const noexcept { return a == b; }
    bool operator()(const seq_ref& a, const seq_key& b) const noexcept {
      return a.publisher == b.publisher && a.source == b.source;
    }
    bool operator()(const seq_key& a, const seq_ref& b) const noexcept { return (*this)(b, a); }
  };
  // Queries: our queryables, theirs (by node number), ours pending, incoming being answered.
  std::unordered_map<std::uint64_t, std::unique_ptr<queryable>> m_qbls;
  keyexpr::key_index m_local_qbls;
  keyexpr::key_index m_remote_qbls;
  std::unordered_map<std::uint64_t, std::unique_ptr<pending_query>> m_pending;
  std::uint64_t m_next_qid = 1;
  std::unordered_map<std::uint64_t, std::shared_ptr<incoming_query>> m_handles;
  // Liveliness: our tokens (id -> key) and watches.
  std::unordered_map<std::uint64_t, std::string> m_tokens;
  std::unordered_map<std::uint64_t, keyexpr::keyexpr> m_watches;
  keyexpr::key_index m_local_watches;
  std::unordered_map<seq_key, std::unique_ptr<stream>, seq_hash, seq_eq> m_streams;
  std::vector<stream*> m_gapped;  ///< streams with an open gap (nack timers)
  std::size_t m_held_count = 0;
  std::size_t m_held_bytes = 0;
  time_point m_next_sweep = no_deadline;  ///< when idle streams are collected
  // Heartbeat timers of our publishers: (due, publisher id), lazily updated.
  std::vector<std::pair<time_point, std::uint64_t>> m_hb_heap;
};

}  // namespace starling::data

template <>
struct std::is_error_code_enum<starling::data::engine_errc> : std::true_type {};
