#pragma once
/// The compiled form of a policy, for the data path: one check per sample, no allocation.
///
/// A peer's roles are interned once (`intern`, when its certificate is admitted or its roles
/// change) into a roles_handle. For each distinct role set the checker keeps, per operation,
/// two tries (keyexpr::key_index) of the expressions of the allow and the deny rules that
/// apply to that set; a check is a lookup in the deny trie, then in the allow trie, each
/// visiting only the trie paths that can match the key. Decisions are those of
/// access::evaluate() on the same policy (the tests and the fuzz target compare the two).
///
/// Memory: per role set, the tries of the expressions that concern it (at most max_keys
/// entries per operation), so at most max_role_sets times that. A new policy means a new
/// checker: intern every peer again and re-check what is open.
///
/// Not thread-safe, checks included (trie lookups mark nodes): one thread owns a checker, as
/// the network thread owns the data engine.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/access/policy.hpp"
#include "core/keyexpr/key_index.hpp"

namespace starling::access {

/// A role set interned by one checker; valid for that checker's life only.
struct roles_handle {
  std::uint64_t checker = 0;  ///< the instance of the checker that made it (never 0)
  std::uint32_t index = 0;    ///< position in that checker's table
  /// Same role set of the same checker.
  friend bool operator==(roles_handle, roles_handle) = default;
};

/// A policy compiled into tries.
class checker {
 public:
  /// Validates `p` (access::validate) and keeps it. Errors: those of validate(); the caller
  /// refuses the policy and keeps the checker it has.
  static result<checker> compile(policy p);

  /// Moves the tries; the moved-from checker may only be assigned or destroyed.
  checker(checker&&) noexcept;
  /// Moves the tries; the moved-from checker may only be assigned or destroyed.
  checker& operator=(checker&&) noexcept;
  /// Frees the tries.
  ~checker();

  /// The handle for a peer holding `roles` (any order, repeats allowed). Role names the policy
  /// does not mention are dropped (only "*" rules reach them), so peers whose roles differ only
  /// in those share a handle. Builds the set's tries the first time (allocates). Errors:
  /// too_many_roles (more than max_subject_roles), bad_role_name, too_many_role_sets (the
  /// table is full: refuse the peer and log it; a new policy starts an empty table).
  result<roles_handle> intern(std::span<const std::string> roles);

  /// The key check: may a peer with `roles` do `op` on `key` (publishing with put or del,
  /// replying, holding a liveliness token, or receiving a sample of a subscription, query or
  /// watch)? Allocates nothing. A handle this checker did not make is denied (rule no_rule).
  decision check(roles_handle roles, operation op, const keyexpr::key& key) noexcept;

  /// The declaration check for `expr` (a subscription, a query selector, a queryable, a
  /// liveliness watch, an admin scope; a key gives the same answer as check()). A key-only
  /// operation on an expression with wildcards is denied by default. Allocates when a deny
  /// rule's expression intersects `expr` without being equal to a key (includes(); exact, but
  /// see keyexpr.hpp on crafted expressions). A foreign handle is denied.
  decision check_expression(roles_handle roles, operation op, const keyexpr::keyexpr& expr);

  /// The policy as compiled (for explain()).
  const access::policy& policy() const noexcept { return m_policy; }

  /// Number of interned role sets.
  std::size_t role_sets() const noexcept { return m_sets.size(); }

 private:
  struct entry {
    std::uint32_t rule;  ///< index in m_policy.rules
    std::uint32_t key;   ///< index in that rule's keys
  };
  struct role_set {
    std::array<keyexpr::key_index, operation_count> allow;
    std::array<keyexpr::key_index, operation_count> deny;
  };

  explicit checker(access::policy p);
  const keyexpr::keyexpr& expr_of(keyexpr::key_index::id id) const noexcept;
  role_set* find(roles_handle roles, operation op) noexcept;
  std::size_t first_rule(keyexpr::key_index& index, const keyexpr::key& key) noexcept;

  access::policy m_policy;
  std::vector<entry> m_entries;            // key_index ids index this
  std::vector<std::string> m_named_roles;  // sorted, unique: the roles rules name
  std::vector<std::unique_ptr<role_set>> m_sets;
  std::map<std::vector<std::string>, std::uint32_t> m_by_roles;
  std::uint64_t m_instance = 0;  // unique per compiled checker (kept by moves)
};

}  // namespace starling::access
