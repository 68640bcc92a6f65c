// Sentences for `starling acl explain` and failed policy tests (policy.hpp).
#include <string>

#include "core/access/policy.hpp"

namespace starling::access {

namespace {

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

/// `role "a"`, `roles "a", "b"` or `a peer with no role`.
std::string describe_roles(std::span<const std::string> roles) {
  if (roles.empty()) return "a peer with no role";
  std::string out = roles.size() == 1 ? "role " : "roles ";
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if (i > 0) out += ", ";
    out += quoted(roles[i]);
  }
  return out;
}

/// The roles of the subject that rule `r` names (all of them when it names "*").
std::string roles_reached(const rule& r, std::span<const std::string> roles) {
  for (const std::string& named : r.roles) {
    if (named == any_role) return describe_roles(roles);
  }
  std::vector<std::string> reached;
  for (const std::string& role : roles) {
    for (const std::string& named : r.roles) {
      if (named == role) {
        reached.push_back(role);
        break;
      }
    }
  }
  return describe_roles(reached);
}

/// `rule 3 (line 14)`, or `rule 3` for a rule built in code.
std::string rule_ref(const policy& p, std::size_t index) {
  std::string out = "rule " + std::to_string(index + 1);
  if (index < p.rules.size() && p.rules[index].line != 0) {
    out += " (line " + std::to_string(p.rules[index].line) + ")";
  }
  return out;
}

}  // namespace

std::string explain(const policy& p, std::span<const std::string> roles, operation op,
                    const keyexpr::keyexpr& expr, const decision& d) {
  const std::string what = std::string(name(op)) + " on " + quoted(expr.str());
  if (!expr.is_key() && !takes_expression(op)) {
    return "deny: " + std::string(name(op)) + " takes a key, not an expression like " +
           quoted(expr.str());
  }
  if (d.rule >= p.rules.size()) {
    return "deny: no rule allows " + describe_roles(roles) + " " + what + " (default deny)";
  }
  const rule& r = p.rules[d.rule];
  std::string out = d.allowed ? "allow: " : "deny: ";
  out += rule_ref(p, d.rule) + (d.allowed ? " allows " : " denies ") + roles_reached(r, roles) +
         " " + what;
  if (d.allowed && d.narrowed < p.rules.size()) {
    out += "; " + rule_ref(p, d.narrowed) +
           " denies part of it, whose samples are filtered out key by key";
  }
  return out;
}

result<std::string> explain(const policy& p, std::span<const std::string> roles, operation op,
                            std::string_view key_or_expr) {
  auto expr = keyexpr::keyexpr::parse(key_or_expr);
  if (!expr) return make_error_code(errc::bad_key);
  if (!expr->is_key() && !takes_expression(op)) {
    return make_error_code(errc::expression_for_key_op);
  }
  return explain(p, roles, op, *expr, evaluate(p, roles, op, *expr));
}

}  // namespace starling::access
