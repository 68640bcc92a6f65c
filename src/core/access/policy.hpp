#pragma once
/// Access rules (issue 14): which roles may do which operations on which keys.
///
/// A policy is a version and an ordered list of rules. A rule has an effect (allow or deny),
/// the roles it is about (names, or "*" for every peer whatever its roles, none included), the
/// operations it covers and the key expressions it covers. Deny wins and the default is deny:
///
/// - **On a key** (put, del, reply, liveliness_token, and the check of each sample a
///   subscription, query or liveliness watch is about to deliver): allowed iff an allow rule
///   that applies to one of the roles and covers the operation has an expression matching the
///   key, and no such deny rule has one.
/// - **On an expression** (declaring a subscription, a query selector, a queryable, a liveliness
///   watch, an admin scope): allowed iff an allow rule's expression intersects it and no deny
///   rule's expression includes it entirely. What is accepted this way is then filtered key by
///   key: a subscription to `home/**` by a role that may read only `home/*/temp` is accepted and
///   receives only the temperatures, because each sample goes through the key check above
///   before it is sent to the subscriber. An accepted declaration may thus receive nothing.
///   For a key, both rules give the same answer (an expression intersects a key iff it matches
///   it, and includes it iff it matches it), so a key may always be checked as an expression.
///
/// The deciding rule is the first (lowest index) deny rule that decides, else the first allow
/// rule that decides; rule numbers in sentences are 1-based ("rule 3" is index 2).
///
/// This file holds the model and a reference evaluation that walks every rule (for `explain`,
/// `acl test` and tests); checker.hpp compiles a policy into tries for the hot path.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/access/errors.hpp"
#include "core/common/result.hpp"
#include "core/keyexpr/keyexpr.hpp"

namespace starling::access {

/// What a peer asks to do. Later services (files, messages) add theirs: keep operation_count,
/// operation_names, takes_expression() and the policy file docs in step (policy.cpp checks
/// the count against the last enumerator, `admin` today).
enum class operation : std::uint8_t {
  put,                ///< publish a sample on a key
  del,                ///< publish a deletion on a key
  subscribe,          ///< declare a subscription; receive a sample (key check at egress)
  query,              ///< send a query selector; receive a reply (key check at egress)
  reply,              ///< answer a query with a sample on a key
  declare_queryable,  ///< declare a queryable on an expression
  liveliness_token,   ///< declare a liveliness token on a key
  liveliness_watch,   ///< watch liveliness tokens; see one (key check at egress)
  admin,              ///< administer the network (policy, roles, revocation) within an expression
};

/// Number of operations.
inline constexpr std::size_t operation_count = 9;

/// The operations' names in text (policy files, the CLI, explanations), in enum order.
inline constexpr std::array<std::string_view, operation_count> operation_names{"put",
                                                                               "del",
                                                                               "subscribe",
                                                                               "query",
                                                                               "reply",
                                                                               "declare_queryable",
                                                                               "liveliness_token",
                                                                               "liveliness_watch",
                                                                               "admin"};

/// The name of `op` ("put", "declare_queryable", ...).
std::string_view name(operation op) noexcept;

/// The operation named `text` (exactly as in operation_names); nullopt otherwise.
std::optional<operation> operation_from_name(std::string_view text) noexcept;

/// True for the operations that take a key expression with wildcards (subscribe, query,
/// declare_queryable, liveliness_watch, admin); the others (put, del, reply,
/// liveliness_token) name one key.
bool takes_expression(operation op) noexcept;

/// A set of operations (a bit per operation).
class op_set {
 public:
  /// The empty set.
  constexpr op_set() = default;
  /// Every operation, admin included.
  static constexpr op_set all() noexcept { return op_set((1u << operation_count) - 1); }
  /// Every operation but admin (what the default `member` role has).
  static constexpr op_set data() noexcept { return op_set(all().m_bits & ~bit(operation::admin)); }
  /// The set with `op` added.
  constexpr op_set with(operation op) const noexcept { return op_set(m_bits | bit(op)); }
  /// True when `op` is in the set.
  constexpr bool contains(operation op) const noexcept { return (m_bits & bit(op)) != 0; }
  /// True when no operation is in the set.
  constexpr bool empty() const noexcept { return m_bits == 0; }
  /// The bits, operation `o` at bit `static_cast<int>(o)`.
  constexpr std::uint32_t bits() const noexcept { return m_bits; }
  /// Same operations.
  friend constexpr bool operator==(op_set, op_set) = default;

 private:
  constexpr explicit op_set(std::uint32_t b) : m_bits(b) {}
  static constexpr std::uint32_t bit(operation op) noexcept {
    return 1u << static_cast<unsigned>(op);
  }
  std::uint32_t m_bits = 0;
};

/// Allow or deny.
enum class effect : std::uint8_t { allow, deny };

/// The role name that stands for every peer, whatever its roles.
inline constexpr std::string_view any_role = "*";

/// One rule of a policy.
struct rule {
  access::effect effect = effect::allow;  ///< what the rule says
  std::vector<std::string> roles;         ///< role names, or one "*" (any_role)
  op_set ops;                             ///< the operations it covers (never empty)
  std::vector<keyexpr::keyexpr> keys;     ///< the key expressions it covers (never empty)
  std::uint32_t line = 0;                 ///< where it starts in its file; 0 when built in code
};

/// A versioned, ordered list of rules. The version orders policies in the membership log.
struct policy {
  std::uint64_t version = 0;  ///< higher is newer
  std::vector<rule> rules;    ///< in file order; the order only chooses the rule explain() names
};

/// True for a role name by the one rule of core/member/role.hpp: 1 to max_role_name (32) bytes
/// of lower-case ASCII letters, digits, '_' and '-', as in certificates and the membership log,
/// so a policy cannot name a role that no member could hold. ("*" is not a role name; it is
/// any_role, which only rules may use.)
bool valid_role_name(std::string_view name) noexcept;

/// Checks a policy against the limits of errors.hpp. Errors: no_roles, no_operations, no_keys
/// (an empty list in a rule), bad_role_name (also "*" beside other names), too_many_rules,
/// too_many_keys, too_many_roles. The caller refuses the policy (nothing is applied).
result<void> validate(const policy& p);

/// The policy of a new network, so that a home works with no file: role `admin` may do every
/// operation on `**`, role `member` every operation but admin on `**`. Version 1.
policy default_policy();

/// True when some role keeps every right of administration: an allow rule for that role (or
/// for "*") covers admin on `**`, and no deny rule for that role (or for "*") covers admin at
/// all. A node refuses a new policy for which this is false, so that one bad write cannot lock
/// every administrator out. Conservative: a deny of admin on any part of the key space counts
/// as losing it. Knows nothing of members: a role that nobody holds (a typo such as "admins")
/// passes; prefer the overload below wherever the held roles are known.
bool has_admin(const policy& p);

/// True when some role in `held_roles` (the roles members actually hold, e.g. the union of
/// every member's roles in the membership log) keeps every right of administration, by the
/// rule above: an allow rule for that role (or for "*") covers admin on `**` and no deny rule
/// for it (or for "*") covers admin at all. Each role is judged on its own, as for a member
/// holding only it. Names that are not valid role names count for nothing, and an empty set
/// is false. So a policy that gives admin only to "admins" is refused while members hold
/// "admin".
bool has_admin(const policy& p, const std::set<std::string>& held_roles);

/// Index of no rule (the default deny decided).
inline constexpr std::size_t no_rule = static_cast<std::size_t>(-1);

/// The outcome of a check.
struct decision {
  bool allowed = false;            ///< the answer
  std::size_t rule = no_rule;      ///< the deciding rule's index; no_rule for the default deny
  std::size_t narrowed = no_rule;  ///< an accepted expression only: the first deny rule that
                                   ///< covers part of it (its samples are filtered out)
  /// Same outcome.
  friend bool operator==(const decision&, const decision&) = default;
};

/// True when rule `r` applies to a peer holding `roles`: it names "*" or one of them.
bool applies_to(const rule& r, std::span<const std::string> roles) noexcept;

/// The reference evaluation: walks every rule. `expr` may be a key (the key check) or an
/// expression (the declaration check; see the top of this file). A key-only operation (put,
/// del, reply, liveliness_token) on an expression with wildcards is denied by default without
/// looking at the rules. Allocates (includes()); not for the hot path, use checker.
decision evaluate(const policy& p, std::span<const std::string> roles, operation op,
                  const keyexpr::keyexpr& expr);

/// One sentence that says which rule decides and why, for `starling acl explain` and failed
/// policy tests, e.g.
///   `allow: rule 1 (line 5) allows role "sensor" put on "home/k/temp"`
///   `deny: rule 3 (line 14) denies role "sensor" subscribe on "home/**"`
///   `deny: no rule allows role "guest" put on "a/b" (default deny)`
/// `key_or_expr` is parsed as a key expression (wildcards only for takes_expression() ops).
/// Errors: bad_key (it does not parse), expression_for_key_op (wildcards for put, del, reply
/// or liveliness_token). The caller shows the error and the usage.
result<std::string> explain(const policy& p, std::span<const std::string> roles, operation op,
                            std::string_view key_or_expr);

/// The sentence for a decision already made by evaluate() or a checker on the same policy.
std::string explain(const policy& p, std::span<const std::string> roles, operation op,
                    const keyexpr::keyexpr& expr, const decision& d);

}  // namespace starling::access
