#include "core/keyexpr/key_index.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/keyexpr/chunks.hpp"
#include "core/keyexpr/pos_set.hpp"

namespace starling::keyexpr {

namespace detail {

struct trie_node {
  std::map<std::string, std::unique_ptr<trie_node>, std::less<>> literals;
  std::unique_ptr<trie_node> star;   // the `*` edge
  std::unique_ptr<trie_node> dstar;  // the `**` edge
  bool is_dstar = false;             // reached by a `**` edge: may eat any number of chunks
  std::vector<key_index::id> ids;    // expressions that end here
  // Visited marks of the current lookup: which positions in the looked-up text this node has
  // been reached with. Stale when `epoch` is not the index's current one.
  std::uint64_t epoch = 0;
  pos_set seen;

  bool unused() const noexcept { return ids.empty() && literals.empty() && !star && !dstar; }
};

}  // namespace detail

namespace {

using detail::trie_node;

// The edge from `n` for `chunk`, or null.
std::unique_ptr<trie_node>* edge(trie_node& n, std::string_view chunk) {
  if (detail::is_star(chunk)) return &n.star;
  if (detail::is_dstar(chunk)) return &n.dstar;
  const auto it = n.literals.find(chunk);
  return it == n.literals.end() ? nullptr : &it->second;
}

// Marks (`n`, `pos`) visited in this lookup; false when it already was.
bool first_visit(trie_node& n, std::uint64_t epoch, std::size_t pos) noexcept {
  if (n.epoch != epoch) {
    n.epoch = epoch;
    n.seen = {};
  }
  if (n.seen.test(pos)) return false;
  n.seen.set(pos);
  return true;
}

struct lookup {
  const detail::chunks& text;
  std::uint64_t epoch;
  void (*cb)(void*, key_index::id);
  void* ctx;

  void report(const trie_node& n) const {
    for (const auto v : n.ids)
      cb(ctx, v);
  }

  // `n` has matched the key's first `i` chunks. Each (node, i) is visited once, which bounds
  // the work and reports each node's ids once.
  void match(trie_node& n, std::size_t i) const {
    if (!first_visit(n, epoch, i)) return;
    if (i == text.size()) report(n);
    if (n.dstar) match(*n.dstar, i);
    if (i == text.size()) return;
    if (n.is_dstar) match(n, i + 1);
    if (const auto it = n.literals.find(text[i]); it != n.literals.end()) match(*it->second, i + 1);
    if (n.star) match(*n.star, i + 1);
  }

  // The trie path to `n` and the expression's first `j` chunks can match the same chunks.
  void intersect(trie_node& n, std::size_t j) const {
    if (!first_visit(n, epoch, j)) return;
    const std::size_t m = text.size();
    if (j == m) report(n);
    if (n.dstar) intersect(*n.dstar, j);
    if (j == m) return;
    const std::string_view tok = text[j];
    const bool wild_tok = detail::is_star(tok) || detail::is_dstar(tok);
    const std::size_t next = detail::is_dstar(tok) ? j : j + 1;  // where `tok` goes after a chunk
    if (detail::is_dstar(tok)) intersect(n, j + 1);              // `**` taking no chunk
    if (wild_tok) {
      for (auto& [label, child] : n.literals)
        intersect(*child, next);
    } else if (const auto it = n.literals.find(tok); it != n.literals.end()) {
      intersect(*it->second, next);
    }
    if (n.star) intersect(*n.star, next);
    if (n.is_dstar && !detail::is_dstar(tok)) intersect(n, next);  // both looping: no move
  }
};

}  // namespace

key_index::key_index() : m_root(std::make_unique<trie_node>()) {}
key_index::~key_index() = default;
key_index::key_index(key_index&&) noexcept = default;
key_index& key_index::operator=(key_index&&) noexcept = default;

bool key_index::insert(const keyexpr& expr, id value) {
  const detail::chunks cs(expr.str());
  trie_node* n = m_root.get();
  for (std::size_t i = 0; i < cs.size(); ++i) {
    std::unique_ptr<trie_node>* e = edge(*n, cs[i]);
    if (e == nullptr) {
      e = &n->literals.emplace(std::string(cs[i]), nullptr).first->second;
    }
    if (!*e) {
      *e = std::make_unique<trie_node>();
      (*e)->is_dstar = detail::is_dstar(cs[i]);
      ++m_nodes;
    }
    n = e->get();
  }
  if (std::find(n->ids.begin(), n->ids.end(), value) != n->ids.end()) return false;
  n->ids.push_back(value);
  ++m_size;
  return true;
}

bool key_index::erase(const keyexpr& expr, id value) {
  const detail::chunks cs(expr.str());
  std::array<trie_node*, max_chunks + 1> path{};
  path[0] = m_root.get();
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const auto* e = edge(*path[i], cs[i]);
    if (e == nullptr || !*e) return false;
    path[i + 1] = e->get();
  }
  auto& ids = path[cs.size()]->ids;
  const auto it = std::find(ids.begin(), ids.end(), value);
  if (it == ids.end()) return false;
  ids.erase(it);
  --m_size;
  // Free the nodes that now lead nowhere, deepest first.
  for (std::size_t i = cs.size(); i > 0 && path[i]->unused(); --i) {
    trie_node& parent = *path[i - 1];
    if (detail::is_star(cs[i - 1])) {
      parent.star.reset();
    } else if (detail::is_dstar(cs[i - 1])) {
      parent.dstar.reset();
    } else {
      parent.literals.erase(parent.literals.find(cs[i - 1]));
    }
    --m_nodes;
  }
  return true;
}

void key_index::match_impl(const key& k, callback cb, void* ctx) {
  const detail::chunks cs(k.str());
  lookup{cs, ++m_epoch, cb, ctx}.match(*m_root, 0);
}

void key_index::intersecting_impl(const keyexpr& expr, callback cb, void* ctx) {
  const detail::chunks cs(expr.str());
  lookup{cs, ++m_epoch, cb, ctx}.intersect(*m_root, 0);
}

}  // namespace starling::keyexpr
