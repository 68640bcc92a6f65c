#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "core/access/checker.hpp"
#include "core/access/policy.hpp"
#include "core/data/access_rules.hpp"
#include "core/member/log.hpp"
#include "core/member/role.hpp"

using namespace starling;
using access::decision;
using access::no_rule;
using access::operation;

namespace {

keyexpr::keyexpr expr(std::string_view text) {
  auto r = keyexpr::keyexpr::parse(text);
  EXPECT_TRUE(r) << text;
  return *r;
}

access::rule make_rule(access::effect e, std::vector<std::string> roles, std::vector<operation> ops,
                       std::vector<std::string_view> keys, std::uint32_t line = 0) {
  access::rule r;
  r.effect = e;
  r.roles = std::move(roles);
  for (operation op : ops)
    r.ops = r.ops.with(op);
  for (auto k : keys)
    r.keys.push_back(expr(k));
  r.line = line;
  return r;
}

constexpr auto allow = access::effect::allow;
constexpr auto deny = access::effect::deny;

// The policy the table below is about; comments give the rule indices.
access::policy sample_policy() {
  access::policy p;
  p.version = 7;
  p.rules = {
      // 0
      make_rule(allow, {"sensor"}, {operation::put, operation::del}, {"home/*/temp"}, 5),
      // 1
      make_rule(allow, {"sensor"}, {operation::subscribe}, {"home/*/temp"}, 10),
      // 2: deny wins though it comes later
      make_rule(deny, {"sensor"}, {operation::put}, {"home/garage/temp"}, 14),
      // 3
      make_rule(allow, {"*"}, {operation::subscribe}, {"public/**"}, 20),
      // 4
      make_rule(deny, {"guest"}, {operation::subscribe, operation::query}, {"public/secret/**"},
                25),
      // 5
      make_rule(allow, {"reader"}, {operation::subscribe, operation::query}, {"home/**"}, 30),
      // 6
      make_rule(deny, {"reader"}, {operation::subscribe}, {"home/cameras/**"}, 35),
  };
  return p;
}

struct table_case {
  std::vector<std::string> roles;
  operation op;
  std::string_view key;  // a key, or an expression for the declaration check
  decision want;
  const char* why;
};

// {allowed, deciding rule, narrowing deny rule}
const decision default_deny{false, no_rule, no_rule};

const std::vector<table_case> cases = {
    {{"sensor"}, operation::put, "home/k/temp", {true, 0, no_rule}, "allow rule"},
    {{"sensor"}, operation::put, "home/garage/temp", {false, 2, no_rule}, "deny wins"},
    {{"sensor"}, operation::del, "home/garage/temp", {true, 0, no_rule}, "deny is per op"},
    {{"sensor"}, operation::put, "home/k/humidity", default_deny, "default deny"},
    {{"guest"}, operation::put, "a/b", default_deny, "unknown key: default deny"},
    {{"sensor"}, operation::put, "home/temp", default_deny, "* is exactly one chunk"},
    {{"sensor"}, operation::put, "home/a/b/temp", default_deny, "* is exactly one chunk"},
    {{"sensor"}, operation::subscribe, "public/x", {true, 3, no_rule}, "* role reaches sensor"},
    {{}, operation::subscribe, "public", {true, 3, no_rule}, "* role, no role, ** matches none"},
    {{"nobody"}, operation::subscribe, "public/a/b/c", {true, 3, no_rule}, "** many chunks"},
    {{"guest"}, operation::subscribe, "public/secret/x", {false, 4, no_rule}, "deny over *"},
    {{"guest"}, operation::subscribe, "public/**", {true, 3, 4}, "declaration narrowed"},
    {{"guest"}, operation::subscribe, "public/secret/**", {false, 4, no_rule}, "included: deny"},
    {{"guest"}, operation::subscribe, "public/secret", {false, 4, no_rule}, "** matches none"},
    {{"guest"}, operation::query, "public/x", default_deny, "rule 3 is subscribe only"},
    {{"reader"}, operation::subscribe, "home/**", {true, 5, 6}, "declaration narrowed"},
    {{"reader"}, operation::subscribe, "home/*/front", {true, 5, 6}, "intersects, not included"},
    {{"reader"}, operation::subscribe, "home/cameras/front", {false, 6, no_rule}, "sample deny"},
    {{"reader"}, operation::subscribe, "home/cameras/**", {false, 6, no_rule}, "decl deny"},
    {{"reader"}, operation::query, "home/cameras/front", {true, 5, no_rule}, "deny is per op"},
    {{"sensor"}, operation::subscribe, "home/**", {true, 1, no_rule}, "decl: allow intersects"},
    {{"sensor"}, operation::subscribe, "home/k/humidity", default_deny, "sample outside"},
    {{"sensor"}, operation::subscribe, "**", {true, 1, no_rule}, "** intersects everything"},
    {{"sensor"}, operation::put, "home/*/temp", default_deny, "put takes a key"},
    {{"sensor", "guest"},
     operation::subscribe,
     "public/secret/x",
     {false, 4, no_rule},
     "deny of one role wins over allow of another"},
    {{"reader", "sensor"},
     operation::subscribe,
     "home/cameras/temp",
     {false, 6, no_rule},
     "deny wins across roles"},
    {{"guest", "sensor"}, operation::put, "home/x/temp", {true, 0, no_rule}, "union of roles"},
};

TEST(Access, DecisionTableReferenceAndCompiledAgree) {
  const auto p = sample_policy();
  auto c = access::checker::compile(p);
  ASSERT_TRUE(c);
  for (const auto& tc : cases) {
    SCOPED_TRACE(std::string(tc.why) + ": " + std::string(tc.key));
    const auto x = expr(tc.key);
    EXPECT_EQ(access::evaluate(p, tc.roles, tc.op, x), tc.want);
    auto h = c->intern(tc.roles);
    ASSERT_TRUE(h);
    EXPECT_EQ(c->check_expression(*h, tc.op, x), tc.want);
    if (x.is_key()) {
      EXPECT_EQ(c->check(*h, tc.op, keyexpr::key::parse(tc.key).value()), tc.want);
    }
  }
}

TEST(Access, ExplainNamesTheRuleAndItsLine) {
  const auto p = sample_policy();
  const std::vector<std::string> sensor{"sensor"};
  const std::vector<std::string> guest{"guest"};
  const std::vector<std::string> two{"reader", "sensor"};
  EXPECT_EQ(access::explain(p, sensor, operation::put, "home/garage/temp").value(),
            "deny: rule 3 (line 14) denies role \"sensor\" put on \"home/garage/temp\"");
  EXPECT_EQ(access::explain(p, sensor, operation::put, "home/k/temp").value(),
            "allow: rule 1 (line 5) allows role \"sensor\" put on \"home/k/temp\"");
  EXPECT_EQ(access::explain(p, guest, operation::put, "a/b").value(),
            "deny: no rule allows role \"guest\" put on \"a/b\" (default deny)");
  EXPECT_EQ(access::explain(p, {}, operation::put, "a/b").value(),
            "deny: no rule allows a peer with no role put on \"a/b\" (default deny)");
  EXPECT_EQ(access::explain(p, guest, operation::subscribe, "public/**").value(),
            "allow: rule 4 (line 20) allows role \"guest\" subscribe on \"public/**\"; rule 5 "
            "(line 25) denies part of it, whose samples are filtered out key by key");
  // The deciding rule names the roles it reaches; "*" reaches all of them.
  EXPECT_EQ(access::explain(p, two, operation::subscribe, "home/cameras/x").value(),
            "deny: rule 7 (line 35) denies role \"reader\" subscribe on \"home/cameras/x\"");
  EXPECT_EQ(access::explain(p, two, operation::subscribe, "public/x").value(),
            "allow: rule 4 (line 20) allows roles \"reader\", \"sensor\" subscribe on "
            "\"public/x\"");
  // Canonical form of the expression; no line for rules built in code.
  EXPECT_EQ(access::explain(access::default_policy(), guest, operation::query, "a/**/*").value(),
            "deny: no rule allows role \"guest\" query on \"a/*/**\" (default deny)");
  const std::vector<std::string> member{"member"};
  EXPECT_EQ(access::explain(access::default_policy(), member, operation::query, "a").value(),
            "allow: rule 2 allows role \"member\" query on \"a\"");

  EXPECT_EQ(access::explain(p, sensor, operation::put, "home//x").error(), access::errc::bad_key);
  EXPECT_EQ(access::explain(p, sensor, operation::put, "home/*/temp").error(),
            access::errc::expression_for_key_op);
  EXPECT_EQ(access::explain(p, sensor, operation::put, expr("home/*/temp"), {}),
            "deny: put takes a key, not an expression like \"home/*/temp\"");
}

TEST(Access, DefaultPolicy) {
  const auto p = access::default_policy();
  EXPECT_EQ(p.version, 1u);
  EXPECT_TRUE(access::validate(p));
  EXPECT_TRUE(access::has_admin(p));
  const std::vector<std::string> admin{"admin"}, member{"member"}, other{"other"};
  for (std::size_t i = 0; i < access::operation_count; ++i) {
    const auto op = static_cast<operation>(i);
    SCOPED_TRACE(std::string(access::name(op)));
    EXPECT_TRUE(access::evaluate(p, admin, op, expr("any/key")).allowed);
    EXPECT_EQ(access::evaluate(p, member, op, expr("any/key")).allowed, op != operation::admin);
    EXPECT_FALSE(access::evaluate(p, other, op, expr("any/key")).allowed);
  }
}

TEST(Access, HasAdmin) {
  auto admin_rule = [](std::vector<std::string> roles, std::string_view key) {
    return make_rule(allow, std::move(roles), {operation::admin}, {key});
  };
  access::policy p;
  EXPECT_FALSE(access::has_admin(p)) << "no rule at all";
  p.rules = {make_rule(allow, {"member"}, {operation::put}, {"**"})};
  EXPECT_FALSE(access::has_admin(p)) << "no admin operation";
  p.rules = {admin_rule({"ops"}, "config/**")};
  EXPECT_FALSE(access::has_admin(p)) << "admin on part of the key space only";
  p.rules = {admin_rule({"ops"}, "**")};
  EXPECT_TRUE(access::has_admin(p));
  p.rules.push_back(make_rule(deny, {"ops"}, {operation::admin}, {"secrets/**"}));
  EXPECT_FALSE(access::has_admin(p)) << "a deny of admin anywhere takes it away";
  p.rules.push_back(admin_rule({"root"}, "**"));
  EXPECT_TRUE(access::has_admin(p)) << "another role keeps it";
  p.rules.push_back(make_rule(deny, {"*"}, {operation::admin}, {"x"}));
  EXPECT_FALSE(access::has_admin(p)) << "a deny for every role";
  p.rules = {admin_rule({"*"}, "**")};
  EXPECT_TRUE(access::has_admin(p)) << "everybody is an administrator";
  p.rules.push_back(make_rule(deny, {"guest"}, {operation::admin}, {"**"}));
  EXPECT_TRUE(access::has_admin(p)) << "roles other than guest still have it";
}

TEST(Access, HasAdminAgainstHeldRoles) {
  auto admin_rule = [](std::vector<std::string> roles, std::string_view key) {
    return make_rule(allow, std::move(roles), {operation::admin}, {key});
  };
  const std::set<std::string> held{"admin", "member", "sensor"};
  access::policy p;
  // The typo: "admins" is granted admin, but every administrator holds "admin".
  p.rules = {admin_rule({"admins"}, "**"), make_rule(allow, {"member"}, {operation::put}, {"**"})};
  EXPECT_TRUE(access::has_admin(p)) << "the old check is fooled by the typo";
  EXPECT_FALSE(access::has_admin(p, held)) << "nobody holds \"admins\"";
  EXPECT_TRUE(access::has_admin(p, {"admins"})) << "unless somebody does";

  EXPECT_TRUE(access::has_admin(access::default_policy(), held));
  EXPECT_FALSE(access::has_admin(access::default_policy(), {}))
      << "no held role: nobody can administer";
  EXPECT_FALSE(access::has_admin(access::default_policy(), {"member", "sensor"}))
      << "member has every data operation but not admin";

  p.rules = {admin_rule({"admin"}, "config/**")};
  EXPECT_FALSE(access::has_admin(p, held)) << "admin on part of the key space only";
  p.rules = {admin_rule({"admin"}, "**"),
             make_rule(deny, {"admin"}, {operation::admin}, {"secrets/**"})};
  EXPECT_FALSE(access::has_admin(p, held)) << "a deny of admin anywhere takes it away";
  p.rules.push_back(admin_rule({"sensor"}, "**"));
  EXPECT_TRUE(access::has_admin(p, held)) << "another held role keeps it";
  EXPECT_FALSE(access::has_admin(p, {"admin", "member"})) << "...only if somebody holds it";

  // "*" rules reach every held role, named by a rule or not.
  p.rules = {admin_rule({"*"}, "**")};
  EXPECT_TRUE(access::has_admin(p, {"anyone"}));
  p.rules.push_back(make_rule(deny, {"*"}, {operation::admin}, {"x"}));
  EXPECT_FALSE(access::has_admin(p, held)) << "a deny for every role";
  p.rules = {admin_rule({"*"}, "**"), make_rule(deny, {"guest"}, {operation::admin}, {"**"})};
  EXPECT_FALSE(access::has_admin(p, {"guest"}));
  EXPECT_TRUE(access::has_admin(p, {"guest", "member"}));

  // A held "role" that breaks the role-name rule counts for nothing, even where "*" allows.
  EXPECT_FALSE(access::has_admin(p, {"Admin", "*", ""}));
}

TEST(Access, ValidateLimitsAndRoleNames) {
  auto one = [](access::rule r) {
    access::policy p;
    p.rules.push_back(std::move(r));
    return access::validate(p);
  };
  const auto ok = make_rule(allow, {"a"}, {operation::put}, {"k"});
  EXPECT_TRUE(one(ok));
  auto r = ok;
  r.roles.clear();
  EXPECT_EQ(one(r).error(), access::errc::no_roles);
  r = ok;
  r.roles = {"*", "a"};
  EXPECT_EQ(one(r).error(), access::errc::bad_role_name);
  r.roles = {"bad name"};
  EXPECT_EQ(one(r).error(), access::errc::bad_role_name);
  r.roles = {std::string(access::max_role_name + 1, 'a')};
  EXPECT_EQ(one(r).error(), access::errc::bad_role_name);
  r.roles = {std::string(access::max_role_name, 'a')};
  EXPECT_TRUE(one(r));
  // The one role-name rule of certificates and the log: lower case, no '.', at most 32 bytes.
  EXPECT_EQ(access::max_role_name, 32u);
  for (const char* bad : {"Admin", "ADMIN", "team.a", "a b", "caf\xc3\xa9", "a/b", "", "*x"}) {
    r.roles = {bad};
    EXPECT_EQ(one(r).error(), access::errc::bad_role_name) << bad;
    EXPECT_FALSE(access::valid_role_name(bad)) << bad;
  }
  for (const char* good : {"admin", "a", "sensor_2", "night-shift", "0"}) {
    r.roles = {good};
    EXPECT_TRUE(one(r)) << good;
  }
  r = ok;
  r.ops = {};
  EXPECT_EQ(one(r).error(), access::errc::no_operations);
  r = ok;
  r.keys.clear();
  EXPECT_EQ(one(r).error(), access::errc::no_keys);
  r.keys.assign(access::max_keys_per_rule + 1, expr("k"));
  EXPECT_EQ(one(r).error(), access::errc::too_many_keys);
  r = ok;
  r.roles.assign(access::max_roles_per_rule + 1, "a");
  EXPECT_EQ(one(r).error(), access::errc::too_many_roles);
  access::policy p;
  p.rules.assign(access::max_rules + 1, ok);
  EXPECT_EQ(access::validate(p).error(), access::errc::too_many_rules);
  p.rules.assign(access::max_keys / access::max_keys_per_rule + 1, ok);
  for (auto& each : p.rules)
    each.keys.assign(access::max_keys_per_rule, expr("k"));
  EXPECT_EQ(access::validate(p).error(), access::errc::too_many_keys);
  EXPECT_EQ(access::checker::compile(p).error(), access::errc::too_many_keys);
}

TEST(Access, PoliciesAndTheMembershipLogAgreeOnEveryRoleName) {
  // (member_cert_test checks certificates against the same rule; cert.hpp and log.hpp cannot
  // share a translation unit.)
  EXPECT_EQ(member::max_role_size, member::max_role_name_size);
  std::vector<std::string> names{"admin", "Admin", "team.a", "a-b_c", "0", "", " a", "*", "a\x80"};
  names.push_back(std::string(32, 'z'));
  names.push_back(std::string(33, 'z'));
  for (const std::string& name : names) {
    EXPECT_EQ(member::validate_role(name).has_value(), access::valid_role_name(name)) << name;
    EXPECT_EQ(access::valid_role_name(name), member::is_valid_role_name(name)) << name;
  }
}

TEST(Access, OperationNames) {
  for (std::size_t i = 0; i < access::operation_count; ++i) {
    const auto op = static_cast<operation>(i);
    EXPECT_EQ(access::operation_from_name(access::name(op)), op);
  }
  EXPECT_EQ(access::operation_from_name("delete"), std::nullopt);
  EXPECT_EQ(access::operation_from_name("PUT"), std::nullopt);
  EXPECT_TRUE(access::takes_expression(operation::subscribe));
  EXPECT_FALSE(access::takes_expression(operation::liveliness_token));
  EXPECT_TRUE(access::op_set::all().contains(operation::admin));
  EXPECT_FALSE(access::op_set::data().contains(operation::admin));
  EXPECT_TRUE(access::op_set::data().contains(operation::liveliness_watch));
}

TEST(Access, InternSharesRoleSetsAndRefusesBadOnes) {
  auto c = access::checker::compile(sample_policy()).value();
  const std::vector<std::string> a{"sensor", "guest"}, b{"guest", "sensor", "sensor", "unused"};
  const auto ha = c.intern(a).value();
  EXPECT_EQ(c.intern(b).value(), ha) << "order, repeats and roles no rule names do not matter";
  const std::vector<std::string> none, unknown{"visitor"};
  EXPECT_EQ(c.intern(none).value(), c.intern(unknown).value());
  EXPECT_EQ(c.role_sets(), 2u);
  const std::vector<std::string> bad{"no spaces"};
  EXPECT_EQ(c.intern(bad).error(), access::errc::bad_role_name);
  const std::vector<std::string> many(access::max_subject_roles + 1, "sensor");
  EXPECT_EQ(c.intern(many).error(), access::errc::too_many_roles);
  // A handle the checker did not make is denied.
  const access::roles_handle foreign{0, 99};
  EXPECT_EQ(c.check(foreign, operation::subscribe, keyexpr::key::parse("public/x").value()),
            default_deny);
  EXPECT_EQ(c.check_expression(foreign, operation::subscribe, expr("public/**")), default_deny);
}

TEST(Access, AHandleFromAnEarlierCheckerIsDenied) {
  // Two checkers of one policy give their first role set the same index; a handle kept across
  // a policy change must not be honoured by the new checker.
  auto old_checker = access::checker::compile(sample_policy()).value();
  auto new_checker = access::checker::compile(sample_policy()).value();
  const std::vector<std::string> roles{"sensor"};
  const auto old_handle = old_checker.intern(roles).value();
  const auto new_handle = new_checker.intern(roles).value();
  EXPECT_EQ(old_handle.index, new_handle.index);
  EXPECT_NE(old_handle, new_handle);
  const auto key = keyexpr::key::parse("public/x").value();
  EXPECT_EQ(new_checker.check(old_handle, operation::subscribe, key), default_deny);
  EXPECT_EQ(new_checker.check(new_handle, operation::subscribe, key),
            old_checker.check(old_handle, operation::subscribe, key));
  // A move keeps the checker's handles valid.
  auto moved = std::move(new_checker);
  EXPECT_EQ(moved.check(new_handle, operation::subscribe, key),
            old_checker.check(old_handle, operation::subscribe, key));
}

TEST(Access, RoleSetTableIsBounded) {
  access::policy p;
  for (std::size_t i = 0; i < 12; ++i) {
    p.rules.push_back(make_rule(allow, {"r" + std::to_string(i)}, {operation::put}, {"k"}));
  }
  auto c = access::checker::compile(p).value();
  // 2^12 subsets of the named roles: more than max_role_sets.
  std::size_t made = 0;
  result<access::roles_handle> last = access::roles_handle{};
  for (std::uint32_t mask = 0; mask < (1u << 12) && last; ++mask) {
    std::vector<std::string> roles;
    for (std::size_t i = 0; i < 12; ++i) {
      if (mask & (1u << i)) roles.push_back("r" + std::to_string(i));
    }
    last = c.intern(roles);
    made += last.has_value();
  }
  EXPECT_EQ(made, access::max_role_sets);
  EXPECT_EQ(last.error(), access::errc::too_many_role_sets);
}

// check() is the per-sample path. It allocates nothing by design: it is noexcept, reads the
// role set's tries with key_index::for_each_match (which does not allocate) through lambdas
// that capture by reference, and returns a plain struct. The fuzz target policy_file_fuzz
// counts operator new around every check() and aborts on any allocation.
TEST(Access, CheckAllocatesNothingByDesign) {
  static_assert(noexcept(std::declval<access::checker&>().check(
      access::roles_handle{}, operation::put, std::declval<const keyexpr::key&>())));
  static_assert(std::is_trivially_copyable_v<decision>);
  auto c = access::checker::compile(sample_policy()).value();
  const auto h = c.intern(std::vector<std::string>{"sensor"}).value();
  const auto k = keyexpr::key::parse("home/k/temp").value();
  std::size_t allowed = 0;
  for (int i = 0; i < 1000; ++i)
    allowed += c.check(h, operation::put, k).allowed;
  EXPECT_EQ(allowed, 1000u);
}

// Random policies over a small alphabet: the compiled checker decides as the reference does.
TEST(Access, CompiledMatchesReferenceOnRandomPolicies) {
  std::mt19937 rng(14);
  const std::vector<std::string> chunks{"a", "b", "*", "**"};
  const std::vector<std::string> role_names{"r0", "r1", "r2", "*"};
  auto random_expr = [&](bool key) {
    std::string s;
    const int n = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < n; ++i) {
      if (i) s += '/';
      s += chunks[rng() % (key ? 2 : chunks.size())];
    }
    return expr(s);
  };
  for (int round = 0; round < 200; ++round) {
    access::policy p;
    const int rules = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < rules; ++i) {
      access::rule r;
      r.effect = rng() % 3 == 0 ? deny : allow;
      r.roles = {role_names[rng() % role_names.size()]};
      for (std::size_t o = 0; o < access::operation_count; ++o) {
        if (rng() % 3 == 0) r.ops = r.ops.with(static_cast<operation>(o));
      }
      if (r.ops.empty()) r.ops = r.ops.with(operation::subscribe);
      r.keys = {random_expr(false)};
      if (rng() % 2) r.keys.push_back(random_expr(false));
      p.rules.push_back(std::move(r));
    }
    auto c = access::checker::compile(p).value();
    for (int q = 0; q < 40; ++q) {
      std::vector<std::string> roles;
      for (int i = 0; i < 3; ++i) {
        if (rng() % 2) roles.push_back("r" + std::to_string(i));
      }
      const auto op = static_cast<operation>(rng() % access::operation_count);
      const auto x = random_expr(rng() % 2 == 0);
      const auto want = access::evaluate(p, roles, op, x);
      const auto h = c.intern(roles).value();
      ASSERT_EQ(c.check_expression(h, op, x), want) << x.str();
      if (x.is_key()) {
        ASSERT_EQ(c.check(h, op, keyexpr::key::parse(x.str()).value()), want) << x.str();
      }
    }
  }
}

// --- access_rules: every message of the data layer maps to its rights.

std::vector<data::requirement> requirements(const data::message& m, data::direction d) {
  std::vector<data::requirement> out;
  const std::size_t n =
      data::for_each_requirement(m, d, [&](const data::requirement& r) { out.push_back(r); });
  EXPECT_EQ(n, out.size());
  return out;
}

constexpr auto in = data::direction::ingress;
constexpr auto out = data::direction::egress;

TEST(AccessDataOps, MessagesWithoutDataNeedNothing) {
  const std::vector<data::message> none{data::hello{}, data::node_alias{}, data::key_alias{},
                                        data::reply_final{}, data::unknown{0x7f, 3}};
  for (const auto& m : none) {
    EXPECT_TRUE(requirements(m, in).empty()) << m.index();
    EXPECT_TRUE(requirements(m, out).empty()) << m.index();
  }
}

TEST(AccessDataOps, SamplesArePublisherRightsInAndSubscriberRightsOut) {
  data::push p;
  p.source = 4;
  p.key = 9;
  auto r = requirements(p, in);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].op, operation::put);
  EXPECT_EQ(r[0].who, data::subject::node);
  EXPECT_EQ(r[0].node, 4u);
  EXPECT_EQ(r[0].what, data::target::key_alias);
  EXPECT_EQ(r[0].alias, 9u);
  EXPECT_EQ(r[0].if_denied, data::on_deny::drop_message);
  EXPECT_FALSE(r[0].relayed_only);
  // A relay must itself be allowed to read what it carries.
  EXPECT_EQ(r[1].op, operation::subscribe);
  EXPECT_EQ(r[1].who, data::subject::link_peer);
  EXPECT_EQ(r[1].node, 4u);
  EXPECT_EQ(r[1].what, data::target::key_alias);
  EXPECT_EQ(r[1].alias, 9u);
  EXPECT_TRUE(r[1].relayed_only);
  p.flags = data::push_flags::del;
  EXPECT_EQ(requirements(p, in).at(0).op, operation::del);
  r = requirements(p, out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].op, operation::subscribe);
  EXPECT_EQ(r[0].who, data::subject::link_peer);
  EXPECT_EQ(r[0].alias, 9u);

  data::repair rep;
  rep.sample = p;
  EXPECT_EQ(requirements(rep, in).at(0).op, operation::del);
  EXPECT_EQ(requirements(rep, in).at(0).node, 4u);
  EXPECT_EQ(requirements(rep, out).at(0).op, operation::subscribe);

  const std::vector<data::message> tied{data::heartbeat{4, 1, 9, 5},
                                        data::publisher_end{4, 1, 9, 5}};
  for (const auto& m : tied) {
    const auto i = requirements(m, in);
    ASSERT_EQ(i.size(), 2u);
    EXPECT_TRUE(i[1].relayed_only);
    EXPECT_EQ(i[0].op, operation::put);
    EXPECT_EQ(i[0].node, 4u);
    EXPECT_EQ(i[0].alias, 9u);
    const auto o = requirements(m, out);
    ASSERT_EQ(o.size(), 1u);
    EXPECT_EQ(o[0].op, operation::subscribe);
    EXPECT_EQ(o[0].who, data::subject::link_peer);
  }

  data::nack n;
  n.dest = 4;
  n.requester = 6;
  n.publisher = 2;
  r = requirements(n, in);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].op, operation::subscribe);
  EXPECT_EQ(r[0].node, 6u);
  EXPECT_EQ(r[0].what, data::target::publisher_key);
  EXPECT_EQ(r[0].source, 4u);
  EXPECT_EQ(r[0].alias, 2u);
  EXPECT_TRUE(requirements(n, out).empty());
}

TEST(AccessDataOps, QueriesAndReplies) {
  data::query q;
  q.origin = 3;
  q.selector = "home/**";
  auto r = requirements(q, in);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].op, operation::query);
  EXPECT_EQ(r[0].node, 3u);
  EXPECT_EQ(r[0].what, data::target::expression);
  EXPECT_EQ(r[0].text, "home/**");
  EXPECT_EQ(r[1].who, data::subject::link_peer) << "a relay carries only queries it may make";
  EXPECT_TRUE(r[1].relayed_only);
  r = requirements(q, out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].op, operation::query);
  EXPECT_EQ(r[0].who, data::subject::link_peer);

  data::reply rp;
  rp.from = 8;
  rp.key = "home/k/temp";
  r = requirements(rp, in);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].op, operation::reply);
  EXPECT_EQ(r[0].node, 8u);
  EXPECT_EQ(r[0].what, data::target::key);
  EXPECT_EQ(r[0].text, "home/k/temp");
  EXPECT_EQ(r[1].op, operation::query) << "a relay carries replies it may receive";
  EXPECT_EQ(r[1].who, data::subject::link_peer);
  EXPECT_EQ(r[1].text, "home/k/temp");
  EXPECT_TRUE(r[1].relayed_only);
  r = requirements(rp, out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].op, operation::query) << "the per-sample filter of the querier";
  EXPECT_EQ(r[0].who, data::subject::link_peer);
}

TEST(AccessDataOps, RecordDeclarations) {
  data::record_message rec;
  rec.origin = 5;
  rec.links = {1, 2};
  rec.decls = {{1, 0, "home/**"}, {2, 1, "db/**"}, {3, 0, "alive/x"}, {9, 0, "odd"}};
  // The requirements' texts view the message's strings: keep the message alive while they are
  // read (a temporary data::message made from `rec` would leave them dangling).
  const data::message msg = rec;
  auto r = requirements(msg, in);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].op, operation::subscribe);
  EXPECT_EQ(r[1].op, operation::declare_queryable);
  EXPECT_EQ(r[2].op, operation::liveliness_token);
  EXPECT_EQ(r[3].what, data::target::unknown_kind);
  for (std::size_t i = 0; i < r.size(); ++i) {
    EXPECT_EQ(r[i].who, data::subject::node);
    EXPECT_EQ(r[i].node, 5u);
    EXPECT_EQ(r[i].decl, i);
    EXPECT_EQ(r[i].if_denied, data::on_deny::drop_declaration);
    EXPECT_EQ(r[i].text, rec.decls[i].expr);
  }
  EXPECT_EQ(r[0].what, data::target::expression);
  // Egress: only the liveliness tokens, against the receiver's right to watch them.
  r = requirements(msg, out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].op, operation::liveliness_watch);
  EXPECT_EQ(r[0].who, data::subject::link_peer);
  EXPECT_EQ(r[0].decl, 2u);
  EXPECT_EQ(r[0].text, "alive/x");
  EXPECT_EQ(r[0].if_denied, data::on_deny::drop_declaration);
}

}  // namespace
