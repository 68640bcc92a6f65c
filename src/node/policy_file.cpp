#include "node/policy_file.hpp"

#include <toml++/toml.h>
#include <boost/throw_exception.hpp>

#include <optional>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "core/keyexpr/keyexpr.hpp"
#include "core/member/role.hpp"

namespace starling::node {

void throw_exception_from_error(const policy_error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(e.message), loc);
}

namespace {

constexpr std::string_view top_level_has = "a policy file has version, [[rule]] and [[test]]";
constexpr std::string_view rule_has = "a rule has effect, roles, ops and keys";
constexpr std::string_view test_has = "a test has role or roles, op, key and expect";
// The one role-name rule (core/member/role.hpp), spelt out so a user sees why "Admin" or
// "team.a" is refused.
constexpr std::string_view role_expected = "a role name (1 to 32 bytes of a-z, 0-9, '_', '-')";
static_assert(member::max_role_name_size == 32, "role_expected spells the limit out");

/// `text` in double quotes, control bytes and quotes escaped, cut after 64 bytes.
std::string shown(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < 64; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > 64) out += "...";
  return out + "\"";
}

/// What the file has where something else was expected: the value itself for strings,
/// integers and booleans (`"publish"`, `3`, `true`), else its kind (`a table`, `an array`).
std::string what_is(const toml::node& v) {
  if (const auto* s = v.as_string()) return shown(s->get());
  if (const auto* i = v.as_integer()) return std::to_string(i->get());
  if (const auto* b = v.as_boolean()) return b->get() ? "true" : "false";
  std::ostringstream kind;
  kind << v.type();  // toml++'s names: "table", "array", "floating-point", "date", ...
  const std::string k = kind.str();
  return (k.front() == 'a' ? "an " : "a ") + k;
}

/// `"home//temp" (empty chunk at byte 5)`.
std::string bad_expr(std::string_view text, const keyexpr::parse_error& e) {
  return shown(text) + " (" + keyexpr::make_error_code(e.code).message() + " at byte " +
         std::to_string(e.offset) + ")";
}

/// The line of the first table header whose key does not start with a key character (`[%`,
/// `[ ]`, a `[` that ends its line), or 0. toml++ 3.3 asserts that it does (and assumes it
/// when built with NDEBUG), so such headers must not reach it. A line that only looks like a
/// header (in a multi-line array or string) is never part of a valid policy file either.
std::uint32_t bad_table_header(std::string_view text) {
  std::uint32_t line = 1;
  for (std::size_t start = 0; start < text.size(); ++line) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view l = text.substr(start, end - start);
    start = end + 1;
    std::size_t p = l.find_first_not_of(" \t");
    if (p == std::string_view::npos || l[p] != '[') continue;
    p += l.substr(p + 1).starts_with('[') ? 2 : 1;
    while (p < l.size() && (l[p] == ' ' || l[p] == '\t'))
      ++p;
    const char c = p < l.size() ? l[p] : '\n';
    const bool key_start = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '"' || c == '\'';
    if (!key_start) return line;
  }
  return 0;
}

/// The line of the first byte a policy file may not hold, or 0: anything above 0x7f, and
/// control bytes other than tab, line feed and carriage return (TOML allows them nowhere
/// unescaped). Policy files are ASCII: toml++ 3.3 reaches an unreachable point when it tests
/// some non-ASCII characters for whitespace (U+039E after `=`), and trips an assertion on NUL
/// bytes inside deeply nested arrays (both found by the fuzz target); telling strings from the
/// rest is toml++'s own job.
std::uint32_t first_bad_byte(std::string_view t) {
  std::uint32_t line = 1;
  for (char c : t) {
    const auto b = static_cast<unsigned char>(c);
    if (b > 0x7e || (b < 0x20 && b != '\t' && b != '\n' && b != '\r')) return line;
    line += c == '\n';
  }
  return 0;
}

std::string indexed(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

/// Walks the parsed document and keeps the first problem by position.
class reader {
 public:
  explicit reader(std::string_view source) : m_source(source) {}

  policy_document run(const toml::table& root) {
    policy_document doc;
    bool has_version = false;
    for (auto&& [key, v] : root) {
      const std::string_view k = key.str();
      if (k == "version") {
        has_version = true;
        if (auto n = integer(v, "version")) doc.policy.version = *n;
      } else if (k == "rule") {
        rules(v, doc.policy);
      } else if (k == "test") {
        tests(v, doc.tests);
      } else {
        unknown(key, std::string(k), top_level_has);
      }
    }
    if (!has_version) {
      fail(1, 1, "version",
           "missing key 'version' (the policy's version, an integer of at least 1)");
    }
    return doc;
  }

  std::optional<policy_error> error() const { return m_first; }

 private:
  void fail(std::uint32_t line, std::uint32_t column, std::string key, std::string what) {
    if (m_first && m_first_at <= std::pair(line, column)) return;
    m_first_at = {line, column};
    // "unknown key 'rule[0].x'" and "missing key 'version'" name the key themselves.
    std::string message = std::string(m_source) + ":" + std::to_string(line) + ": ";
    if (!what.starts_with("unknown key '" + key) && !what.starts_with("missing key '" + key)) {
      message += key + ": ";
    }
    m_first = policy_error{line, std::move(key), message + what};
  }
  void fail(const toml::source_region& at, std::string key, std::string what) {
    fail(at.begin.line, at.begin.column, std::move(key), std::move(what));
  }
  void expected(const toml::node& v, std::string key, std::string_view what) {
    fail(v.source(), std::move(key), "expected " + std::string(what) + ", got " + what_is(v));
  }
  void unknown(const toml::key& key, std::string path, std::string_view has) {
    fail(key.source(), path, "unknown key '" + path + "' (" + std::string(has) + ")");
  }

  std::optional<std::uint64_t> integer(const toml::node& v, const std::string& path) {
    const auto* i = v.as_integer();
    if (!i || i->get() < 1) {
      expected(v, path, "an integer of at least 1");
      return std::nullopt;
    }
    return static_cast<std::uint64_t>(i->get());
  }

  std::optional<std::string> string(const toml::node& v, const std::string& path,
                                    std::string_view what) {
    const auto* s = v.as_string();
    if (!s) {
      expected(v, path, what);
      return std::nullopt;
    }
    return s->get();
  }

  /// `allow` or `deny` (rule effects and test expectations).
  std::optional<access::effect> effect(const toml::node& v, const std::string& path) {
    const auto* s = v.as_string();
    if (s && s->get() == "allow") return access::effect::allow;
    if (s && s->get() == "deny") return access::effect::deny;
    expected(v, path, "\"allow\" or \"deny\"");
    return std::nullopt;
  }

  std::optional<access::operation> operation(const toml::node& v, const std::string& path) {
    const auto* s = v.as_string();
    if (s) {
      if (auto op = access::operation_from_name(s->get())) return op;
    }
    expected(v, path,
             "an operation (put, del, subscribe, query, reply, declare_queryable, "
             "liveliness_token, liveliness_watch, admin)");
    return std::nullopt;
  }

  const toml::array* array(const toml::node& v, const std::string& path, std::string_view of) {
    const auto* a = v.as_array();
    if (!a) expected(v, path, "an array of " + std::string(of));
    return a;
  }

  /// Role names; "*" alone when `any` (rules), never in tests.
  std::optional<std::vector<std::string>> roles(const toml::node& v, const std::string& path,
                                                bool any) {
    const auto* a = array(v, path, "role names");
    if (!a) return std::nullopt;
    if (any && a->empty()) {
      fail(v.source(), path, "expected at least one role name, or [\"*\"] for every peer");
      return std::nullopt;
    }
    if (a->size() > access::max_roles_per_rule) {
      fail(v.source(), path,
           "expected at most " + std::to_string(access::max_roles_per_rule) + " roles, got " +
               std::to_string(a->size()));
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const auto* s = e.as_string();
      if (s && any && s->get() == access::any_role) {
        if (a->size() != 1) {
          fail(e.source(), indexed(path, i), "\"*\" (every peer) must be the only role");
          return std::nullopt;
        }
      } else if (!s || !access::valid_role_name(s->get())) {
        expected(e, indexed(path, i),
                 any ? std::string(role_expected) + " or \"*\"" : std::string(role_expected));
        return std::nullopt;
      }
      out.push_back(s->get());
    }
    return out;
  }

  std::optional<access::op_set> ops(const toml::node& v, const std::string& path) {
    const auto* a = array(v, path, "operation names");
    if (!a) return std::nullopt;
    if (a->empty()) {
      fail(v.source(), path, "expected at least one operation, or [\"*\"] for all");
      return std::nullopt;
    }
    access::op_set out;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      const auto* s = e.as_string();
      if (s && s->get() == "*") {
        if (a->size() != 1) {
          fail(e.source(), indexed(path, i), "\"*\" (every operation) must be the only one");
          return std::nullopt;
        }
        return access::op_set::all();
      }
      auto op = operation(e, indexed(path, i));
      if (!op) return std::nullopt;
      out = out.with(*op);
    }
    return out;
  }

  std::optional<std::vector<keyexpr::keyexpr>> keys(const toml::node& v, const std::string& path) {
    const auto* a = array(v, path, "key expressions");
    if (!a) return std::nullopt;
    if (a->empty()) {
      fail(v.source(), path, "expected at least one key expression, e.g. [\"home/**\"]");
      return std::nullopt;
    }
    if (a->size() > access::max_keys_per_rule) {
      fail(v.source(), path,
           "expected at most " + std::to_string(access::max_keys_per_rule) +
               " key expressions, got " + std::to_string(a->size()));
      return std::nullopt;
    }
    std::vector<keyexpr::keyexpr> out;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::node& e = *a->get(i);
      auto s = string(e, indexed(path, i), "a key expression, e.g. \"home/*/temp\"");
      if (!s) return std::nullopt;
      auto x = keyexpr::keyexpr::parse(*s);
      if (!x) {
        fail(e.source(), indexed(path, i),
             "expected a key expression, got " + bad_expr(*s, x.error()));
        return std::nullopt;
      }
      out.push_back(std::move(*x));
    }
    return out;
  }

  /// Reports "missing key <what>" at table `t` unless `seen`; returns `seen`.
  bool present(bool seen, const toml::table& t, const std::string& at, std::string_view what) {
    if (!seen) fail(t.source(), at, "missing key " + std::string(what));
    return seen;
  }

  /// The tables of `[[name]]`, or nullptr after reporting what is there instead.
  const toml::array* tables(const toml::node& v, const std::string& name) {
    const auto* a = v.as_array();
    if (a && a->is_array_of_tables()) return a;
    fail(v.source(), name,
         "expected [[" + name + "]] tables, got " +
             (a ? std::string("an array of other values") : what_is(v)));
    return nullptr;
  }

  void rules(const toml::node& v, access::policy& out) {
    const auto* a = tables(v, "rule");
    if (!a) return;
    std::size_t total_keys = 0;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::table& t = *a->get(i)->as_table();
      const std::string at = indexed("rule", i);
      if (i == access::max_rules) {
        fail(t.source(), at, "expected at most " + std::to_string(access::max_rules) + " rules");
        return;
      }
      access::rule r;
      r.line = t.source().begin.line;
      bool seen[4] = {false, false, false, false};
      bool ok = true;
      for (auto&& [key, e] : t) {
        const std::string_view k = key.str();
        const std::string path = at + "." + std::string(k);
        if (k == "effect") {
          seen[0] = true;
          auto x = effect(e, path);
          ok = ok && x;
          if (x) r.effect = *x;
        } else if (k == "roles") {
          seen[1] = true;
          auto x = roles(e, path, true);
          ok = ok && x;
          if (x) r.roles = std::move(*x);
        } else if (k == "ops") {
          seen[2] = true;
          auto x = ops(e, path);
          ok = ok && x;
          if (x) r.ops = *x;
        } else if (k == "keys") {
          seen[3] = true;
          auto x = keys(e, path);
          ok = ok && x;
          if (x) r.keys = std::move(*x);
        } else {
          unknown(key, path, rule_has);
          ok = false;
        }
      }
      static constexpr std::string_view missing[4] = {
          "'effect' (\"allow\" or \"deny\")", "'roles' (role names, or [\"*\"] for every peer)",
          "'ops' (operation names, or [\"*\"] for all)",
          "'keys' (the key expressions it covers, e.g. [\"home/**\"])"};
      for (std::size_t m = 0; m < 4; ++m)
        ok = present(seen[m], t, at, missing[m]) && ok;
      total_keys += r.keys.size();
      if (total_keys > access::max_keys) {
        fail(t.source(), at + ".keys",
             "expected at most " + std::to_string(access::max_keys) +
                 " key expressions in all rules together");
        return;
      }
      if (ok) out.rules.push_back(std::move(r));
    }
  }

  void tests(const toml::node& v, std::vector<policy_test>& out) {
    const auto* a = tables(v, "test");
    if (!a) return;
    for (std::size_t i = 0; i < a->size(); ++i) {
      const toml::table& t = *a->get(i)->as_table();
      const std::string at = indexed("test", i);
      if (i == max_policy_tests) {
        fail(t.source(), at, "expected at most " + std::to_string(max_policy_tests) + " tests");
        return;
      }
      policy_test pt;
      pt.line = t.source().begin.line;
      bool seen_roles = false;
      bool seen_op = false;
      bool seen_expect = false;
      const toml::node* key_node = nullptr;
      bool ok = true;
      for (auto&& [key, e] : t) {
        const std::string_view k = key.str();
        const std::string path = at + "." + std::string(k);
        if (k == "role" || k == "roles") {
          if (seen_roles) {
            fail(key.source(), path, "give either role or roles, not both");
            ok = false;
            continue;
          }
          seen_roles = true;
          if (k == "roles") {
            auto x = roles(e, path, false);
            ok = ok && x;
            if (x) pt.roles = std::move(*x);
          } else {
            const auto* s = e.as_string();
            if (!s || !access::valid_role_name(s->get())) {
              expected(e, path, role_expected);
              ok = false;
            } else {
              pt.roles = {s->get()};
            }
          }
        } else if (k == "op") {
          seen_op = true;
          auto x = operation(e, path);
          ok = ok && x;
          if (x) pt.op = *x;
        } else if (k == "key") {
          key_node = &e;
        } else if (k == "expect") {
          seen_expect = true;
          auto x = effect(e, path);
          ok = ok && x;
          if (x) pt.expect_allow = *x == access::effect::allow;
        } else {
          unknown(key, path, test_has);
          ok = false;
        }
      }
      ok = present(seen_roles, t, at, "'role' (the asking peer's role, or roles = [...])") && ok;
      ok = present(seen_op, t, at, "'op' (an operation name)") && ok;
      ok = present(seen_expect, t, at, "'expect' (\"allow\" or \"deny\")") && ok;
      if (!present(key_node != nullptr, t, at, "'key' (the key or key expression)")) {
        ok = false;
      } else if (!test_key(*key_node, at + ".key", seen_op && ok, pt)) {
        ok = false;
      }
      if (ok) out.push_back(std::move(pt));
    }
  }

  /// A test's key: a key, or an expression when the test's operation takes one (checked
  /// only when `op_known`).
  bool test_key(const toml::node& v, const std::string& path, bool op_known, policy_test& pt) {
    auto s = string(v, path, "a key or key expression, e.g. \"home/k/temp\"");
    if (!s) return false;
    auto x = keyexpr::keyexpr::parse(*s);
    if (!x) {
      fail(v.source(), path, "expected a key or key expression, got " + bad_expr(*s, x.error()));
      return false;
    }
    if (op_known && !x->is_key() && !access::takes_expression(pt.op)) {
      fail(v.source(), path,
           "expected a key without wildcards for " + std::string(access::name(pt.op)) + ", got " +
               shown(*s));
      return false;
    }
    pt.key = std::move(*s);
    return true;
  }

  std::string_view m_source;
  std::pair<std::uint32_t, std::uint32_t> m_first_at{};
  std::optional<policy_error> m_first;
};

}  // namespace

policy_result<policy_document> parse_policy(std::string_view text, std::string_view source_name) {
  if (text.size() > max_policy_file) {
    return policy_error{0, "",
                        std::string(source_name) + ": larger than " +
                            std::to_string(max_policy_file / 1024) + " KiB"};
  }
  if (const std::uint32_t line = bad_table_header(text)) {
    return policy_error{line, "",
                        std::string(source_name) + ":" + std::to_string(line) +
                            ": not valid TOML: a table header must start with a key"};
  }
  if (const std::uint32_t line = first_bad_byte(text)) {
    return policy_error{line, "",
                        std::string(source_name) + ":" + std::to_string(line) +
                            ": a non-ASCII or control byte (policy files are printable ASCII)"};
  }
  toml::table root;
  try {
    root = toml::parse(text);
  } catch (const toml::parse_error& e) {
    const auto line = static_cast<std::uint32_t>(e.source().begin.line);
    return policy_error{line, "",
                        std::string(source_name) + ":" + std::to_string(line) +
                            ": not valid TOML: " + std::string(e.description())};
  }
  reader r(source_name);
  policy_document doc = r.run(root);
  if (auto e = r.error()) return *e;
  // The reader enforces every limit validate() checks; this only guards against drift.
  if (auto ok = access::validate(doc.policy); !ok) {
    return policy_error{0, "", std::string(source_name) + ": " + ok.error().message()};
  }
  return doc;
}

std::vector<policy_test_failure> run_tests(const access::policy& p,
                                           const std::vector<policy_test>& tests) {
  std::vector<policy_test_failure> failures;
  for (std::size_t i = 0; i < tests.size(); ++i) {
    const policy_test& t = tests[i];
    std::string head = "test " + std::to_string(i + 1);
    if (t.line != 0) head += " (line " + std::to_string(t.line) + ")";
    auto fail = [&](std::string why) {
      failures.push_back({i, t.line, head + ": " + std::move(why)});
    };
    auto expr = keyexpr::keyexpr::parse(t.key);
    if (!expr) {
      fail("not a key expression: " + expr.error().message());
      continue;
    }
    if (!expr->is_key() && !access::takes_expression(t.op)) {
      fail(std::string(access::name(t.op)) + " takes a key, not " + shown(t.key));
      continue;
    }
    const access::decision d = access::evaluate(p, t.roles, t.op, *expr);
    if (d.allowed == t.expect_allow) continue;
    fail(std::string("expected ") + (t.expect_allow ? "allow" : "deny") + ", got " +
         access::explain(p, t.roles, t.op, *expr, d));
  }
  return failures;
}

}  // namespace starling::node
