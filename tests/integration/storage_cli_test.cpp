// Storages through the `starling` binary: `node --storage EXPR` keeps the latest value of each
// key, and a `sub --latest` started after the puts prints those values first (then live
// ones). Children on 127.0.0.1, port 0, temporary data directories; always killed and reaped.
#include <signal.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "child_process.hpp"

using namespace std::chrono_literals;
using starling::test::child;

namespace {

class storage_cli_test : public starling::test::cli_fixture {
 protected:
  storage_cli_test() : cli_fixture("starling-storage-cli-") {}
};

// A node with --storage 'home/**'; several puts (two keys, one of them three times); then a
// late `sub --latest -c 3` prints the latest value of each key (from the storage, in any
// order) and then a live sample.
TEST_F(storage_cli_test, late_sub_latest_prints_the_kept_values_first) {
  auto args = node_args("n");
  args.insert(args.end(), {"--storage", "home/**"});
  child n(args);
  auto [id, addr] = start_node(n);
  ASSERT_FALSE(addr.empty()) << n.err();
  ASSERT_TRUE(n.wait_stderr("storage 'home/**': keep 1 per key, memory")) << n.err();
  for (const auto& [k, v] :
       std::vector<std::pair<std::string, std::string>>{{"home/kitchen/temp", "20"},
                                                        {"home/hall/temp", "17"},
                                                        {"home/kitchen/temp", "21"},
                                                        {"office/temp", "30"},
                                                        {"home/kitchen/temp", "22"}}) {
    child p({"put", "--data-dir", dir("n"), k, v});
    ASSERT_EQ(p.wait(), 0) << p.err();
  }
  child s({"sub", "--data-dir", dir("n"), "home/**", "--latest", "-c", "3"});
  auto first = s.lines(2);
  ASSERT_EQ(first.size(), 2u) << s.err();
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<std::string>{"home/hall/temp 17", "home/kitchen/temp 22"}));
  // The two values were printed, so the subscription is in place: a live put follows them.
  child p({"put", "--data-dir", dir("n"), "home/hall/temp", "18"});
  ASSERT_EQ(p.wait(), 0) << p.err();
  ASSERT_EQ(s.wait(), 0) << s.err();
  const auto all = s.lines(3);
  ASSERT_EQ(all.size(), 3u) << s.out();
  EXPECT_EQ(all[2], "home/hall/temp 18");

  // Without a storage on the expression, --latest has nothing to print first.
  child quiet({"sub", "--data-dir", dir("n"), "office/**", "--latest", "-c", "1", "--json"});
  child p2({"put", "--data-dir", dir("n"), "office/temp", "31"});
  // The put may race the subscription; put again until the subscriber has its line.
  std::vector<std::string> got = quiet.lines(1, 2s);
  for (int i = 0; i < 10 && got.empty(); ++i) {
    child again({"put", "--data-dir", dir("n"), "office/temp", "31"});
    ASSERT_EQ(again.wait(), 0) << again.err();
    got = quiet.lines(1, 1s);
  }
  ASSERT_EQ(p2.wait(), 0) << p2.err();
  ASSERT_EQ(got.size(), 1u) << quiet.err();
  auto j = nlohmann::json::parse(got[0]);
  EXPECT_EQ(j["value"], "31");
  EXPECT_GT(j["seq"].get<std::uint64_t>(), 0u);  // live, not from a storage
  EXPECT_EQ(quiet.wait(), 0) << quiet.err();

  child bad({"node", "--data-dir", dir("bad"), "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns",
             "--storage", "home//temp"});
  EXPECT_EQ(bad.wait(), 1);
  EXPECT_NE(bad.err().find("home//temp: empty chunk at byte 5"), std::string::npos) << bad.err();
  n.kill(SIGTERM);
  EXPECT_EQ(n.wait(), 0) << n.err();
}

}  // namespace
