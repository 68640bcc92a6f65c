#pragma once
/// The routing database of the data layer (docs/protocols/data.md, "Node records (routing)"
/// and "Routes"): a sans-I/O core that holds every node's record, derives the graph and the
/// shortest-path trees from them, and answers where a sample or a unicast message goes next.
///
/// The caller (the data layer's node) reports facts: our own links and declarations
/// (set_links, set_declarations) and records received from neighbours (apply). After each of
/// them it floods what changed (own() when a setter returned true or apply returned
/// own_bumped; a stored record to every neighbour but the sender), drains poll_event() until
/// it returns nullopt, and arms its timer at next_deadline(). Queries (reachable, next_hop,
/// forward_targets) are cheap after the first one that follows a change.
///
/// Graph and trees: a link counts only when both records list each other. The tree of source
/// S is the breadth-first tree from S in which the parent of v is, of v's neighbours one hop
/// nearer to S, the one with the smallest peer id bytes; every table holding the same records
/// computes the same trees, whatever order the records arrived in. Work is lazy: the graph
/// is rebuilt (O(V + E log E)) once after a batch of changes, at the first query, and each
/// source's tree (O(V + E)) is computed on demand and cached until the graph changes.
///
/// Memory is bounded: at most max_records records of other nodes, max_links links and
/// max_decls declarations each, max_cached_trees cached trees. A record whose origin is not
/// reachable is kept for unreachable_keep (its declarations are not used meanwhile), then
/// erased; when the table is full, the longest-unreachable record makes room for a new one.

#include <compare>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "core/common/result.hpp"
#include "core/common/time.hpp"
#include "core/multiformats/peer_id.hpp"

namespace starling::data {

using multiformats::peer_id;

/// One declaration of a node's record: `decl = kind:u8 flags:u8 expr:string` on the wire.
struct declaration {
  /// What is declared; the values are the wire's.
  enum class kind : std::uint8_t { subscriber = 1, queryable = 2, token = 3 };
  kind k = kind::subscriber;  ///< what is declared
  std::uint8_t flags = 0;     ///< queryable: bit 0 complete; otherwise 0
  std::string expr;           ///< a canonical key expression

  /// Compared and ordered by (kind, flags, expression).
  friend bool operator==(const declaration&, const declaration&) = default;
  /// Records keep their declarations sorted in this order.
  friend std::strong_ordering operator<=>(const declaration&, const declaration&) = default;
};

/// A node's record: its direct neighbours in the data mesh and its declarations.
struct node_record {
  peer_id origin;                  ///< the node this record describes
  std::uint64_t version = 0;       ///< higher supersedes lower (at most max_record_version)
  std::vector<peer_id> links;      ///< stored sorted by bytes, without duplicates
  std::vector<declaration> decls;  ///< stored sorted, without duplicates
};

/// The largest version a record may carry (the wire's uvarint ceiling, 2^63 - 1).
inline constexpr std::uint64_t max_record_version = (std::uint64_t{1} << 63) - 1;

/// Bounds of one routing table; the defaults are the protocol's limits.
struct routing_limits {
  std::size_t max_records = 4096;      ///< records of other nodes held
  std::size_t max_links = 256;         ///< neighbours in one record
  std::size_t max_decls = 16384;       ///< declarations in one record
  std::size_t max_cached_trees = 256;  ///< per-source trees kept for forward_targets
  clock_duration unreachable_keep = std::chrono::seconds(60);  ///< unreachable records kept
};

/// Errors of the routing table's setters (records from the network get apply's outcome).
enum class routing_errc {
  invalid_link = 1,       ///< set_links: an empty peer id or our own
  too_many_links,         ///< set_links: more than max_links distinct neighbours
  invalid_declaration,    ///< set_declarations: a kind outside 1..3
  too_many_declarations,  ///< set_declarations: more than max_decls distinct declarations
};
/// The "data.routing" error category.
const std::error_category& routing_category() noexcept;
/// Makes `routing_errc` values usable as std::error_code.
inline std::error_code make_error_code(routing_errc e) noexcept {
  return {static_cast<int>(e), routing_category()};
}

/// A change the layers above act on (poll_event). Each event is a diff from what earlier
/// events said about the node: a node is "seen" from its `reachable` event, with the
/// declarations listed there, until its `unreachable` event. Liveliness turns added tokens
/// into "joined" and removed ones into "left"; subscriptions and queryables likewise.
struct routing_event {
  /// What happened to the node.
  enum class kind : std::uint8_t {
    reachable,     ///< the node is reachable now; `added` holds all its declarations
    unreachable,   ///< no longer reachable; `removed` holds all declarations it had
    declarations,  ///< a reachable node's declarations changed by `added` and `removed`
  };
  kind k = kind::reachable;          ///< what happened
  peer_id node;                      ///< to which node (never self)
  std::vector<declaration> added;    ///< sorted
  std::vector<declaration> removed;  ///< sorted
};

/// The routing table of one node. Not thread-safe: one owner (the network thread) calls it;
/// const members update internal caches.
class routing_table {
 public:
  /// What apply() did with a record.
  enum class outcome {
    stored,      ///< newer than what we had: flood it to every neighbour but the sender
    stale,       ///< older than or equal to ours (or our own record echoed back): ignore. A
                 ///< record of the same version whose declarations are a strict superset of
                 ///< ours, same links, is stored instead (it completes one sent to us trimmed)
    own_bumped,  ///< someone holds a record about us that beats ours: we raised our version
                 ///< above it; flood own() to every neighbour
    full,        ///< a new origin and max_records reached with none unreachable: ignore, count
    invalid,     ///< breaks a limit or a rule (too many links or declarations, an empty id, a
                 ///< self-link, a bad kind or version): a protocol error, reset the link
  };

  /// `self` is our peer id (not empty); `initial_version` our record's first version (the
  /// start time in milliseconds, so a restarted node's records supersede its old ones).
  routing_table(peer_id self, std::uint64_t initial_version, routing_limits limits = {});

  /// Our own record (origin = self).
  const node_record& own() const noexcept { return m_slots[0].rec; }
  /// The limits in use.
  const routing_limits& limits() const noexcept { return m_limits; }

  /// Replaces our neighbours in the data mesh (sorted, duplicates dropped); `now` dates the
  /// records this makes unreachable. Returns true when the list changed: our version grew by
  /// one and the caller floods own(). Errors: invalid_link, too_many_links; nothing changes,
  /// and the caller keeps the link out of the data mesh (closes its data streams).
  [[nodiscard]] result<bool> set_links(std::vector<peer_id> links, time_point now);

  /// Replaces our declarations (sorted, duplicates dropped). Returns true when they changed:
  /// our version grew by one and the caller floods own(). Errors: invalid_declaration,
  /// too_many_declarations; nothing changes, and the caller refuses the local declaration
  /// that caused it.
  [[nodiscard]] result<bool> set_declarations(std::vector<declaration> decls);

  /// A record received from a neighbour; see outcome for what the caller does next. Records
  /// about us are never stored: one that differs from ours and is not older makes us raise
  /// our version (own_bumped); our own record echoed back is stale.
  outcome apply(node_record r, time_point now);

  /// The stored record of `node` (ours for self), reachable or not; nullptr if none. Valid
  /// until the next call of a non-const member.
  const node_record* find(const peer_id& node) const;
  /// Every stored record, ours first (what a link that just came up is sent). Valid until the
  /// next call of a non-const member.
  std::vector<const node_record*> records() const;
  /// Stored records, ours included.
  std::size_t size() const noexcept { return m_index.size(); }

  /// True when `node` is self or connected to us through links both ends list; only such
  /// nodes' declarations count.
  bool reachable(const peer_id& node) const;

  /// Hops from us to `dest` on a shortest path (0 for self); nullopt when not reachable.
  std::optional<std::uint32_t> hops(const peer_id& dest) const;

  /// The neighbour a unicast message for `dest` goes to: our parent in dest's tree, the first
  /// hop of a shortest path. nullopt when dest is self or not reachable (the caller drops and
  /// counts the message).
  std::optional<peer_id> next_hop(const peer_id& dest) const;

  /// The neighbours a sample from `source` goes to: our children in source's tree whose
  /// subtree holds a node for which `interested(record)` is true (called only for reachable
  /// nodes other than self and source, at most once per node, nearest first; it must not
  /// call forward_targets). `out` is cleared first; it stays empty when source is not
  /// reachable. Cache the answer per (source, key) until generation() changes.
  void forward_targets(const peer_id& source,
                       const std::function<bool(const node_record&)>& interested,
                       std::vector<peer_id>& out) const;

  /// A number that changes whenever the graph or a stored record's declarations change (so
  /// whenever next_hop or forward_targets may answer differently).
  std::uint64_t generation() const noexcept { return m_generation; }

  /// The next reachability or declaration change since the last call, or nullopt. Never
  /// about self.
  std::optional<routing_event> poll_event();

  /// When on_deadline() will erase an unreachable record, or no_deadline.
  time_point next_deadline() const;
  /// Timer expiry: erases records unreachable for unreachable_keep or longer.
  void on_deadline(time_point now);

 private:
  static constexpr std::uint32_t none = UINT32_MAX;

  struct slot {
    node_record rec;
    bool used = false;
  };
  /// The forwarding part of one source's tree: our children, each with its subtree.
  struct tree {
    std::vector<std::uint32_t> children;  ///< slots, by peer id
    std::vector<std::uint32_t> begin;     ///< members of child i: [begin[i], begin[i + 1])
    std::vector<std::uint32_t> members;   ///< slots, nearest first within each subtree
  };
  /// Everything derived from the records; recomputed by settle().
  struct derived {
    bool dirty = true;
    std::vector<std::uint32_t> adj_begin;  ///< per slot, into adj (size slots + 1)
    std::vector<std::uint32_t> adj;        ///< mutual neighbours, each list by peer id
    std::vector<std::uint32_t> rank;       ///< per slot: position in peer id order
    std::vector<std::uint32_t> first_hop;  ///< per slot: our neighbour towards it, or none
    std::vector<std::uint32_t> self_dist;  ///< per slot: hops from us, or none
    std::vector<std::uint8_t> reachable;   ///< per slot, as last reported by events
    std::vector<time_point> unreachable_since;
    std::deque<routing_event> events;
    std::unordered_map<std::uint32_t, tree> trees;
    std::deque<std::uint32_t> tree_order;  ///< cached sources, oldest first
    time_point deadline = no_deadline;
    // Scratch for breadth-first searches.
    std::vector<std::uint32_t> dist, order, parent, branch;
  };

  std::optional<std::uint32_t> index_of(const peer_id& node) const;
  std::uint32_t allocate(const peer_id& origin, time_point now);
  void erase(std::uint32_t i);
  void mark_graph_changed();
  bool make_room();
  outcome apply_own(const node_record& r);
  void bump_own();
  void settle() const;
  void rebuild_graph() const;
  void bfs(std::uint32_t root) const;
  const tree& tree_of(std::uint32_t source) const;

  routing_limits m_limits;
  std::vector<slot> m_slots;  ///< slot 0 is self
  std::vector<std::uint32_t> m_free;
  std::unordered_map<peer_id, std::uint32_t> m_index;
  std::uint64_t m_generation = 0;
  time_point m_now{};  ///< latest time seen, dates reachability changes found by settle()
  mutable derived m_d;
};

}  // namespace starling::data

template <>
struct std::is_error_code_enum<starling::data::routing_errc> : std::true_type {};
