#include "core/access/errors.hpp"

#include <string>

namespace starling::access {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "access"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::bad_role_name:
        return "bad role name (" + std::string(member::role_name_rule()) + ", or \"*\" alone)";
      case errc::no_roles:
        return "a rule names no role";
      case errc::no_operations:
        return "a rule names no operation";
      case errc::no_keys:
        return "a rule names no key expression";
      case errc::too_many_rules:
        return "more than " + std::to_string(max_rules) + " rules";
      case errc::too_many_keys:
        return "too many key expressions (" + std::to_string(max_keys_per_rule) + " per rule, " +
               std::to_string(max_keys) + " in all)";
      case errc::too_many_roles:
        return "too many roles (" + std::to_string(max_roles_per_rule) + " per rule, " +
               std::to_string(max_subject_roles) + " per peer)";
      case errc::too_many_role_sets:
        return "more than " + std::to_string(max_role_sets) + " distinct role sets";
      case errc::bad_handle:
        return "roles handle not made by this checker";
      case errc::bad_key:
        return "not a valid key or key expression";
      case errc::expression_for_key_op:
        return "this operation takes a key, not a key expression with wildcards";
      case errc::unknown_operation:
        return "unknown operation name";
    }
    return "unknown access error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

}  // namespace starling::access
