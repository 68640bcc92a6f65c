#include "core/access/policy.hpp"

#include <algorithm>

#include "core/member/role.hpp"

namespace starling::access {

static_assert(static_cast<std::size_t>(operation::admin) + 1 == operation_count,
              "operation_count and operation_names follow the enum");

std::string_view name(operation op) noexcept {
  const auto i = static_cast<std::size_t>(op);
  return i < operation_count ? operation_names[i] : std::string_view("unknown");
}

std::optional<operation> operation_from_name(std::string_view text) noexcept {
  for (std::size_t i = 0; i < operation_count; ++i) {
    if (operation_names[i] == text) return static_cast<operation>(i);
  }
  return std::nullopt;
}

bool takes_expression(operation op) noexcept {
  switch (op) {
    case operation::subscribe:
    case operation::query:
    case operation::declare_queryable:
    case operation::liveliness_watch:
    case operation::admin:
      return true;
    case operation::put:
    case operation::del:
    case operation::reply:
    case operation::liveliness_token:
      return false;
  }
  return false;
}

bool valid_role_name(std::string_view name) noexcept {
  return member::is_valid_role_name(name);
}

result<void> validate(const policy& p) {
  if (p.rules.size() > max_rules) return errc::too_many_rules;
  std::size_t keys = 0;
  for (const rule& r : p.rules) {
    if (r.roles.empty()) return errc::no_roles;
    if (r.roles.size() > max_roles_per_rule) return errc::too_many_roles;
    for (const std::string& role : r.roles) {
      const bool any = role == any_role;
      if (any ? r.roles.size() != 1 : !valid_role_name(role)) return errc::bad_role_name;
    }
    if (r.ops.empty()) return errc::no_operations;
    if (r.keys.empty()) return errc::no_keys;
    if (r.keys.size() > max_keys_per_rule) return errc::too_many_keys;
    keys += r.keys.size();
    if (keys > max_keys) return errc::too_many_keys;
  }
  return {};
}

policy default_policy() {
  const auto everything = keyexpr::keyexpr::parse("**").value();
  policy p;
  p.version = 1;
  p.rules.push_back(rule{effect::allow, {"admin"}, op_set::all(), {everything}, 0});
  p.rules.push_back(rule{effect::allow, {"member"}, op_set::data(), {everything}, 0});
  return p;
}

bool applies_to(const rule& r, std::span<const std::string> roles) noexcept {
  for (const std::string& named : r.roles) {
    if (named == any_role) return true;
    if (std::find(roles.begin(), roles.end(), named) != roles.end()) return true;
  }
  return false;
}

namespace {

// True when a peer holding exactly `roles` keeps every right of administration (see has_admin).
bool keeps_admin(const policy& p, std::span<const std::string> roles) {
  bool allowed = false;
  for (const rule& r : p.rules) {
    if (!r.ops.contains(operation::admin) || !applies_to(r, roles)) continue;
    if (r.effect == effect::deny) return false;
    allowed = allowed || std::any_of(r.keys.begin(), r.keys.end(),
                                     [](const keyexpr::keyexpr& k) { return k.str() == "**"; });
  }
  return allowed;
}

}  // namespace

bool has_admin(const policy& p) {
  // Every named role, plus "none of them" (a peer whose roles the policy does not name, which
  // only "*" rules reach).
  if (keeps_admin(p, {})) return true;
  for (const rule& r : p.rules) {
    for (const std::string& role : r.roles) {
      if (role != any_role && keeps_admin(p, std::span<const std::string>(&role, 1))) return true;
    }
  }
  return false;
}

bool has_admin(const policy& p, const std::set<std::string>& held_roles) {
  for (const std::string& role : held_roles) {
    if (valid_role_name(role) && keeps_admin(p, std::span<const std::string>(&role, 1)))
      return true;
  }
  return false;
}

decision evaluate(const policy& p, std::span<const std::string> roles, operation op,
                  const keyexpr::keyexpr& expr) {
  const bool is_key = expr.is_key();
  if (!is_key && !takes_expression(op)) return {};
  std::size_t deny = no_rule;
  std::size_t narrowed = no_rule;
  std::size_t allow = no_rule;
  for (std::size_t i = 0; i < p.rules.size() && deny == no_rule; ++i) {
    const rule& r = p.rules[i];
    if (!r.ops.contains(op) || !applies_to(r, roles)) continue;
    for (const keyexpr::keyexpr& k : r.keys) {
      if (!keyexpr::intersects(k, expr)) continue;
      if (r.effect == effect::allow) {
        allow = std::min(allow, i);
      } else if (is_key || keyexpr::includes(k, expr)) {
        deny = i;
        break;
      } else {
        narrowed = std::min(narrowed, i);
      }
    }
  }
  if (deny != no_rule) return {false, deny, no_rule};
  if (allow != no_rule) return {true, allow, narrowed};
  return {};
}

}  // namespace starling::access
