#include "core/member/role.hpp"

namespace starling::member {

std::optional<role_name_fault> role_name_problem(std::string_view name) noexcept {
  if (name.empty()) return role_name_fault::empty;
  if (name.size() > max_role_name_size) return role_name_fault::too_long;
  // Index loop, not iterators: one past the last byte is never formed from a temporary.
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_role_name_char(name[i])) return role_name_fault::bad_character;
  }
  return std::nullopt;
}

bool is_valid_role_name(std::string_view name) noexcept {
  return !role_name_problem(name).has_value();
}

std::string_view role_name_rule() noexcept {
  static_assert(max_role_name_size == 32, "role_name_rule() spells the limit out");
  return "1 to 32 bytes of a-z, 0-9, '_', '-'";
}

}  // namespace starling::member
