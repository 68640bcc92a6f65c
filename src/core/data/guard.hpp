#pragma once
/// Who may do what in the data layer: the questions the engine (engine.hpp, "Access") asks
/// about a node's rights, and policy_guard, the answer from an access policy and the roles
/// members hold (issue 14; docs/protocols/membership.md, "Access rules").

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/access/checker.hpp"
#include "core/access/policy.hpp"
#include "core/common/result.hpp"
#include "core/keyexpr/keyexpr.hpp"
#include "core/multiformats/peer_id.hpp"

namespace starling::data {

using multiformats::peer_id;

/// The rights the engine checks. Answers may change only between calls of the engine's
/// access_changed(): whoever changes them (a new policy, new roles, a revocation) calls it,
/// and the engine re-evaluates what it holds. Called on the engine's thread.
class access_guard {
 public:
  virtual ~access_guard() = default;
  /// May `node` do `op` on `key` (publish, reply, hold a token, receive a sample)? Called for
  /// the first sample of a (link, key, source) and then cached by the engine until the next
  /// access_changed(); should not allocate once the node is known.
  virtual bool allows(const peer_id& node, access::operation op, const keyexpr::key& key) = 0;
  /// May `node` declare `expr` for `op` (subscribe, query, declare_queryable,
  /// liveliness_watch; a key for the key operations)?
  virtual bool allows_expression(const peer_id& node, access::operation op,
                                 const keyexpr::keyexpr& expr) = 0;
};

/// An access_guard from a policy and a lookup of each node's roles (the membership log). Open
/// (everything allowed) until set_policy(). A node whose roles the lookup does not know holds
/// none: only rules for "*" reach it.
class policy_guard final : public access_guard {
 public:
  /// The roles of a node; empty for a node that is not a member (or is revoked).
  using roles_lookup = std::function<std::vector<std::string>(const peer_id&)>;
  /// Roles of this many nodes are cached; past it the cache starts again.
  static constexpr std::size_t max_cached_nodes = 4096;

  explicit policy_guard(roles_lookup lookup);

  /// Enforces `p` from now on. Errors: those of access::checker::compile (the guard keeps
  /// what it had).
  result<void> set_policy(access::policy p);
  /// Allows everything again (the node left its network).
  void open();
  /// True while no policy is set.
  bool is_open() const noexcept { return !m_checker.has_value(); }
  /// The roles of some node changed: look them up again.
  void roles_changed();

  bool allows(const peer_id& node, access::operation op, const keyexpr::key& key) override;
  bool allows_expression(const peer_id& node, access::operation op,
                         const keyexpr::keyexpr& expr) override;

 private:
  /// The node's interned roles; nullopt when they cannot be interned (deny).
  std::optional<access::roles_handle> handle_of(const peer_id& node);

  roles_lookup m_lookup;
  std::optional<access::checker> m_checker;
  std::unordered_map<peer_id, std::optional<access::roles_handle>> m_handles;
};

}  // namespace starling::data
