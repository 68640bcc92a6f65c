#include "core/data/routing.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace starling::data {

namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "data.routing"; }
  std::string message(int c) const override {
    switch (static_cast<routing_errc>(c)) {
      case routing_errc::invalid_link:
        return "a link to an empty peer id or to ourselves";
      case routing_errc::too_many_links:
        return "more links than a record may hold";
      case routing_errc::invalid_declaration:
        return "a declaration of an unknown kind";
      case routing_errc::too_many_declarations:
        return "more declarations than a record may hold";
    }
    return "unknown routing error";
  }
};

bool valid_kind(declaration::kind k) {
  return k == declaration::kind::subscriber || k == declaration::kind::queryable ||
         k == declaration::kind::token;
}

template <class T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

/// Elements of sorted `a` that sorted `b` lacks.
std::vector<declaration> minus(const std::vector<declaration>& a,
                               const std::vector<declaration>& b) {
  std::vector<declaration> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace

const std::error_category& routing_category() noexcept {
  static const category_impl c;
  return c;
}

routing_table::routing_table(peer_id self, std::uint64_t initial_version, routing_limits limits)
    : m_limits(limits) {
  m_slots.push_back({node_record{std::move(self), initial_version, {}, {}}, true});
  m_index.emplace(m_slots[0].rec.origin, 0);
  m_d.reachable.assign(1, 1);
  m_d.unreachable_since.assign(1, time_point{});
}

result<bool> routing_table::set_links(std::vector<peer_id> links, time_point now) {
  for (const auto& l : links) {
    if (l.empty() || l == own().origin) return routing_errc::invalid_link;
  }
  sort_unique(links);
  if (links.size() > m_limits.max_links) return routing_errc::too_many_links;
  m_now = std::max(m_now, now);
  if (links == own().links) return false;
  m_slots[0].rec.links = std::move(links);
  bump_own();
  mark_graph_changed();
  return true;
}

result<bool> routing_table::set_declarations(std::vector<declaration> decls) {
  for (const auto& d : decls) {
    if (!valid_kind(d.k)) return routing_errc::invalid_declaration;
  }
  sort_unique(decls);
  if (decls.size() > m_limits.max_decls) return routing_errc::too_many_declarations;
  if (decls == own().decls) return false;
  m_slots[0].rec.decls = std::move(decls);
  bump_own();
  ++m_generation;
  return true;
}

routing_table::outcome routing_table::apply(node_record r, time_point now) {
  if (r.origin.empty() || r.version > max_record_version || r.links.size() > m_limits.max_links ||
      r.decls.size() > m_limits.max_decls) {
    return outcome::invalid;
  }
  for (const auto& l : r.links) {
    if (l.empty() || l == r.origin) return outcome::invalid;
  }
  for (const auto& d : r.decls) {
    if (!valid_kind(d.k)) return outcome::invalid;
  }
  sort_unique(r.links);
  sort_unique(r.decls);
  m_now = std::max(m_now, now);
  if (r.origin == own().origin) return apply_own(r);

  if (auto found = index_of(r.origin)) {
    const std::uint32_t i = *found;
    node_record& old = m_slots[i].rec;
    if (r.version < old.version) return outcome::stale;
    if (r.version == old.version) {
      // A neighbour that may not watch some liveliness tokens gets the record without them
      // (engine.hpp, "Access") and floods it so; the whole record of the same version, by
      // another path, completes it. Anything else of the same version is an echo.
      if (r.links != old.links || r.decls.size() <= old.decls.size() ||
          !std::includes(r.decls.begin(), r.decls.end(), old.decls.begin(), old.decls.end())) {
        return outcome::stale;
      }
    }
    const bool links_changed = old.links != r.links;
    if (old.decls != r.decls) {
      ++m_generation;
      if (m_d.reachable[i]) {
        // Reported reachable: tell the diff now. If a pending graph change makes the node
        // unreachable, settle() follows with an event that removes the new list.
        routing_event e{routing_event::kind::declarations, r.origin, minus(r.decls, old.decls),
                        minus(old.decls, r.decls)};
        m_d.events.push_back(std::move(e));
      }
    }
    old = std::move(r);
    if (links_changed) mark_graph_changed();
    return outcome::stored;
  }

  if (m_index.size() - 1 >= m_limits.max_records && !make_room()) return outcome::full;
  const std::uint32_t i = allocate(r.origin, now);
  m_slots[i].rec = std::move(r);
  mark_graph_changed();
  return outcome::stored;
}

routing_table::outcome routing_table::apply_own(const node_record& r) {
  const node_record& mine = own();
  if (r.version < mine.version) return outcome::stale;
  // Our current record flooded back to us is the common case and must not bump, or every
  // echo would start another round.
  if (r.version == mine.version && r.links == mine.links && r.decls == mine.decls) {
    return outcome::stale;
  }
  // Our record as a neighbour that may not watch some of our liveliness tokens got it
  // (trimmed, engine.hpp "Access"): an echo too. Bumping would only make every such
  // neighbour send it back again.
  if (r.version == mine.version && r.links == mine.links && r.decls.size() < mine.decls.size() &&
      std::includes(mine.decls.begin(), mine.decls.end(), r.decls.begin(), r.decls.end())) {
    std::vector<declaration> missing;
    std::set_difference(mine.decls.begin(), mine.decls.end(), r.decls.begin(), r.decls.end(),
                        std::back_inserter(missing));
    if (std::all_of(missing.begin(), missing.end(),
                    [](const declaration& d) { return d.k == declaration::kind::token; })) {
      return outcome::stale;
    }
  }
  if (r.version >= max_record_version) return outcome::invalid;
  m_slots[0].rec.version = r.version + 1;
  return outcome::own_bumped;
}

void routing_table::bump_own() {
  if (m_slots[0].rec.version < max_record_version) ++m_slots[0].rec.version;
}

void routing_table::mark_graph_changed() {
  m_d.dirty = true;
  ++m_generation;
}

std::optional<std::uint32_t> routing_table::index_of(const peer_id& node) const {
  auto it = m_index.find(node);
  if (it == m_index.end()) return std::nullopt;
  return it->second;
}

std::uint32_t routing_table::allocate(const peer_id& origin, time_point now) {
  std::uint32_t i;
  if (!m_free.empty()) {
    i = m_free.back();
    m_free.pop_back();
  } else {
    i = static_cast<std::uint32_t>(m_slots.size());
    m_slots.emplace_back();
    m_d.reachable.resize(m_slots.size());
    m_d.unreachable_since.resize(m_slots.size());
  }
  m_slots[i].used = true;
  m_slots[i].rec.origin = origin;
  m_d.reachable[i] = 0;
  m_d.unreachable_since[i] = now;
  m_index.emplace(origin, i);
  return i;
}

void routing_table::erase(std::uint32_t i) {
  m_index.erase(m_slots[i].rec.origin);
  m_slots[i] = slot{};  // frees the record's lists
  m_free.push_back(i);
  mark_graph_changed();
}

bool routing_table::make_room() {
  settle();
  std::uint32_t victim = none;
  for (std::uint32_t i = 1; i < m_slots.size(); ++i) {
    if (!m_slots[i].used || m_d.reachable[i]) continue;
    if (victim == none || m_d.unreachable_since[i] < m_d.unreachable_since[victim]) victim = i;
  }
  if (victim == none) return false;
  erase(victim);
  return true;
}

const node_record* routing_table::find(const peer_id& node) const {
  auto i = index_of(node);
  return i ? &m_slots[*i].rec : nullptr;
}

std::vector<const node_record*> routing_table::records() const {
  std::vector<const node_record*> out;
  out.reserve(m_index.size());
  for (const auto& s : m_slots) {
    if (s.used) out.push_back(&s.rec);
  }
  return out;
}

bool routing_table::reachable(const peer_id& node) const {
  settle();
  auto i = index_of(node);
  return i && m_d.reachable[*i];
}

std::optional<std::uint32_t> routing_table::hops(const peer_id& dest) const {
  settle();
  auto i = index_of(dest);
  if (!i || !m_d.reachable[*i] || m_d.self_dist[*i] == none) return std::nullopt;
  return m_d.self_dist[*i];
}

std::optional<peer_id> routing_table::next_hop(const peer_id& dest) const {
  settle();
  auto i = index_of(dest);
  if (!i || *i == 0 || !m_d.reachable[*i]) return std::nullopt;
  return m_slots[m_d.first_hop[*i]].rec.origin;
}

void routing_table::forward_targets(const peer_id& source,
                                    const std::function<bool(const node_record&)>& interested,
                                    std::vector<peer_id>& out) const {
  out.clear();
  settle();
  auto s = index_of(source);
  if (!s || !m_d.reachable[*s]) return;
  const tree& t = tree_of(*s);
  for (std::size_t k = 0; k < t.children.size(); ++k) {
    for (std::uint32_t m = t.begin[k]; m < t.begin[k + 1]; ++m) {
      if (interested(m_slots[t.members[m]].rec)) {
        out.push_back(m_slots[t.children[k]].rec.origin);
        break;
      }
    }
  }
}

std::optional<routing_event> routing_table::poll_event() {
  settle();
  if (m_d.events.empty()) return std::nullopt;
  routing_event e = std::move(m_d.events.front());
  m_d.events.pop_front();
  return e;
}

time_point routing_table::next_deadline() const {
  settle();
  return m_d.deadline;
}

void routing_table::on_deadline(time_point now) {
  m_now = std::max(m_now, now);
  settle();
  if (m_d.deadline > now) return;
  for (std::uint32_t i = 1; i < m_slots.size(); ++i) {
    if (m_slots[i].used && !m_d.reachable[i] &&
        m_d.unreachable_since[i] + m_limits.unreachable_keep <= now) {
      erase(i);
    }
  }
}

void routing_table::settle() const {
  if (!m_d.dirty) return;
  m_d.dirty = false;
  m_d.trees.clear();
  m_d.tree_order.clear();
  rebuild_graph();

  bfs(0);
  m_d.self_dist = m_d.dist;
  const auto n = static_cast<std::uint32_t>(m_slots.size());
  // Our neighbour towards v is the smallest-id one on a shortest path: the smallest of the
  // first hops of v's neighbours one hop nearer (the doc's "our parent in v's tree").
  m_d.first_hop.assign(n, none);
  for (std::size_t k = 1; k < m_d.order.size(); ++k) {
    const std::uint32_t v = m_d.order[k];
    if (m_d.dist[v] == 1) {
      m_d.first_hop[v] = v;
      continue;
    }
    std::uint32_t best = none;
    for (std::uint32_t a = m_d.adj_begin[v]; a < m_d.adj_begin[v + 1]; ++a) {
      const std::uint32_t u = m_d.adj[a];
      if (m_d.dist[u] + 1 != m_d.dist[v]) continue;
      const std::uint32_t h = m_d.first_hop[u];
      if (best == none || m_d.rank[h] < m_d.rank[best]) best = h;
    }
    m_d.first_hop[v] = best;
  }

  m_d.deadline = no_deadline;
  for (std::uint32_t i = 1; i < n; ++i) {
    if (!m_slots[i].used) continue;
    const node_record& r = m_slots[i].rec;
    const bool now_reachable = m_d.dist[i] != none;
    if (now_reachable != static_cast<bool>(m_d.reachable[i])) {
      m_d.reachable[i] = now_reachable;
      if (now_reachable) {
        m_d.events.push_back({routing_event::kind::reachable, r.origin, r.decls, {}});
      } else {
        m_d.unreachable_since[i] = m_now;
        m_d.events.push_back({routing_event::kind::unreachable, r.origin, {}, r.decls});
      }
    }
    if (!now_reachable) {
      m_d.deadline = std::min(m_d.deadline, m_d.unreachable_since[i] + m_limits.unreachable_keep);
    }
  }
}

void routing_table::rebuild_graph() const {
  const auto n = static_cast<std::uint32_t>(m_slots.size());
  std::vector<std::uint32_t> by_id;
  by_id.reserve(m_index.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    if (m_slots[i].used) by_id.push_back(i);
  }
  std::sort(by_id.begin(), by_id.end(), [this](std::uint32_t a, std::uint32_t b) {
    return m_slots[a].rec.origin < m_slots[b].rec.origin;
  });
  m_d.rank.assign(n, none);
  for (std::uint32_t k = 0; k < by_id.size(); ++k)
    m_d.rank[by_id[k]] = k;

  // Each record's links that name a stored record, as slots. Links are sorted by id, so
  // these lists are in rank order, and so is every adjacency list filtered from them.
  std::vector<std::uint32_t> listed_begin(n + 1), listed;
  for (std::uint32_t i = 0; i < n; ++i) {
    listed_begin[i] = static_cast<std::uint32_t>(listed.size());
    if (!m_slots[i].used) continue;
    for (const auto& l : m_slots[i].rec.links) {
      if (auto j = index_of(l)) listed.push_back(*j);
    }
  }
  listed_begin[n] = static_cast<std::uint32_t>(listed.size());

  const auto by_rank = [this](std::uint32_t a, std::uint32_t b) {
    return m_d.rank[a] < m_d.rank[b];
  };
  m_d.adj_begin.assign(n + 1, 0);
  m_d.adj.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    m_d.adj_begin[i] = static_cast<std::uint32_t>(m_d.adj.size());
    for (std::uint32_t a = listed_begin[i]; a < listed_begin[i + 1]; ++a) {
      const std::uint32_t j = listed[a];
      if (std::binary_search(listed.begin() + listed_begin[j], listed.begin() + listed_begin[j + 1],
                             i, by_rank)) {
        m_d.adj.push_back(j);  // both list each other
      }
    }
  }
  m_d.adj_begin[n] = static_cast<std::uint32_t>(m_d.adj.size());
}

void routing_table::bfs(std::uint32_t root) const {
  m_d.dist.assign(m_slots.size(), none);
  m_d.order.clear();
  m_d.dist[root] = 0;
  m_d.order.push_back(root);
  for (std::size_t k = 0; k < m_d.order.size(); ++k) {
    const std::uint32_t u = m_d.order[k];
    for (std::uint32_t a = m_d.adj_begin[u]; a < m_d.adj_begin[u + 1]; ++a) {
      const std::uint32_t v = m_d.adj[a];
      if (m_d.dist[v] != none) continue;
      m_d.dist[v] = m_d.dist[u] + 1;
      m_d.order.push_back(v);
    }
  }
}

const routing_table::tree& routing_table::tree_of(std::uint32_t source) const {
  if (auto it = m_d.trees.find(source); it != m_d.trees.end()) return it->second;

  bfs(source);
  const auto n = m_slots.size();
  // Parent: the first neighbour one hop nearer to the source (adjacency is in id order).
  // Branch: the child of ours whose subtree holds the node, or none.
  m_d.parent.assign(n, none);
  m_d.branch.assign(n, none);
  tree t;
  for (std::size_t k = 1; k < m_d.order.size(); ++k) {
    const std::uint32_t v = m_d.order[k];
    for (std::uint32_t a = m_d.adj_begin[v]; a < m_d.adj_begin[v + 1]; ++a) {
      const std::uint32_t u = m_d.adj[a];
      if (m_d.dist[u] + 1 == m_d.dist[v]) {
        m_d.parent[v] = u;
        break;
      }
    }
    const std::uint32_t p = m_d.parent[v];
    m_d.branch[v] = p == 0 ? v : m_d.branch[p];
    if (p == 0) t.children.push_back(v);
  }
  std::sort(t.children.begin(), t.children.end(),
            [this](std::uint32_t a, std::uint32_t b) { return m_d.rank[a] < m_d.rank[b]; });

  // Group the subtrees' members by child (a counting sort keeps breadth-first order);
  // parent[] now maps a child to its position.
  for (std::uint32_t k = 0; k < t.children.size(); ++k)
    m_d.parent[t.children[k]] = k;
  t.begin.assign(t.children.size() + 1, 0);
  for (const std::uint32_t v : m_d.order) {
    if (m_d.branch[v] != none) ++t.begin[m_d.parent[m_d.branch[v]] + 1];
  }
  for (std::size_t k = 1; k < t.begin.size(); ++k)
    t.begin[k] += t.begin[k - 1];
  t.members.resize(t.begin.back());
  std::vector<std::uint32_t> next(t.begin.begin(), t.begin.end() - 1);
  for (const std::uint32_t v : m_d.order) {
    if (m_d.branch[v] != none) t.members[next[m_d.parent[m_d.branch[v]]]++] = v;
  }

  if (m_d.trees.size() >= std::max<std::size_t>(1, m_limits.max_cached_trees)) {
    m_d.trees.erase(m_d.tree_order.front());
    m_d.tree_order.pop_front();
  }
  m_d.tree_order.push_back(source);
  return m_d.trees.emplace(source, std::move(t)).first->second;
}

}  // namespace starling::data
