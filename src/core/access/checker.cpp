#include "core/access/checker.hpp"

#include <algorithm>
#include <atomic>

namespace starling::access {

namespace {
/// Numbers compiled checkers, so a handle from an earlier policy's checker is not honoured by
/// a later one (each would have role sets at the same indexes). Atomic because checkers of
/// different nodes (the library, tests) may be compiled on different threads.
std::atomic<std::uint64_t> next_instance{1};
}  // namespace

checker::checker(access::policy p)
    : m_policy(std::move(p)), m_instance(next_instance.fetch_add(1, std::memory_order_relaxed)) {
  for (std::size_t r = 0; r < m_policy.rules.size(); ++r) {
    const rule& ru = m_policy.rules[r];
    for (std::size_t k = 0; k < ru.keys.size(); ++k) {
      m_entries.push_back({static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(k)});
    }
    for (const std::string& role : ru.roles) {
      if (role != any_role) m_named_roles.push_back(role);
    }
  }
  std::sort(m_named_roles.begin(), m_named_roles.end());
  m_named_roles.erase(std::unique(m_named_roles.begin(), m_named_roles.end()), m_named_roles.end());
}

checker::checker(checker&&) noexcept = default;
checker& checker::operator=(checker&&) noexcept = default;
checker::~checker() = default;

result<checker> checker::compile(access::policy p) {
  if (auto ok = validate(p); !ok) return ok.error();
  return checker(std::move(p));
}

const keyexpr::keyexpr& checker::expr_of(keyexpr::key_index::id id) const noexcept {
  const entry& e = m_entries[id];
  return m_policy.rules[e.rule].keys[e.key];
}

result<roles_handle> checker::intern(std::span<const std::string> roles) {
  if (roles.size() > max_subject_roles) return make_error_code(errc::too_many_roles);
  std::vector<std::string> kept;
  for (const std::string& role : roles) {
    if (!valid_role_name(role)) return make_error_code(errc::bad_role_name);
    if (std::binary_search(m_named_roles.begin(), m_named_roles.end(), role)) {
      kept.push_back(role);
    }
  }
  std::sort(kept.begin(), kept.end());
  kept.erase(std::unique(kept.begin(), kept.end()), kept.end());
  if (auto it = m_by_roles.find(kept); it != m_by_roles.end()) {
    return roles_handle{m_instance, it->second};
  }
  if (m_sets.size() >= max_role_sets) return make_error_code(errc::too_many_role_sets);

  auto set = std::make_unique<role_set>();
  for (std::size_t id = 0; id < m_entries.size(); ++id) {
    const rule& r = m_policy.rules[m_entries[id].rule];
    if (!applies_to(r, kept)) continue;
    auto& tries = r.effect == effect::allow ? set->allow : set->deny;
    for (std::size_t op = 0; op < operation_count; ++op) {
      if (r.ops.contains(static_cast<operation>(op))) tries[op].insert(expr_of(id), id);
    }
  }
  const auto index = static_cast<std::uint32_t>(m_sets.size());
  m_sets.push_back(std::move(set));
  m_by_roles.emplace(std::move(kept), index);
  return roles_handle{m_instance, index};
}

checker::role_set* checker::find(roles_handle roles, operation op) noexcept {
  if (roles.checker != m_instance || roles.index >= m_sets.size() ||
      static_cast<std::size_t>(op) >= operation_count) {
    return nullptr;
  }
  return m_sets[roles.index].get();
}

std::size_t checker::first_rule(keyexpr::key_index& index, const keyexpr::key& key) noexcept {
  std::size_t first = no_rule;
  index.for_each_match(key, [&](keyexpr::key_index::id id) {
    first = std::min<std::size_t>(first, m_entries[id].rule);
  });
  return first;
}

decision checker::check(roles_handle roles, operation op, const keyexpr::key& key) noexcept {
  role_set* set = find(roles, op);
  if (!set) return {};
  const auto o = static_cast<std::size_t>(op);
  if (const std::size_t d = first_rule(set->deny[o], key); d != no_rule) return {false, d, no_rule};
  if (const std::size_t a = first_rule(set->allow[o], key); a != no_rule) return {true, a, no_rule};
  return {};
}

decision checker::check_expression(roles_handle roles, operation op, const keyexpr::keyexpr& expr) {
  role_set* set = find(roles, op);
  if (!set || (!expr.is_key() && !takes_expression(op))) return {};
  const auto o = static_cast<std::size_t>(op);
  // Deny rules that intersect `expr`: one that includes it denies; one that does not only
  // narrows what an allowed declaration receives.
  std::size_t deny = no_rule;
  std::size_t narrowed = no_rule;
  set->deny[o].for_each_intersecting(expr, [&](keyexpr::key_index::id id) {
    const std::size_t rule = m_entries[id].rule;
    if (expr.is_key() || keyexpr::includes(expr_of(id), expr)) {
      deny = std::min(deny, rule);
    } else {
      narrowed = std::min(narrowed, rule);
    }
  });
  if (deny != no_rule) return {false, deny, no_rule};
  std::size_t allow = no_rule;
  set->allow[o].for_each_intersecting(expr, [&](keyexpr::key_index::id id) {
    allow = std::min<std::size_t>(allow, m_entries[id].rule);
  });
  if (allow != no_rule) return {true, allow, narrowed};
  return {};
}

}  // namespace starling::access
