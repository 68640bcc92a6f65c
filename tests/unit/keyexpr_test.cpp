#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/keyexpr/key_index.hpp"
#include "core/keyexpr/keyexpr.hpp"

using namespace starling;
using keyexpr::errc;

namespace {

keyexpr::keyexpr expr(std::string_view text) {
  auto r = keyexpr::keyexpr::parse(text);
  EXPECT_TRUE(r) << text << ": " << r.error().message();
  return *r;
}
keyexpr::key key_of(std::string_view text) {
  auto r = keyexpr::key::parse(text);
  EXPECT_TRUE(r) << text << ": " << r.error().message();
  return *r;
}

// --- Reference implementations, written independently of the library: plain recursion over
// chunk lists, exponential but obviously right for the short patterns used here.

using chunk_list = std::vector<std::string>;

chunk_list split(std::string_view s) {
  chunk_list out;
  std::size_t start = 0;
  for (;;) {
    const auto slash = s.find('/', start);
    out.emplace_back(s.substr(start, slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

// Does pattern p[i..] match the concrete chunks k[j..]?
bool ref_match(const chunk_list& p, std::size_t i, const chunk_list& k, std::size_t j) {
  if (i == p.size()) return j == k.size();
  if (p[i] == "**") {
    for (std::size_t t = j; t <= k.size(); ++t) {
      if (ref_match(p, i + 1, k, t)) return true;
    }
    return false;
  }
  if (j == k.size()) return false;
  return (p[i] == "*" || p[i] == k[j]) && ref_match(p, i + 1, k, j + 1);
}
bool ref_match(std::string_view pattern, std::string_view k) {
  return ref_match(split(pattern), 0, split(k), 0);
}

// Do p[i..] and q[j..] match a common chunk sequence? A `**` either takes nothing or swallows
// the other side's next item whole (a chunk, or all that the other `**` stands for).
bool ref_intersects(const chunk_list& p, std::size_t i, const chunk_list& q, std::size_t j) {
  const bool pe = i == p.size(), qe = j == q.size();
  if (pe && qe) return true;
  if (!pe && p[i] == "**") {
    if (ref_intersects(p, i + 1, q, j) || (!qe && ref_intersects(p, i, q, j + 1))) return true;
  }
  if (!qe && q[j] == "**") {
    if (ref_intersects(p, i, q, j + 1) || (!pe && ref_intersects(p, i + 1, q, j))) return true;
  }
  if (pe || qe || p[i] == "**" || q[j] == "**") return false;
  const bool lit_p = p[i] != "*", lit_q = q[j] != "*";
  if (lit_p && lit_q && p[i] != q[j]) return false;
  return ref_intersects(p, i + 1, q, j + 1);
}
bool ref_intersects(std::string_view p, std::string_view q) {
  return ref_intersects(split(p), 0, split(q), 0);
}

// Every concrete key over `alphabet` with 1..max_len chunks.
std::vector<std::string> all_keys(const std::vector<std::string>& alphabet, std::size_t max_len) {
  std::vector<std::string> out, layer{""};
  for (std::size_t len = 1; len <= max_len; ++len) {
    std::vector<std::string> grown;
    for (const auto& prefix : layer) {
      for (const auto& c : alphabet)
        grown.push_back(prefix.empty() ? c : prefix + "/" + c);
    }
    out.insert(out.end(), grown.begin(), grown.end());
    layer = std::move(grown);
  }
  return out;
}

// Exact inclusion for patterns whose `*` runs between `**` are shorter than `run`: b's keys
// with each `*` replaced by a chunk "z" that no pattern names, and each `**` by 0..run such
// chunks. Why this is exact: (1) a literal of `a` never matches "z", so if `a` matches the
// key with "z" it matches the key with any chunk in its place; (2) in a key that `a` matches,
// a run of "z" longer than every stretch of `a` between two `**` must meet a `**` of `a`,
// which takes any longer run too, so runs beyond `run` add nothing new.
bool ref_includes(std::string_view a, std::string_view b, std::size_t run) {
  const chunk_list pa = split(a), pb = split(b);
  std::vector<std::size_t> stars;  // where b has `**`
  for (std::size_t i = 0; i < pb.size(); ++i) {
    if (pb[i] == "**") stars.push_back(i);
  }
  std::vector<std::size_t> lengths(stars.size(), 0);
  for (;;) {
    chunk_list word;
    std::size_t s = 0;
    for (const auto& c : pb) {
      if (c == "**") {
        word.insert(word.end(), lengths[s++], "z");
      } else {
        word.push_back(c == "*" ? "z" : c);
      }
    }
    if (!word.empty() && !ref_match(pa, 0, word, 0)) return false;
    std::size_t d = 0;  // next tuple of run lengths, like an odometer
    while (d < lengths.size() && lengths[d] == run)
      lengths[d++] = 0;
    if (d == lengths.size()) return true;
    ++lengths[d];
  }
}

// Every text of 1..max_len chunks over {a, b, *, **}.
std::vector<std::string> all_patterns(std::size_t max_len) {
  return all_keys({"a", "b", "*", "**"}, max_len);
}

std::string random_pattern(std::mt19937& rng) {
  static const char* const alphabet[] = {"a", "b", "*", "**"};
  std::uniform_int_distribution<std::size_t> len(1, 5), pick(0, 3);
  std::string out;
  for (std::size_t n = len(rng); n > 0; --n) {
    if (!out.empty()) out += '/';
    out += alphabet[pick(rng)];
  }
  return out;
}

}  // namespace

// --- Validation ---

struct validation_case {
  std::string text;
  errc code;  // errc{} for a valid text
  std::size_t offset;
  std::string message;  // whole message, when not empty
};

TEST(Keyexpr, ValidationTable) {
  const std::string a1024(1024, 'a');
  std::string chunks64 = "c";
  for (int i = 1; i < 64; ++i)
    chunks64 += "/c";
  const std::vector<validation_case> cases = {
      {"home/kitchen/temp", {}, 0, ""},
      {"a", {}, 0, ""},
      {"*", {}, 0, ""},
      {"**", {}, 0, ""},
      {"a/**/b/*", {}, 0, ""},
      {"h\xc3\xa9llo w-orld_.~", {}, 0, ""},  // UTF-8 and space are plain bytes
      {a1024, {}, 0, ""},
      {chunks64, {}, 0, ""},
      {"", errc::empty, 0, ": empty key expression at byte 0"},
      {"home//temp", errc::empty_chunk, 5, "home//temp: empty chunk at byte 5"},
      {"/home", errc::empty_chunk, 0, "/home: empty chunk at byte 0"},
      {"home/", errc::empty_chunk, 5, "home/: empty chunk at byte 5"},
      {"/", errc::empty_chunk, 0, ""},
      {"te*p", errc::wildcard_in_chunk, 2,
       "te*p: '*' inside a chunk (only whole-chunk * and ** are wildcards) at byte 2"},
      {"a/***", errc::wildcard_in_chunk, 2, ""},
      {"a/*b", errc::wildcard_in_chunk, 2, ""},
      {"a/b*", errc::wildcard_in_chunk, 3, ""},
      {"**x/y", errc::wildcard_in_chunk, 0, ""},
      {"a?b", errc::reserved_character, 1, "a?b: reserved character at byte 1"},
      {"a/#", errc::reserved_character, 2, ""},
      {"$*", errc::reserved_character, 0, ""},
      {std::string("a\0b", 3), errc::control_character, 1, "a\\x00b: control character at byte 1"},
      {"a\x1f", errc::control_character, 1, ""},
      {"a\x7f", errc::control_character, 1, ""},
      {"a/b\nc", errc::control_character, 3, ""},
      // The first problem in byte order wins: the chunk "*\x01" is wrong from its '*' on.
      {"*\x01", errc::wildcard_in_chunk, 0, ""},
      {"a//b?", errc::empty_chunk, 2, ""},
      {a1024 + "a", errc::too_long, 1024, ""},
      {chunks64 + "/c", errc::too_many_chunks, 128, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const auto r = keyexpr::validate(c.text);
    if (c.code == errc{}) {
      EXPECT_TRUE(r) << r.error().message();
      EXPECT_TRUE(keyexpr::keyexpr::parse(c.text));
      continue;
    }
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, c.code);
    EXPECT_EQ(r.error().offset, c.offset);
    if (!c.message.empty()) {
      EXPECT_EQ(r.error().message(), c.message);
    }
    // parse and canonize report the same error.
    const auto p = keyexpr::keyexpr::parse(c.text);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, c.code);
    EXPECT_EQ(p.error().offset, c.offset);
    const auto k = keyexpr::canonize(c.text);
    ASSERT_FALSE(k);
    EXPECT_EQ(k.error().offset, c.offset);
  }
}

TEST(Keyexpr, ErrorChannels) {
  const auto r = keyexpr::keyexpr::parse(std::string(300, 'x') + "//");
  ASSERT_FALSE(r);
  // The excerpt is cut, the offset still counts in the original text.
  EXPECT_EQ(r.error().message(), std::string(100, 'x') + "...: empty chunk at byte 301");
  // Passing the error on as a std::error_code keeps the code.
  const std::error_code ec = r.error();
  EXPECT_EQ(ec, errc::empty_chunk);
  EXPECT_EQ(ec.category().name(), std::string("keyexpr"));
  EXPECT_EQ(ec.message(), "empty chunk");
}

TEST(Keyexpr, KeyParse) {
  const auto k = keyexpr::key::parse("home/kitchen/temp");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->str(), "home/kitchen/temp");
  EXPECT_TRUE(k->expr().is_key());
  const auto w = keyexpr::key::parse("home/*/temp");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, errc::wildcard_in_key);
  EXPECT_EQ(w.error().offset, 5u);
  EXPECT_EQ(w.error().message(), "home/*/temp: wildcard in a key at byte 5");
  const auto d = keyexpr::key::parse("a/b/**");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().offset, 4u);
  const auto bad = keyexpr::key::parse("a//b");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, errc::empty_chunk);
  EXPECT_FALSE(expr("a/*").is_key());
}

// --- Canonical form ---

TEST(Keyexpr, CanonicalTable) {
  const std::pair<std::string, std::string> cases[] = {
      {"a/b", "a/b"},           {"**/**", "**"},         {"a/**/*", "a/*/**"},
      {"**/*/a", "*/**/a"},     {"**/*", "**"},  // rule 1 gives */**, then rule 2
      {"a/**/*/b", "a/*/**/b"}, {"**/*/**/*", "*/*/**"}, {"a/**/**/b/**/*", "a/**/b/*/**"},
      {"*/*", "*/*"},           {"*/**/a", "*/**/a"},    {"a/*/**", "a/*/**"},
      {"*/**", "**"},        // rule 2: the whole expression
      {"**/*/**", "**"},     // rule 1 gives */**, then rule 2
      {"*/*/**", "*/*/**"},  // at least two chunks: not every key
  };
  for (const auto& [in, out] : cases) {
    SCOPED_TRACE(in);
    const auto c = keyexpr::canonize(in);
    ASSERT_TRUE(c);
    EXPECT_EQ(*c, out);
    EXPECT_EQ(expr(in).str(), out);
    EXPECT_EQ(expr(in), expr(out));
  }
}

TEST(Keyexpr, CanonizeIsIdempotentAndKeepsTheSet) {
  const auto keys = all_keys({"a", "b", "c"}, 6);
  for (const auto& p : all_patterns(4)) {
    SCOPED_TRACE(p);
    const auto once = keyexpr::canonize(p);
    ASSERT_TRUE(once);
    const auto twice = keyexpr::canonize(*once);
    ASSERT_TRUE(twice);
    EXPECT_EQ(*twice, *once);
    for (const auto& k : keys)
      ASSERT_EQ(ref_match(p, k), ref_match(*once, k)) << k;
  }
}

// --- Relations ---

struct relation_case {
  std::string a, b;
  bool a_includes_b, b_includes_a, intersect;
};

TEST(Keyexpr, RelationTable) {
  const relation_case cases[] = {
      {"a/**/b", "a/b", true, false, true},
      {"**", "a", true, false, true},
      {"**", "a/b/c", true, false, true},
      {"**", "*/**", true, true, true},
      {"a/**", "a", true, false, true},
      {"a/*/**", "a", false, false, false},  // needs two chunks
      {"**/a/**", "**/b/**", false, false, true},
      {"**/a/**", "a", true, false, true},
      {"*", "a", true, false, true},
      {"*", "a/b", false, false, false},
      {"a/*", "*/b", false, false, true},
      {"**/a", "a/**", false, false, true},
      {"**/x/**", "*/x", true, false, true},
      {"a/**/b/**/c", "a/b/c", true, false, true},
      {"a/**/b/**/c", "a/**/c", false, true, true},
      {"*/*/**", "**/a/*", true, false, true},
      {"**/b/**", "**/b", true, false, true},
      {"*/**/a", "**/a/*/a", true, false, true},
      // `**` on the left must choose per key where to stop: a/b is matched with `**` empty,
      // x/a/b with `**` = x, so neither choice alone covers the right side.
      {"**/a/*", "**/a/b", true, false, true},
      {"**/a/*/*", "**/a/**/b", false, false, true},
      {"a/b", "a/c", false, false, false},
      {"a/*/c", "a/b/*", false, false, true},
      {"a", "a/**", false, true, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.a + " vs " + c.b);
    const auto a = expr(c.a), b = expr(c.b);
    EXPECT_EQ(keyexpr::includes(a, b), c.a_includes_b);
    EXPECT_EQ(keyexpr::includes(b, a), c.b_includes_a);
    EXPECT_EQ(keyexpr::intersects(a, b), c.intersect);
    EXPECT_EQ(keyexpr::intersects(b, a), c.intersect);
    // The table itself, against the references.
    EXPECT_EQ(ref_includes(c.a, c.b, 8), c.a_includes_b);
    EXPECT_EQ(ref_includes(c.b, c.a, 8), c.b_includes_a);
    EXPECT_EQ(ref_intersects(c.a, c.b), c.intersect);
  }
}

TEST(Keyexpr, MatchesKeys) {
  EXPECT_TRUE(keyexpr::matches(expr("home/*/temp"), key_of("home/kitchen/temp")));
  EXPECT_FALSE(keyexpr::matches(expr("home/*/temp"), key_of("home/temp")));
  EXPECT_TRUE(keyexpr::matches(expr("home/**/temp"), key_of("home/temp")));
  EXPECT_TRUE(keyexpr::matches(expr("home/**"), key_of("home")));
  EXPECT_FALSE(keyexpr::matches(expr("home/**"), key_of("homes")));
  EXPECT_TRUE(keyexpr::matches(expr("**"), key_of("x")));
  EXPECT_FALSE(keyexpr::matches(expr("home/kitchen"), key_of("home/kitchen/temp")));
}

// Brute force over short keys is not an exact oracle for includes(), for two reasons, each
// shown by a pair of expressions of at most 5 chunks that every key of 1-6 chunks over {a, b}
// fails to tell apart:
// - the alphabet: a `*` of b may hold a chunk that a never names. `**/a/*/b/**` (an a, then
//   a b two chunks later) covers a/x/y/z/b for x, y, z in {a, b} (if y is b, a/x/b; if a,
//   a/z/b), but not a/c/c/c/b. Adding one chunk that no pattern names ("c") fixes this;
// - the length: `**/a/*/*` (a third from the end) does not include `*/a/a/a/**`, but the
//   shortest key that shows it, like x/a/a/a/y/y/y, has 7 chunks.
// ref_includes() above is exact instead (its comment says why); brute force stays sound in
// one direction: a key it finds proves non-inclusion.
TEST(Keyexpr, BruteForceOverShortKeysIsNotExact) {
  auto brute = [](std::string_view a, std::string_view b, const std::vector<std::string>& ks) {
    return std::all_of(ks.begin(), ks.end(),
                       [&](const std::string& k) { return !ref_match(b, k) || ref_match(a, k); });
  };
  const auto ab = all_keys({"a", "b"}, 6), abc = all_keys({"a", "b", "c"}, 6),
             abc7 = all_keys({"a", "b", "c"}, 7);
  EXPECT_TRUE(brute("**/a/*/b/**", "a/*/*/*/b", ab));
  EXPECT_FALSE(brute("**/a/*/b/**", "a/*/*/*/b", abc));
  EXPECT_FALSE(keyexpr::includes(expr("**/a/*/b/**"), expr("a/*/*/*/b")));
  EXPECT_FALSE(ref_includes("**/a/*/b/**", "a/*/*/*/b", 6));
  EXPECT_TRUE(brute("**/a/*/*", "*/a/a/a/**", abc));
  EXPECT_FALSE(brute("**/a/*/*", "*/a/a/a/**", abc7));
  EXPECT_FALSE(keyexpr::includes(expr("**/a/*/*"), expr("*/a/a/a/**")));
  EXPECT_FALSE(ref_includes("**/a/*/*", "*/a/a/a/**", 6));
}

// Random pairs over {a, b, *, **}, 1-5 chunks: includes against the exact reference (and
// against brute force over every key of 1-6 chunks over {a, b, c}, which can only prove
// non-inclusion); intersects against the reference; and the properties that tie them.
// (An exhaustive run over all 879 canonical expressions of 1-5 chunks, 772,641 pairs, found
// no difference between includes() and ref_includes(); it takes seconds, so it is not here.)
TEST(Keyexpr, RandomRelationsAgainstReferences) {
  std::mt19937 rng(20240611);
  const auto keys = all_keys({"a", "b", "c"}, 6);
  int included = 0, intersecting = 0, brute_agrees = 0;
  for (int n = 0; n < 3000; ++n) {
    const std::string ta = random_pattern(rng), tb = random_pattern(rng);
    SCOPED_TRACE(ta + " vs " + tb);
    const auto a = expr(ta), b = expr(tb);
    const bool inc = keyexpr::includes(a, b);
    const bool meet = keyexpr::intersects(a, b);
    ASSERT_EQ(inc, ref_includes(ta, tb, 6));
    const bool brute = std::all_of(keys.begin(), keys.end(), [&](const std::string& k) {
      return !ref_match(tb, k) || ref_match(ta, k);
    });
    if (inc) {
      ASSERT_TRUE(brute);
    }
    brute_agrees += inc == brute;
    ASSERT_EQ(meet, ref_intersects(ta, tb));
    ASSERT_EQ(meet, keyexpr::intersects(b, a));
    if (inc) {
      ASSERT_TRUE(meet);  // every expression matches some key
    }
    ASSERT_TRUE(keyexpr::includes(a, a));
    ASSERT_TRUE(keyexpr::intersects(a, a));
    included += inc;
    intersecting += meet;
  }
  // The sample is not degenerate: both answers occur often.
  EXPECT_GT(included, 300);
  EXPECT_LT(included, 2700);
  EXPECT_GT(intersecting, 300);
  EXPECT_LT(intersecting, 2700);
  EXPECT_GT(brute_agrees, 2900);  // the brute force misses only a few long witnesses
}

// Canonical strings are unique: two canonical expressions that include each other (match the
// same keys) are the same string. Checked on every expression of 1-4 chunks over {a, b, *, **}.
TEST(Keyexpr, EqualSetsHaveEqualStrings) {
  std::set<std::string> canon;
  for (const auto& p : all_patterns(4))
    canon.insert(expr(p).str());
  std::vector<keyexpr::keyexpr> exprs;
  for (const auto& c : canon)
    exprs.push_back(expr(c));
  for (const auto& x : exprs) {
    for (const auto& y : exprs) {
      if (&x == &y) continue;
      ASSERT_FALSE(keyexpr::includes(x, y) && keyexpr::includes(y, x))
          << x.str() << " = " << y.str();
    }
  }
}

TEST(Keyexpr, IncludesIsTransitive) {
  std::mt19937 rng(7);
  for (int n = 0; n < 3000; ++n) {
    const auto a = expr(random_pattern(rng)), b = expr(random_pattern(rng)),
               c = expr(random_pattern(rng));
    if (keyexpr::includes(a, b) && keyexpr::includes(b, c)) {
      ASSERT_TRUE(keyexpr::includes(a, c)) << a.str() << " " << b.str() << " " << c.str();
    }
  }
}

// --- key_index ---

namespace {
std::multiset<keyexpr::key_index::id> matches_of(keyexpr::key_index& index, std::string_view k) {
  std::multiset<keyexpr::key_index::id> out;
  index.for_each_match(key_of(k), [&](keyexpr::key_index::id v) { out.insert(v); });
  return out;
}
std::multiset<keyexpr::key_index::id> intersecting_of(keyexpr::key_index& index,
                                                      std::string_view e) {
  std::multiset<keyexpr::key_index::id> out;
  index.for_each_intersecting(expr(e), [&](keyexpr::key_index::id v) { out.insert(v); });
  return out;
}
using ids = std::multiset<keyexpr::key_index::id>;
}  // namespace

TEST(KeyexprIndex, InsertMatchErase) {
  keyexpr::key_index index;
  EXPECT_TRUE(index.empty());
  EXPECT_TRUE(index.insert(expr("home/*/temp"), 1));
  EXPECT_TRUE(index.insert(expr("home/**"), 2));
  EXPECT_TRUE(index.insert(expr("**/temp"), 3));
  EXPECT_TRUE(index.insert(expr("home/kitchen/temp"), 4));
  EXPECT_TRUE(index.insert(expr("home/**"), 5));   // same expression, another id
  EXPECT_FALSE(index.insert(expr("home/**"), 2));  // same pair
  EXPECT_EQ(index.size(), 5u);
  EXPECT_EQ(matches_of(index, "home/kitchen/temp"), (ids{1, 2, 3, 4, 5}));
  EXPECT_EQ(matches_of(index, "home"), (ids{2, 5}));
  int calls = 0;
  const auto counter = [&calls](keyexpr::key_index::id) { ++calls; };  // a const callable
  index.for_each_match(key_of("home"), counter);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(matches_of(index, "garden/temp"), (ids{3}));
  EXPECT_EQ(matches_of(index, "garden"), ids{});
  EXPECT_EQ(intersecting_of(index, "*/kitchen/*"), (ids{1, 2, 3, 4, 5}));
  EXPECT_EQ(intersecting_of(index, "garden/**"), (ids{3}));
  EXPECT_EQ(intersecting_of(index, "*"), (ids{2, 3, 5}));
  EXPECT_FALSE(index.erase(expr("home/*/temp"), 2));
  EXPECT_FALSE(index.erase(expr("home/*"), 1));
  EXPECT_TRUE(index.erase(expr("home/**"), 2));
  EXPECT_EQ(matches_of(index, "home"), (ids{5}));
  for (auto [e, v] :
       {std::pair{"home/*/temp", 1}, {"home/**", 5}, {"**/temp", 3}, {"home/kitchen/temp", 4}}) {
    EXPECT_TRUE(index.erase(expr(e), v)) << e;
  }
  EXPECT_TRUE(index.empty());
  EXPECT_EQ(index.node_count(), 0u);
  EXPECT_EQ(matches_of(index, "home"), ids{});
}

// Each id is reported once even when its expression can match a key in several ways.
TEST(KeyexprIndex, NoDuplicateReports) {
  keyexpr::key_index index;
  index.insert(expr("**/a/**"), 1);
  index.insert(expr("**/a/**/a/**"), 2);
  EXPECT_EQ(matches_of(index, "a/a/a/a"), (ids{1, 2}));
  EXPECT_EQ(matches_of(index, "b/a/b"), (ids{1}));
  EXPECT_EQ(intersecting_of(index, "**/a/**"), (ids{1, 2}));
  EXPECT_EQ(intersecting_of(index, "**"), (ids{1, 2}));
  EXPECT_EQ(intersecting_of(index, "b/*"), (ids{1}));
  EXPECT_EQ(intersecting_of(index, "b/*/b"), (ids{1}));
  EXPECT_EQ(intersecting_of(index, "b/b"), (ids{}));
}

// The index against the reference matcher, on random sets of declarations, random keys and
// random selectors; then everything is erased in random order and no node is left.
TEST(KeyexprIndex, RandomAgainstReference) {
  std::mt19937 rng(99);
  const auto keys = all_keys({"a", "b", "c"}, 5);
  for (int round = 0; round < 40; ++round) {
    keyexpr::key_index index;
    std::vector<std::pair<std::string, keyexpr::key_index::id>> declared;
    std::uniform_int_distribution<int> count(1, 60);
    for (int n = count(rng); n > 0; --n) {
      const std::string p = random_pattern(rng);
      const keyexpr::key_index::id v = rng() % 20;
      const bool fresh = std::find(declared.begin(), declared.end(), std::pair{expr(p).str(), v}) ==
                         declared.end();
      ASSERT_EQ(index.insert(expr(p), v), fresh);
      if (fresh) declared.emplace_back(expr(p).str(), v);
    }
    ASSERT_EQ(index.size(), declared.size());
    for (const auto& k : keys) {
      ids want;
      for (const auto& [p, v] : declared) {
        if (ref_match(p, k)) want.insert(v);
      }
      ASSERT_EQ(matches_of(index, k), want) << k;
    }
    for (int n = 0; n < 100; ++n) {
      const std::string q = random_pattern(rng);
      ids want;
      for (const auto& [p, v] : declared) {
        if (ref_intersects(p, q)) want.insert(v);
      }
      ASSERT_EQ(intersecting_of(index, q), want) << q;
    }
    std::shuffle(declared.begin(), declared.end(), rng);
    for (const auto& [p, v] : declared) {
      ASSERT_TRUE(index.erase(expr(p), v));
      ASSERT_FALSE(index.erase(expr(p), v));
    }
    EXPECT_EQ(index.size(), 0u);
    EXPECT_EQ(index.node_count(), 0u);
  }
}
