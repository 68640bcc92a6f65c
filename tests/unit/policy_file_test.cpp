#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/access/checker.hpp"
#include "node/policy_file.hpp"

using namespace starling;
using access::operation;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr std::string_view good = R"(version = 4

[[rule]]
effect = "allow"
roles = ["sensor"]
ops = ["put", "del"]
keys = ["home/*/temp"]

[[rule]]
effect = "deny"
roles = ["*"]
ops = ["*"]
keys = ["home/garage/**"]

[[test]]
role = "sensor"
op = "put"
key = "home/k/temp"
expect = "allow"

[[test]]
roles = []
op = "subscribe"
key = "home/**"
expect = "deny"
)";

TEST(PolicyFile, ParsesRulesWithTheirLinesAndTests) {
  auto doc = node::parse_policy(good, "acl.toml");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->policy.version, 4u);
  ASSERT_EQ(doc->policy.rules.size(), 2u);
  const auto& r0 = doc->policy.rules[0];
  EXPECT_EQ(r0.effect, access::effect::allow);
  EXPECT_EQ(r0.roles, std::vector<std::string>{"sensor"});
  EXPECT_EQ(r0.ops, access::op_set{}.with(operation::put).with(operation::del));
  ASSERT_EQ(r0.keys.size(), 1u);
  EXPECT_EQ(r0.keys[0].str(), "home/*/temp");
  EXPECT_EQ(r0.line, 3u);
  const auto& r1 = doc->policy.rules[1];
  EXPECT_EQ(r1.effect, access::effect::deny);
  EXPECT_EQ(r1.roles, std::vector<std::string>{"*"});
  EXPECT_EQ(r1.ops, access::op_set::all());
  EXPECT_EQ(r1.line, 9u);

  ASSERT_EQ(doc->tests.size(), 2u);
  EXPECT_EQ(doc->tests[0].roles, std::vector<std::string>{"sensor"});
  EXPECT_EQ(doc->tests[0].op, operation::put);
  EXPECT_EQ(doc->tests[0].key, "home/k/temp");
  EXPECT_TRUE(doc->tests[0].expect_allow);
  EXPECT_EQ(doc->tests[0].line, 15u);
  EXPECT_TRUE(doc->tests[1].roles.empty());
  EXPECT_FALSE(doc->tests[1].expect_allow);
  EXPECT_TRUE(node::run_tests(doc->policy, doc->tests).empty());

  // Explanations name the file's lines.
  const std::vector<std::string> sensor{"sensor"};
  EXPECT_EQ(access::explain(doc->policy, sensor, operation::put, "home/garage/temp").value(),
            "deny: rule 2 (line 9) denies role \"sensor\" put on \"home/garage/temp\"");
}

TEST(PolicyFile, ExampleInDocsParsesAndPassesItsTests) {
  const std::string text =
      read_file(std::string(STARLING_TEST_DATA) + "/../docs/policy-example.toml");
  ASSERT_FALSE(text.empty());
  auto doc = node::parse_policy(text, "policy-example.toml");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_GE(doc->policy.rules.size(), 5u);
  EXPECT_GE(doc->tests.size(), 5u);
  EXPECT_TRUE(access::has_admin(doc->policy));
  for (const auto& f : node::run_tests(doc->policy, doc->tests))
    ADD_FAILURE() << f.message;
  EXPECT_TRUE(access::checker::compile(doc->policy));
}

TEST(PolicyFile, FailedTestsCarryTheExplanation) {
  auto doc = node::parse_policy(R"(version = 1
[[rule]]
effect = "allow"
roles = ["a"]
ops = ["put"]
keys = ["x/**"]
[[test]]
role = "a"
op = "put"
key = "y"
expect = "allow"
[[test]]
role = "a"
op = "put"
key = "x/1"
expect = "deny"
[[test]]
role = "a"
op = "put"
key = "x/2"
expect = "allow"
)");
  ASSERT_TRUE(doc) << doc.error().message;
  const auto failures = node::run_tests(doc->policy, doc->tests);
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].index, 0u);
  EXPECT_EQ(failures[0].line, 7u);
  EXPECT_EQ(failures[0].message,
            "test 1 (line 7): expected allow, got deny: no rule allows role \"a\" put on \"y\" "
            "(default deny)");
  EXPECT_EQ(failures[1].message,
            "test 2 (line 12): expected deny, got allow: rule 1 (line 2) allows role \"a\" put "
            "on \"x/1\"");

  // Tests built in code are checked too.
  std::vector<node::policy_test> bad{{{"a"}, operation::put, "x/*", true, 0},
                                     {{"a"}, operation::put, "x//y", true, 0}};
  const auto f = node::run_tests(doc->policy, bad);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].message, "test 1: put takes a key, not \"x/*\"");
  EXPECT_EQ(f[1].message.rfind("test 2: not a key expression: ", 0), 0u) << f[1].message;
}

struct error_case {
  std::string text;
  std::uint32_t line;
  std::string key;
  std::string message;
};

const std::string head = "version = 1\n[[rule]]\neffect = \"allow\"\n";

const std::vector<error_case> error_cases = {
    {"version = 1\nx = [\n", 2, "",
     "p.toml:2: not valid TOML: Error while parsing array: encountered end-of-file"},
    {"version = 1\n[[%rule]]\n", 2, "",
     "p.toml:2: not valid TOML: a table header must start with a key"},
    {"version = 1\n [ \n", 2, "", "p.toml:2: not valid TOML: a table header must start with a key"},
    {"version = 1\n# caf\xc3\xa9\n", 2, "",
     "p.toml:2: a non-ASCII or control byte (policy files are printable ASCII)"},
    {std::string("version = 1\n\nx = [[\"a\"\0]]\n", 26), 3, "",
     "p.toml:3: a non-ASCII or control byte (policy files are printable ASCII)"},
    {"version = 1\x7f\n", 1, "",
     "p.toml:1: a non-ASCII or control byte (policy files are printable ASCII)"},
    {"[[rule]]\neffect = \"allow\"\nroles = [\"a\"]\nops = [\"put\"]\nkeys = [\"k\"]\n", 1,
     "version", "p.toml:1: missing key 'version' (the policy's version, an integer of at least 1)"},
    {"version = \"1\"\n", 1, "version",
     "p.toml:1: version: expected an integer of at least 1, got \"1\""},
    {"version = 0\n", 1, "version", "p.toml:1: version: expected an integer of at least 1, got 0"},
    {"version = 1\nversio = 3\n", 2, "versio",
     "p.toml:2: unknown key 'versio' (a policy file has version, [[rule]] and [[test]])"},
    {"version = 1\n[rule]\neffect = \"allow\"\n", 2, "rule",
     "p.toml:2: rule: expected [[rule]] tables, got a table"},
    {"version = 1\nrule = 3\n", 2, "rule", "p.toml:2: rule: expected [[rule]] tables, got 3"},
    {head + "role = [\"a\"]\nops = [\"put\"]\nkeys = [\"k\"]\nroles = [\"a\"]\n", 4, "rule[0].role",
     "p.toml:4: unknown key 'rule[0].role' (a rule has effect, roles, ops and keys)"},
    {head + "roles = [\"a\"]\nops = [\"put\"]\n", 2, "rule[0]",
     "p.toml:2: rule[0]: missing key 'keys' (the key expressions it covers, e.g. [\"home/**\"])"},
    {"version = 1\n[[rule]]\neffect = \"permit\"\nroles = [\"a\"]\nops = [\"put\"]\nkeys = "
     "[\"k\"]\n",
     3, "rule[0].effect",
     "p.toml:3: rule[0].effect: expected \"allow\" or \"deny\", got \"permit\""},
    {head + "roles = \"a\"\nops = [\"put\"]\nkeys = [\"k\"]\n", 4, "rule[0].roles",
     "p.toml:4: rule[0].roles: expected an array of role names, got \"a\""},
    {head + "roles = []\nops = [\"put\"]\nkeys = [\"k\"]\n", 4, "rule[0].roles",
     "p.toml:4: rule[0].roles: expected at least one role name, or [\"*\"] for every peer"},
    {head + "roles = [\"a\", \"*\"]\nops = [\"put\"]\nkeys = [\"k\"]\n", 4, "rule[0].roles[1]",
     "p.toml:4: rule[0].roles[1]: \"*\" (every peer) must be the only role"},
    {head + "roles = [\"a b\"]\nops = [\"put\"]\nkeys = [\"k\"]\n", 4, "rule[0].roles[0]",
     "p.toml:4: rule[0].roles[0]: expected a role name (1 to 32 bytes of a-z, 0-9, '_', '-') or "
     "\"*\", got \"a b\""},
    {head + "roles = [\"Admin\"]\nops = [\"put\"]\nkeys = [\"k\"]\n", 4, "rule[0].roles[0]",
     "p.toml:4: rule[0].roles[0]: expected a role name (1 to 32 bytes of a-z, 0-9, '_', '-') or "
     "\"*\", got \"Admin\""},
    {head + "roles = [\"team.a\"]\nops = [\"put\"]\nkeys = [\"k\"]\n", 4, "rule[0].roles[0]",
     "p.toml:4: rule[0].roles[0]: expected a role name (1 to 32 bytes of a-z, 0-9, '_', '-') or "
     "\"*\", got \"team.a\""},
    {head + "roles = [\"a\"]\nops = [\"put\", \"publish\"]\nkeys = [\"k\"]\n", 5, "rule[0].ops[1]",
     "p.toml:5: rule[0].ops[1]: expected an operation (put, del, subscribe, query, reply, "
     "declare_queryable, liveliness_token, liveliness_watch, admin), got \"publish\""},
    {head + "roles = [\"a\"]\nops = [\"put\", \"*\"]\nkeys = [\"k\"]\n", 5, "rule[0].ops[1]",
     "p.toml:5: rule[0].ops[1]: \"*\" (every operation) must be the only one"},
    {head + "roles = [\"a\"]\nops = []\nkeys = [\"k\"]\n", 5, "rule[0].ops",
     "p.toml:5: rule[0].ops: expected at least one operation, or [\"*\"] for all"},
    {head + "roles = [\"a\"]\nops = [\"put\"]\nkeys = [\"home//x\"]\n", 6, "rule[0].keys[0]",
     "p.toml:6: rule[0].keys[0]: expected a key expression, got \"home//x\" (empty chunk at "
     "byte 5)"},
    {head + "roles = [\"a\"]\nops = [\"put\"]\nkeys = [\"k\", 3]\n", 6, "rule[0].keys[1]",
     "p.toml:6: rule[0].keys[1]: expected a key expression, e.g. \"home/*/temp\", got 3"},
    {head + "roles = [\"a\"]\nops = [\"put\"]\nkeys = []\n", 6, "rule[0].keys",
     "p.toml:6: rule[0].keys: expected at least one key expression, e.g. [\"home/**\"]"},
    {"version = 1\n[[test]]\nrole = \"a\"\nroles = [\"b\"]\nop = \"put\"\nkey = \"a\"\nexpect = "
     "\"deny\"\n",
     4, "test[0].roles", "p.toml:4: test[0].roles: give either role or roles, not both"},
    {"version = 1\n[[test]]\nrole = \"*\"\nop = \"put\"\nkey = \"a\"\nexpect = \"deny\"\n", 3,
     "test[0].role",
     "p.toml:3: test[0].role: expected a role name (1 to 32 bytes of a-z, 0-9, '_', '-'), got "
     "\"*\""},
    {"version = 1\n[[test]]\nrole = \"Sensor\"\nop = \"put\"\nkey = \"a\"\nexpect = \"deny\"\n", 3,
     "test[0].role",
     "p.toml:3: test[0].role: expected a role name (1 to 32 bytes of a-z, 0-9, '_', '-'), got "
     "\"Sensor\""},
    {"version = 1\n[[test]]\nrole = \"a\"\nop = \"put\"\nkey = \"a/*\"\nexpect = \"deny\"\n", 5,
     "test[0].key", "p.toml:5: test[0].key: expected a key without wildcards for put, got \"a/*\""},
    {"version = 1\n[[test]]\nrole = \"a\"\nop = \"put\"\nkey = \"a\"\nexpect = \"yes\"\n", 6,
     "test[0].expect", "p.toml:6: test[0].expect: expected \"allow\" or \"deny\", got \"yes\""},
    {"version = 1\n[[test]]\nrole = \"a\"\nop = \"put\"\nkey = \"a\"\nexpect = \"deny\"\nwhy = "
     "\"x\"\n",
     7, "test[0].why",
     "p.toml:7: unknown key 'test[0].why' (a test has role or roles, op, key and expect)"},
    {"version = 1\n[[test]]\nop = \"put\"\nkey = \"a\"\nexpect = \"deny\"\n", 2, "test[0]",
     "p.toml:2: test[0]: missing key 'role' (the asking peer's role, or roles = [...])"},
    {"version = 1\n[[test]]\nrole = \"a\"\nop = \"put\"\nexpect = \"deny\"\n", 2, "test[0]",
     "p.toml:2: test[0]: missing key 'key' (the key or key expression)"},
};

TEST(PolicyFile, EveryErrorNamesLineKeyAndWhatWasExpected) {
  for (const auto& c : error_cases) {
    SCOPED_TRACE(c.text);
    auto r = node::parse_policy(c.text, "p.toml");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().line, c.line);
    EXPECT_EQ(r.error().key, c.key);
    EXPECT_EQ(r.error().message, c.message);
  }
}

TEST(PolicyFile, TheFirstProblemByPositionIsReported) {
  // toml++ keeps keys sorted; the report still follows the file.
  auto r = node::parse_policy(
      "version = 1\n[[rule]]\nroles = [\"a b\"]\neffect = \"nope\"\nops = [\"put\"]\nkeys = "
      "[\"k\"]\n",
      "p.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().line, 3u);
  EXPECT_EQ(r.error().key, "rule[0].roles[0]");
}

TEST(PolicyFile, Limits) {
  auto too_big = node::parse_policy(std::string(node::max_policy_file + 1, '#'), "p.toml");
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().line, 0u);
  EXPECT_EQ(too_big.error().message, "p.toml: larger than 256 KiB");

  std::string many = "version = 1\n";
  for (std::size_t i = 0; i <= access::max_rules; ++i) {
    many += "[[rule]]\neffect = \"allow\"\nroles = [\"a\"]\nops = [\"put\"]\nkeys = [\"k\"]\n";
  }
  auto r = node::parse_policy(many, "p.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().key, "rule[1024]");
  EXPECT_EQ(r.error().line, 2u + 5u * 1024u);
  EXPECT_EQ(r.error().message, "p.toml:5122: rule[1024]: expected at most 1024 rules");

  std::string keys = "version = 1\n";
  std::string list = "keys = [";
  for (std::size_t i = 0; i < access::max_keys_per_rule; ++i)
    list += "\"k" + std::to_string(i) + "\",";
  list += "]\n";
  for (std::size_t i = 0; i <= access::max_keys / access::max_keys_per_rule; ++i) {
    keys += "[[rule]]\neffect = \"allow\"\nroles = [\"a\"]\nops = [\"put\"]\n" + list;
  }
  r = node::parse_policy(keys, "p.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().key, "rule[16].keys");
  EXPECT_NE(r.error().message.find("expected at most 4096 key expressions in all rules"),
            std::string::npos)
      << r.error().message;
}

}  // namespace
