#pragma once
/// Membership (issue 14): the one rule on role names. Certificates (cert.hpp), the membership
/// log (log.hpp) and access policies (core/access/policy.hpp, policy files) all take their
/// role names through this file, so a name one of them accepts is a name the others accept:
/// 1 to max_role_name_size bytes of lower-case ASCII letters, digits, '_' and '-'
/// (`[a-z0-9_-]{1,32}`). No upper case (so "Admin" and "admin" cannot be two roles that look
/// alike) and no '.'.
///
/// The access layer depends on this file (a core may use another core, docs/architecture.md);
/// it holds nothing but the rule, so it pulls in no other membership code.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace starling::member {

/// Longest role name, in bytes (the shortest is 1).
inline constexpr std::size_t max_role_name_size = 32;

/// What is wrong with a role name.
enum class role_name_fault : std::uint8_t {
  empty = 1,      ///< zero bytes
  too_long,       ///< more than max_role_name_size bytes
  bad_character,  ///< a byte outside [a-z0-9_-]
};

/// True for a byte a role name may hold: a-z, 0-9, '_' or '-'.
constexpr bool is_role_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/// What is wrong with `name`, or nothing when it is a valid role name. An empty name is
/// `empty`, a long one `too_long` (whatever its bytes), else the first bad byte decides.
std::optional<role_name_fault> role_name_problem(std::string_view name) noexcept;

/// True when `name` is a valid role name (1 to 32 bytes of [a-z0-9_-]).
bool is_valid_role_name(std::string_view name) noexcept;

/// The rule in words, for error messages: "1 to 32 bytes of a-z, 0-9, '_', '-'".
std::string_view role_name_rule() noexcept;

}  // namespace starling::member
