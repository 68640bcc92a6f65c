// The storage core: last N per key ordered by (timestamp, source), deletes with tombstones,
// the key and byte bounds, queries by key expression. A table of steps drives most cases.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "core/data/store.hpp"

using namespace starling;
using namespace starling::data;

namespace {

keyexpr::key K(std::string_view text) {
  return keyexpr::key::parse(text).value();
}

stored_sample S(std::uint64_t ts, std::string_view value, std::string source = "n1") {
  stored_sample s;
  s.timestamp = ts;
  s.source = std::move(source);
  s.payload.assign(value.begin(), value.end());
  return s;
}

/// One step: put (or delete) `value` on `key` at `ts` from `source`, expecting `outcome`.
struct step {
  const char* key;
  std::uint64_t ts;
  const char* value;  ///< nullptr: a delete
  store_outcome outcome;
  const char* source = "n1";
};

struct table_case {
  const char* name;
  std::size_t keep;
  std::vector<step> steps;
  const char* selector;
  std::size_t last;
  /// The query's answer, "key=value" in order.
  std::vector<std::string> expect;
};

std::vector<std::string> answer(const store& st, std::string_view selector, std::size_t last) {
  std::vector<std::string> out;
  st.query(keyexpr::keyexpr::parse(selector).value(), last,
           [&](const std::string& k, const stored_sample& s) {
             out.push_back(k + "=" + std::string(as_chars(s.payload)));
           });
  return out;
}

constexpr auto ok = store_outcome::stored;
constexpr auto stale = store_outcome::stale;
constexpr auto twice = store_outcome::duplicate;

}  // namespace

TEST(DataStore, TableOfCases) {
  const std::vector<table_case> cases = {
      {"latest wins", 1, {{"a/x", 10, "1", ok}, {"a/x", 20, "2", ok}}, "a/**", 0, {"a/x=2"}},
      {"a late older put does not replace a newer one",
       1,
       {{"a/x", 20, "new", ok}, {"a/x", 10, "old", stale}},
       "a/x",
       0,
       {"a/x=new"}},
      {"same stamp and source is a duplicate",
       2,
       {{"a/x", 10, "1", ok}, {"a/x", 10, "1", twice}},
       "a/x",
       0,
       {"a/x=1"}},
      {"same stamp from another source is another sample",
       2,
       {{"a/x", 10, "1", ok, "n1"}, {"a/x", 10, "2", ok, "n2"}},
       "a/x",
       0,
       {"a/x=1", "a/x=2"}},
      {"keep 3 holds the newest three, oldest first",
       3,
       {{"a/x", 1, "1", ok},
        {"a/x", 2, "2", ok},
        {"a/x", 4, "4", ok},
        {"a/x", 3, "3", ok},
        {"a/x", 5, "5", ok}},
       "a/x",
       0,
       {"a/x=3", "a/x=4", "a/x=5"}},
      {"an older sample fills the history while there is room",
       3,
       {{"a/x", 5, "5", ok}, {"a/x", 1, "1", ok}},
       "a/x",
       0,
       {"a/x=1", "a/x=5"}},
      {"last=1 answers only the newest per key",
       3,
       {{"a/x", 1, "1", ok}, {"a/x", 2, "2", ok}, {"a/y", 3, "3", ok}},
       "a/*",
       1,
       {"a/x=2", "a/y=3"}},
      {"a delete removes the values",
       2,
       {{"a/x", 1, "1", ok}, {"a/x", 2, "2", ok}, {"a/x", 3, nullptr, ok}},
       "a/**",
       0,
       {}},
      {"a put older than the tombstone does not resurrect the key",
       1,
       {{"a/x", 5, "5", ok}, {"a/x", 10, nullptr, ok}, {"a/x", 7, "7", stale}},
       "a/x",
       0,
       {}},
      {"a put newer than the tombstone brings it back",
       1,
       {{"a/x", 10, nullptr, ok}, {"a/x", 11, "11", ok}},
       "a/x",
       0,
       {"a/x=11"}},
      {"a delete that arrives late keeps the newer put",
       2,
       {{"a/x", 5, "5", ok}, {"a/x", 9, "9", ok}, {"a/x", 7, nullptr, ok}},
       "a/x",
       0,
       {"a/x=9"}},
      {"a delete older than the tombstone is stale",
       1,
       {{"a/x", 10, nullptr, ok}, {"a/x", 5, nullptr, stale}},
       "a/x",
       0,
       {}},
      {"selectors match by key expression",
       1,
       {{"home/kitchen/temp", 1, "k", ok},
        {"home/hall/temp", 2, "h", ok},
        {"home/hall/light", 3, "l", ok},
        {"office/temp", 4, "o", ok}},
       "home/*/temp",
       0,
       {"home/hall/temp=h", "home/kitchen/temp=k"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    store st(store_limits{c.keep, 100, 1 << 20});
    for (const auto& s : c.steps) {
      const bool del = s.value == nullptr;
      EXPECT_EQ(st.insert(K(s.key), S(s.ts, del ? "" : s.value, s.source), del), s.outcome)
          << s.key << " at " << s.ts;
    }
    EXPECT_EQ(answer(st, c.selector, c.last), c.expect);
  }
}

TEST(DataStore, KeyLimitEvictsTheKeyWrittenLeastRecently) {
  store st(store_limits{1, 3, 1 << 20});
  EXPECT_EQ(st.insert(K("k/1"), S(1, "a")), store_outcome::stored);
  EXPECT_EQ(st.insert(K("k/2"), S(2, "b")), store_outcome::stored);
  EXPECT_EQ(st.insert(K("k/3"), S(3, "c")), store_outcome::stored);
  // k/1 is written again: k/2 is now the least recently written.
  EXPECT_EQ(st.insert(K("k/1"), S(4, "a2")), store_outcome::stored);
  EXPECT_EQ(st.insert(K("k/4"), S(5, "d")), store_outcome::stored);
  EXPECT_EQ(st.keys(), 3u);
  EXPECT_EQ(st.stats().evicted_keys, 1u);
  EXPECT_EQ(answer(st, "k/*", 0), (std::vector<std::string>{"k/1=a2", "k/3=c", "k/4=d"}));
  // Tombstones count as keys.
  EXPECT_EQ(st.insert(K("k/5"), S(6, ""), true), store_outcome::stored);
  EXPECT_EQ(st.keys(), 3u);
  EXPECT_EQ(st.find("k/3"), nullptr);
}

TEST(DataStore, ByteLimitRefusesTheOversizedAndEvictsTheOldest) {
  // Each sample costs key (3) + source (2) + payload.
  store st(store_limits{4, 100, 40});
  EXPECT_EQ(st.insert(K("k/1"), S(1, std::string(36, 'x'))), store_outcome::refused);
  EXPECT_EQ(st.stats().refused, 1u);
  EXPECT_EQ(st.insert(K("k/1"), S(1, std::string(10, 'a'))), store_outcome::stored);  // 15
  EXPECT_EQ(st.insert(K("k/2"), S(2, std::string(10, 'b'))), store_outcome::stored);  // 30
  EXPECT_EQ(st.bytes_used(), 30u);
  EXPECT_EQ(st.insert(K("k/3"), S(3, std::string(10, 'c'))), store_outcome::stored);  // 45 > 40
  EXPECT_EQ(st.find("k/1"), nullptr);
  EXPECT_EQ(st.bytes_used(), 30u);
  EXPECT_EQ(st.stats().evicted_keys, 1u);
  // One key over the cap on its own loses its oldest samples, never its newest.
  store one(store_limits{4, 100, 40});
  for (std::uint64_t t = 1; t <= 4; ++t)
    EXPECT_EQ(one.insert(K("k/1"), S(t, std::string(10, 'a'))), store_outcome::stored);
  EXPECT_EQ(one.find("k/1")->samples.size(), 2u);
  EXPECT_EQ(one.find("k/1")->samples.back().timestamp, 4u);
  EXPECT_LE(one.bytes_used(), 40u);
}

TEST(DataStore, TombstonesAreCollectedAfterTheHorizon) {
  store st(store_limits{1, 100, 1 << 20});
  st.insert(K("a/x"), S(10, "v"));
  st.insert(K("a/x"), S(20, ""), true);
  st.insert(K("a/y"), S(30, ""), true);
  st.insert(K("a/y"), S(40, "back"));  // a newer put: the key keeps its value
  EXPECT_EQ(st.collect_tombstones(25), 1u);
  EXPECT_EQ(st.find("a/x"), nullptr);
  ASSERT_NE(st.find("a/y"), nullptr);
  EXPECT_EQ(st.find("a/y")->tombstone, 30u);
  EXPECT_EQ(st.collect_tombstones(35), 1u);
  EXPECT_EQ(st.find("a/y")->tombstone, 0u);
  EXPECT_EQ(answer(st, "a/*", 0), (std::vector<std::string>{"a/y=back"}));
  EXPECT_EQ(st.stats().tombstones_collected, 2u);
}

TEST(DataStore, DirtyKeysNameEveryChange) {
  store st(store_limits{1, 2, 1 << 20});
  st.insert(K("a"), S(1, "1"));
  st.insert(K("b"), S(2, "2"));
  EXPECT_EQ(st.take_dirty(), (std::set<std::string>{"a", "b"}));
  EXPECT_TRUE(st.take_dirty().empty());
  st.insert(K("a"), S(0, "old"));  // stale: nothing changed
  EXPECT_TRUE(st.take_dirty().empty());
  st.insert(K("c"), S(3, "3"));  // evicts "a", the least recently written
  EXPECT_EQ(st.take_dirty(), (std::set<std::string>{"a", "c"}));
}

TEST(DataStore, LimitsAreClamped) {
  store st(store_limits{0, 0, 0});
  EXPECT_EQ(st.limits().keep, 1u);
  EXPECT_EQ(st.limits().max_keys, 1u);
  store big(store_limits{100000, 1, 1});
  EXPECT_EQ(big.limits().keep, max_keep);
}
