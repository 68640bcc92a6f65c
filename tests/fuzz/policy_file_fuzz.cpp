// Fuzz target: the access policy file (node/policy_file) and, when a file parses, the access
// checks on it: the compiled checker must decide as the reference evaluation does, and its
// per-key check() must not allocate (operator new is counted around each call).
//
// Fuzz targets link starling_core only; the policy file parser lives in the node layer but
// depends on nothing there besides toml++ (header-only), so it is compiled into this target.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

// Allocations are counted (bench/alloc_count.hpp replaces the global operator new) in the
// ordinary builds, which replay the corpus as a unit test. Under ASan (the fuzz preset) the
// sanitizer's own operator new stays, for its new/delete mismatch checks, and nothing is
// counted.
#if defined(__SANITIZE_ADDRESS__)
#define STARLING_COUNT_ALLOCATIONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STARLING_COUNT_ALLOCATIONS 0
#endif
#endif
#ifndef STARLING_COUNT_ALLOCATIONS
#define STARLING_COUNT_ALLOCATIONS 1
// Once GCC inlines the counting operators into library code here, it takes their malloc/free
// for a mismatch with new/delete. They do match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "../../bench/alloc_count.hpp"
#endif
#include "core/access/checker.hpp"
#include "node/policy_file.cpp"  // NOLINT(bugprone-suspicious-include): see the top

namespace acl = starling::access;
namespace kx = starling::keyexpr;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Heap allocations so far (0 when they are not counted).
std::uint64_t allocations() {
#if STARLING_COUNT_ALLOCATIONS
  return starling::bench::heap_allocations.load();
#else
  return 0;
#endif
}

std::size_t chunks(const kx::keyexpr& e) {
  std::size_t n = 1;
  for (char c : e.str())
    n += c == '/';
  return n;
}

// A key that `e` matches: its wildcard chunks become "x".
kx::key sample_key(const kx::keyexpr& e) {
  std::string out;
  std::string_view rest = e.str();
  while (true) {
    const std::size_t slash = rest.find('/');
    const std::string_view chunk = rest.substr(0, slash);
    out += chunk == "*" || chunk == "**" ? std::string_view("x") : chunk;
    if (slash == std::string_view::npos) break;
    out += '/';
    rest.remove_prefix(slash + 1);
  }
  return kx::key::parse(out).value();
}

// includes() is exact but exponential on crafted long pairs (keyexpr.hpp); the declaration
// checks run only when every expression involved is short.
bool short_enough(const acl::policy& p) {
  for (const auto& r : p.rules) {
    for (const auto& k : r.keys) {
      if (chunks(k) > 12) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = starling::node::parse_policy(text, "fuzz.toml");
  if (!doc) {
    check(doc.error().message.starts_with("fuzz.toml"));
    return 0;
  }
  check(allocations() > 0 || !STARLING_COUNT_ALLOCATIONS);  // parsing allocates
  const acl::policy& p = doc->policy;
  check(acl::validate(p).has_value());
  (void)acl::has_admin(p);
  auto compiled = acl::checker::compile(p);
  check(compiled.has_value());
  acl::checker& c = *compiled;

  // The questions: each rule's roles, on a key of each of its expressions and on the
  // expression itself, for each operation it names; a few of each, to stay fast.
  const bool declarations = short_enough(p);
  std::size_t asked = 0;
  for (std::size_t i = 0; i < p.rules.size() && asked < 32; ++i) {
    const auto& r = p.rules[i];
    std::vector<std::string> roles;
    if (r.roles.front() != acl::any_role) roles = r.roles;
    auto h = c.intern(roles);
    check(h.has_value());
    for (const auto& e : r.keys) {
      if (++asked > 32) break;
      const kx::key k = sample_key(e);
      for (std::size_t o = 0; o < acl::operation_count; ++o) {
        const auto op = static_cast<acl::operation>(o);
        const auto before = allocations();
        const acl::decision got = c.check(*h, op, k);
        check(allocations() == before);
        check(got == acl::evaluate(p, roles, op, k.expr()));
        if (i == 0 && o == 0) check(!acl::explain(p, roles, op, k.expr(), got).empty());
        if (declarations && chunks(e) <= 12) {
          check(c.check_expression(*h, op, e) == acl::evaluate(p, roles, op, e));
        }
      }
    }
  }
  if (declarations && doc->tests.size() <= 64) {
    const auto failures = starling::node::run_tests(p, doc->tests);
    check(failures.size() <= doc->tests.size());
  }
  return 0;
}
