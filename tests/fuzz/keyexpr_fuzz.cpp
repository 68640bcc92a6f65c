// Fuzz target: key expression parsing, canonical form, relations and the key index.
// The input is one text, or two separated by '\n' (a byte no key expression may hold).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/keyexpr/key_index.hpp"
#include "core/keyexpr/keyexpr.hpp"

namespace kx = starling::keyexpr;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// A key that `e` matches: each `*` and `**` replaced by one chunk "w".
std::string instance(const kx::keyexpr& e) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = e.str().find('/', start);
    const std::string_view chunk = std::string_view(e.str()).substr(start, slash - start);
    if (!out.empty()) out += '/';
    out += chunk.front() == '*' ? std::string_view("w") : chunk;
    if (slash == std::string::npos) return out;
    start = slash + 1;
  }
}

std::size_t chunk_count(const kx::keyexpr& e) {
  std::size_t n = 1;
  for (char c : e.str())
    n += c == '/';
  return n;
}

// Checks one text on its own; returns the expression when it is valid.
kx::parse_result<kx::keyexpr> single(std::string_view text) {
  auto r = kx::keyexpr::parse(text);
  if (!r) {
    check(!kx::validate(text));
    check(r.error().offset <= text.size() && r.error().offset <= kx::max_size);
    check(!r.error().message().empty());
    return r;
  }
  check(kx::validate(text).has_value());
  const auto canon = kx::canonize(text);
  check(canon && *canon == r->str());
  const auto again = kx::canonize(r->str());
  check(again && *again == r->str());
  check(kx::keyexpr::parse(r->str()).value() == *r);
  check(kx::includes(*r, *r));
  check(kx::intersects(*r, *r));
  const auto k = kx::key::parse(instance(*r));
  check(k.has_value());
  check(kx::matches(*r, *k));
  check(kx::key::parse(text).has_value() == r->is_key());

  kx::key_index index;
  check(index.insert(*r, 7));
  int hits = 0;
  index.for_each_match(*k, [&](kx::key_index::id v) { hits += v == 7 ? 1 : 100; });
  check(hits == 1);
  hits = 0;
  index.for_each_intersecting(*r, [&](kx::key_index::id v) { hits += v == 7 ? 1 : 100; });
  check(hits == 1);
  check(index.erase(*r, 7));
  check(index.node_count() == 0);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = in.find('\n');
  const auto x = single(in.substr(0, nl));
  if (nl == std::string_view::npos) return 0;
  const auto y = single(in.substr(nl + 1));
  if (!x || !y) return 0;
  const bool meet = kx::intersects(*x, *y);
  check(meet == kx::intersects(*y, *x));
  kx::key_index index;
  index.insert(*x, 1);
  bool found = false;
  index.for_each_intersecting(*y, [&](kx::key_index::id) { found = true; });
  check(found == meet);
  // includes() can be exponential on crafted pairs of long expressions (see keyexpr.hpp).
  if (chunk_count(*x) <= 16 && chunk_count(*y) <= 16) {
    const bool xy = kx::includes(*x, *y), yx = kx::includes(*y, *x);
    if (xy || yx) check(meet);
    if (xy && yx) check(*x == *y);
  }
  return 0;
}
