#pragma once
/// Access rules: limits and error codes. Calls return `starling::result<T>`; these codes say
/// which limit or rule of a policy was broken. The policy file parser (node/policy_file.hpp)
/// reports the same problems with the line and key they are on.

#include <cstddef>
#include <system_error>

#include "core/member/role.hpp"

namespace starling::access {

/// Most rules in a policy.
inline constexpr std::size_t max_rules = 1024;
/// Most key expressions in one rule.
inline constexpr std::size_t max_keys_per_rule = 256;
/// Most key expressions in a whole policy (all rules together).
inline constexpr std::size_t max_keys = 4096;
/// Most role names in one rule.
inline constexpr std::size_t max_roles_per_rule = 64;
/// Longest role name, in bytes: the one rule of core/member/role.hpp, which certificates and
/// the membership log follow too.
inline constexpr std::size_t max_role_name = member::max_role_name_size;
/// Most roles one subject (a peer) may hold when its rights are checked.
inline constexpr std::size_t max_subject_roles = 64;
/// Most distinct role sets one compiled checker keeps tries for.
inline constexpr std::size_t max_role_sets = 1024;

enum class errc {
  bad_role_name = 1,      ///< empty, too long, or a byte outside [a-z0-9_-] (or "*" mixed in)
  no_roles,               ///< a rule names no role
  no_operations,          ///< a rule names no operation
  no_keys,                ///< a rule names no key expression
  too_many_rules,         ///< more than max_rules
  too_many_keys,          ///< more than max_keys_per_rule in a rule, or max_keys in all
  too_many_roles,         ///< more than max_roles_per_rule, or max_subject_roles
  too_many_role_sets,     ///< a checker already holds max_role_sets role sets
  bad_handle,             ///< a roles_handle that this checker did not hand out
  bad_key,                ///< a key or key expression that does not parse
  expression_for_key_op,  ///< a wildcard expression where the operation needs a key (put, ...)
  unknown_operation,      ///< an operation name that is not one of operation_names
};
/// The "access" error category.
const std::error_category& category() noexcept;
/// Makes `errc` values usable as std::error_code.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace starling::access

template <>
struct std::is_error_code_enum<starling::access::errc> : std::true_type {};
