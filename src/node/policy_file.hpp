#pragma once
/// The access policy file (`starling acl set FILE`, `starling acl test FILE`): TOML, read and
/// checked in full before anything is applied. docs/policy-example.toml is a commented example.
///
///     version = 3                  # required, 1 or more: newer policies have higher versions
///
///     [[rule]]                     # in order; deny wins whatever the order
///     effect = "allow"             # "allow" or "deny"
///     roles = ["sensor"]           # role names, or ["*"] for every peer
///     ops = ["put", "del"]         # operation names (access::operation_names), or ["*"]
///     keys = ["home/*/temp"]       # key expressions
///
///     [[test]]                     # the policy's own expectations, run by `acl test`
///     role = "sensor"              # or roles = ["a", "b"] (or roles = [] for no role)
///     op = "subscribe"
///     key = "home/k/temp"          # a key, or an expression for subscribe, query, ...
///     expect = "deny"              # "allow" or "deny"
///
/// Every key is checked, its type, its value and its name: a key the format does not know is
/// an error, not something skipped. The first problem in the file (by position) is reported as
/// one line that names the line, the key and what was expected:
///
///     acl.toml:7: rule[0].ops[1]: expected an operation (put, del, ...) or "*", got "publish"
///     acl.toml:12: unknown key 'rule[1].role' (a rule has effect, roles, ops and keys)
///
/// Bounds: the text is ASCII (non-ASCII bytes are refused, comments included), at most
/// max_policy_file bytes; the rules and their expressions within access::max_rules,
/// max_keys_per_rule, max_keys, max_roles_per_rule; at most max_policy_tests tests. Key expressions
/// follow keyexpr's limits (1024 bytes, 64 chunks).

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/access/policy.hpp"

namespace starling::node {

/// Largest policy file we read.
inline constexpr std::size_t max_policy_file = 256 * 1024;
/// Most `[[test]]` tables in a policy file.
inline constexpr std::size_t max_policy_tests = 1024;

/// One `[[test]]` of a policy file: what the policy must decide for one question.
struct policy_test {
  std::vector<std::string> roles;  ///< the asking peer's roles (`role` or `roles`)
  access::operation op{};          ///< `op`
  std::string key;                 ///< `key`: a key, or an expression for takes_expression() ops
  bool expect_allow = false;       ///< `expect`: "allow" (true) or "deny" (false)
  std::uint32_t line = 0;          ///< where the test starts in its file
};

/// A parsed policy file: the policy (rules carry their line numbers) and its tests.
struct policy_document {
  access::policy policy;           ///< version and rules
  std::vector<policy_test> tests;  ///< in file order
};

/// Why a policy file was refused.
struct policy_error {
  std::uint32_t line = 0;  ///< 1-based line of the problem; 0 when it has no place (too large)
  std::string key;         ///< the key's path (`rule[0].ops[1]`), empty when none applies
  std::string message;     ///< one line for a person: `<source>:<line>: <key>: <what>`
};

/// A value or a policy_error.
template <class T>
using policy_result = boost::system::result<T, policy_error>;

/// Called by `policy_result::value()` on an error (found by argument-dependent lookup): throws
/// std::runtime_error with the message. Check the result first.
[[noreturn]] void throw_exception_from_error(const policy_error& e,
                                             const boost::source_location& loc);

/// Parses and checks a policy file's text; `source_name` (usually the path) starts every
/// message. Errors: larger than max_policy_file, not valid TOML (with its line), an unknown
/// key, a missing or mistyped value, a bad role, operation or key expression, a limit
/// exceeded (see the top of this file). Only the first problem is reported; the caller prints
/// it and applies nothing.
policy_result<policy_document> parse_policy(std::string_view text,
                                            std::string_view source_name = "policy");

/// A test the policy did not pass.
struct policy_test_failure {
  std::size_t index = 0;   ///< position in the tests given
  std::uint32_t line = 0;  ///< the test's line (0 when built in code)
  std::string message;     ///< `test 2 (line 31): expected allow, got deny: <explanation>`
};

/// Runs `tests` against `p` with the reference evaluation (access::evaluate) and returns the
/// failures, each with access::explain's sentence; empty when every test passes. A test whose
/// key does not parse, or has wildcards for a key-only operation, fails with the reason.
std::vector<policy_test_failure> run_tests(const access::policy& p,
                                           const std::vector<policy_test>& tests);

}  // namespace starling::node
