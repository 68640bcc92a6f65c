#pragma once
/// An index of declared key expressions (subscriptions, queryables) by id, for the two
/// questions pub/sub asks on every message: which declarations match this key, and which
/// intersect this expression.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "core/keyexpr/keyexpr.hpp"

namespace starling::keyexpr {

namespace detail {
struct trie_node;
}

/// A trie on chunks: one edge per literal chunk, one for `*` and one for `**`; each node holds
/// the ids of the expressions that end there. Memory is that of the declared expressions:
/// erase() frees the nodes nobody uses any more. Lookups do not allocate. Not thread-safe,
/// lookups included (they mark nodes as visited): one thread owns the index.
class key_index {
 public:
  /// The caller's handle for one declaration (e.g. a subscription number).
  using id = std::uint64_t;

  /// An empty index (one root node, which node_count() does not count).
  key_index();
  /// Frees every node.
  ~key_index();
  /// Takes the other's declarations; the moved-from index may only be assigned or destroyed.
  key_index(key_index&&) noexcept;
  /// Takes the other's declarations; the moved-from index may only be assigned or destroyed.
  key_index& operator=(key_index&&) noexcept;
  /// Not copyable (ids usually stand for things that exist once).
  key_index(const key_index&) = delete;
  /// Not copyable.
  key_index& operator=(const key_index&) = delete;

  /// Declares `expr` under `value`. Returns false (and changes nothing) when that pair is
  /// already there; the same id may be declared under several expressions and vice versa.
  bool insert(const keyexpr& expr, id value);

  /// Removes the pair (`expr`, `value`) and frees the nodes left unused. Returns false when
  /// the pair was not there.
  bool erase(const keyexpr& expr, id value);

  /// Calls `f(id)` once for each declared pair whose expression matches `k` (each pair once,
  /// in no particular order). Visits only the trie paths that can match, at most
  /// (nodes on those paths) x (chunks of k + 1) steps; no allocation. `f` must not change the
  /// index.
  template <class F>
  void for_each_match(const key& k, F&& f) {
    match_impl(k, &invoke<std::remove_reference_t<F>>, erase_type(f));
  }

  /// Calls `f(id)` once for each declared pair whose expression intersects `expr` (e.g. the
  /// queryables a query selector reaches). Follows every literal edge where `expr` has a
  /// wildcard, so it may visit the whole trie; no allocation. `f` must not change the index.
  template <class F>
  void for_each_intersecting(const keyexpr& expr, F&& f) {
    intersecting_impl(expr, &invoke<std::remove_reference_t<F>>, erase_type(f));
  }

  /// Number of declared (expression, id) pairs.
  std::size_t size() const noexcept { return m_size; }
  /// True when nothing is declared.
  bool empty() const noexcept { return m_size == 0; }
  /// Number of trie nodes besides the root; 0 when empty (for tests and memory accounting).
  std::size_t node_count() const noexcept { return m_nodes; }

 private:
  using callback = void (*)(void*, id);
  template <class F>
  static void* erase_type(F& f) noexcept {
    return const_cast<void*>(static_cast<const void*>(std::addressof(f)));
  }
  template <class F>
  static void invoke(void* f, id value) {
    (*static_cast<F*>(f))(value);
  }
  void match_impl(const key& k, callback cb, void* ctx);
  void intersecting_impl(const keyexpr& expr, callback cb, void* ctx);

  std::unique_ptr<detail::trie_node> m_root;
  std::size_t m_size = 0;
  std::size_t m_nodes = 0;
  std::uint64_t m_epoch = 0;  // lookup number, for the nodes' visited marks
};

}  // namespace starling::keyexpr
