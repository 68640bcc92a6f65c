#include "core/data/guard.hpp"

#include <utility>

namespace starling::data {

policy_guard::policy_guard(roles_lookup lookup) : m_lookup(std::move(lookup)) {}

result<void> policy_guard::set_policy(access::policy p) {
  auto c = access::checker::compile(std::move(p));
  if (!c) return c.error();
  m_checker.emplace(std::move(*c));
  m_handles.clear();  // handles belong to the checker that made them
  return {};
}

void policy_guard::open() {
  m_checker.reset();
  m_handles.clear();
}

void policy_guard::roles_changed() {
  m_handles.clear();
}

std::optional<access::roles_handle> policy_guard::handle_of(const peer_id& node) {
  if (auto it = m_handles.find(node); it != m_handles.end()) return it->second;
  if (m_handles.size() >= max_cached_nodes) m_handles.clear();
  std::optional<access::roles_handle> h;
  const std::vector<std::string> roles = m_lookup ? m_lookup(node) : std::vector<std::string>{};
  // A role set the checker cannot intern (too many sets, a bad name) is denied everything.
  if (auto r = m_checker->intern(roles)) h = *r;
  m_handles.emplace(node, h);
  return h;
}

bool policy_guard::allows(const peer_id& node, access::operation op, const keyexpr::key& key) {
  if (!m_checker) return true;
  const auto h = handle_of(node);
  return h && m_checker->check(*h, op, key).allowed;
}

bool policy_guard::allows_expression(const peer_id& node, access::operation op,
                                     const keyexpr::keyexpr& expr) {
  if (!m_checker) return true;
  const auto h = handle_of(node);
  return h && m_checker->check_expression(*h, op, expr).allowed;
}

}  // namespace starling::data
