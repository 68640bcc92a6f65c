// The `starling` binary as scripts use it: fork/exec, pipes, bounded waits; children are
// always killed and reaped. Every listener is on 127.0.0.1 with port 0 and a temporary
// data directory.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using starling::test::child;
using starling::test::line_count;

namespace {

class cli_test : public starling::test::cli_fixture {
 protected:
  cli_test() : cli_fixture("starling-cli-") {}
};

TEST_F(cli_test, node_prints_id_and_listen_address) {
  child n(node_args("a"));
  auto [id, addr] = start_node(n);
  EXPECT_EQ(id.rfind("12D3KooW", 0), 0u) << id;
  EXPECT_EQ(addr.rfind("/ip4/127.0.0.1/tcp/", 0), 0u) << addr;
  EXPECT_EQ(addr.find("/tcp/0/"), std::string::npos) << addr;  // the real port
  EXPECT_TRUE(addr.size() > id.size() && addr.substr(addr.size() - id.size() - 5) == "/p2p/" + id)
      << addr;
  // SIGTERM: a clean exit.
  // TODO(apps): run_node prints its addresses before it installs the SIGINT/SIGTERM
  // signal_set, so a signal sent right after the output kills it. Until that is fixed, make
  // sure the node is inside its event loop first (a ping is answered only from there).
  child p({"ping", addr, "-c", "1"});
  ASSERT_EQ(p.wait(), 0) << p.err();
  n.kill(SIGTERM);
  EXPECT_EQ(n.wait(), 0);
}

TEST_F(cli_test, id_is_stable_and_the_key_is_private) {
  child a({"id", "--data-dir", dir("id")});
  ASSERT_EQ(a.wait(), 0) << a.err();
  child b({"id", "--data-dir", dir("id")});
  ASSERT_EQ(b.wait(), 0) << b.err();
  EXPECT_EQ(a.out(), b.out());
  EXPECT_EQ(a.out().rfind("12D3KooW", 0), 0u);
  EXPECT_EQ(line_count(a.out()), 1u);
  struct stat st {};
  ASSERT_EQ(::stat((m_dir / "id" / "identity.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(cli_test, corrupt_key_is_one_line_error) {
  fs::create_directories(m_dir / "bad");
  fs::permissions(m_dir / "bad", fs::perms::owner_all, fs::perm_options::replace);
  {
    std::ofstream f(m_dir / "bad" / "identity.key", std::ios::binary);
    f << "this is not a key";
  }
  fs::permissions(m_dir / "bad" / "identity.key", fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);
  child c({"id", "--data-dir", dir("bad")});
  EXPECT_NE(c.wait(), 0);
  EXPECT_EQ(line_count(c.err()), 1u) << c.err();
  EXPECT_NE(c.err().find("identity.key"), std::string::npos) << c.err();
  EXPECT_TRUE(c.out().empty());
  // Never silently replaced.
  std::ifstream f(m_dir / "bad" / "identity.key");
  std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "this is not a key");
}

TEST_F(cli_test, ping_a_running_node) {
  child n(node_args("a"));
  auto [id, addr] = start_node(n);
  ASSERT_FALSE(addr.empty());
  child p({"ping", addr, "-c", "3", "-i", "0.05"});
  ASSERT_EQ(p.wait(), 0) << p.out() << p.err();
  for (const char* s : {"seq=1 ", "seq=2 ", "seq=3 ", "3 transmitted, 3 received, 0% loss",
                        "rtt min/avg/max/mdev"}) {
    EXPECT_NE(p.out().find(s), std::string::npos) << s << "\n" << p.out();
  }
  EXPECT_NE(p.out().find(id), std::string::npos);
}

TEST_F(cli_test, bad_multiaddr_is_one_line_error) {
  for (std::string bad : {"/ip4/999.1.1.1/tcp/1", "not-an-address", "/ip4/127.0.0.1/tcp/99999"}) {
    child p({"ping", bad});
    EXPECT_NE(p.wait(), 0) << bad;
    EXPECT_EQ(line_count(p.err()), 1u) << bad << ": " << p.err();
    EXPECT_TRUE(p.out().empty()) << bad;
  }
}

TEST_F(cli_test, port_in_use_is_one_line_error) {
  child n(node_args("a"));
  auto [id, addr] = start_node(n);
  ASSERT_FALSE(addr.empty());
  const std::string port_part = addr.substr(0, addr.find("/p2p/"));
  child m({"node", "--data-dir", dir("b"), "--listen", port_part, "--no-mdns"});
  EXPECT_NE(m.wait(), 0);
  EXPECT_EQ(line_count(m.err()), 1u) << m.err();
  EXPECT_NE(m.err().find("in use"), std::string::npos) << m.err();
}

TEST_F(cli_test, unreachable_peer_is_one_line_error) {
  // A loopback port that was just free: nobody listens there.
  boost::asio::io_context ctx;
  boost::asio::ip::tcp::acceptor acc(ctx, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = acc.local_endpoint().port();
  acc.close();
  child idc({"id", "--data-dir", dir("x")});
  ASSERT_EQ(idc.wait(), 0);
  std::string id = idc.out().substr(0, idc.out().size() - 1);
  child p({"ping", "/ip4/127.0.0.1/tcp/" + std::to_string(port) + "/p2p/" + id, "-c", "1"});
  EXPECT_NE(p.wait(), 0);
  EXPECT_EQ(line_count(p.err()), 1u) << p.err();
  EXPECT_NE(p.err().find("refused"), std::string::npos) << p.err();
}

TEST_F(cli_test, wrong_peer_id_is_one_line_error) {
  child n(node_args("a"));
  auto [id, addr] = start_node(n);
  ASSERT_FALSE(addr.empty());
  child other({"id", "--data-dir", dir("other")});
  ASSERT_EQ(other.wait(), 0);
  const std::string other_id = other.out().substr(0, other.out().size() - 1);
  const std::string wrong = addr.substr(0, addr.find("/p2p/")) + "/p2p/" + other_id;
  child p({"ping", wrong, "-c", "1"});
  EXPECT_NE(p.wait(), 0);
  EXPECT_EQ(line_count(p.err()), 1u) << p.err();
  EXPECT_NE(p.err().find("peer id mismatch"), std::string::npos) << p.err();
}

TEST_F(cli_test, perf_json_final_line) {
  auto args = node_args("a");
  args.push_back("--serve-perf");  // perf is opt-in
  child n(args);
  auto [id, addr] = start_node(n);
  ASSERT_FALSE(addr.empty());
  child p({"perf", addr, "--upload-bytes", "3000000", "--download-bytes", "5000000", "--json"});
  ASSERT_EQ(p.wait(), 0) << p.err();
  const std::string& o = p.out();
  ASSERT_FALSE(o.empty());
  const auto start = o.rfind('\n', o.size() - 2);
  const std::string last = o.substr(start == std::string::npos ? 0 : start + 1);
  EXPECT_EQ(last.rfind("{\"type\":\"final\"", 0), 0u) << last;
  EXPECT_NE(last.find("\"uploadBytes\":3000000"), std::string::npos) << last;
  EXPECT_NE(last.find("\"downloadBytes\":5000000"), std::string::npos) << last;
  EXPECT_NE(last.find("\"timeSeconds\":"), std::string::npos) << last;
}

}  // namespace

namespace {

TEST_F(cli_test, peers_and_status_talk_to_the_running_node) {
  child a(node_args("a"));
  auto [aid, aaddr] = start_node(a);
  ASSERT_FALSE(aaddr.empty());
  auto bargs = node_args("b");
  bargs.insert(bargs.end(), {"--bootstrap", aaddr});
  child b(bargs);
  auto [bid, baddr] = start_node(b);
  ASSERT_FALSE(baddr.empty());
  // b logs "connected to <a>" once the bootstrap dial is through. Its one thread logs that
  // with the connection already in the table, before it reads the next control request, so
  // the first `peers` after the line must list a.
  ASSERT_TRUE(b.wait_stderr("connected to " + aid)) << b.err();
  child p({"peers", "--data-dir", dir("b")});
  ASSERT_EQ(p.wait(), 0) << p.err();
  const std::string& table = p.out();
  EXPECT_NE(table.find(aid), std::string::npos) << table;
  EXPECT_NE(table.find("out"), std::string::npos) << table;

  child s({"status", "--data-dir", dir("a"), "--json"});
  ASSERT_EQ(s.wait(), 0) << s.err();
  auto j = nlohmann::json::parse(s.out(), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << s.out();
  EXPECT_EQ(j["id"], aid);
  EXPECT_EQ(j["mdns"]["enabled"], false);
  EXPECT_FALSE(j.contains("ok"));

  child all({"peers", "--data-dir", dir("b"), "--all", "--json"});
  ASSERT_EQ(all.wait(), 0) << all.err();
  EXPECT_NE(all.out().find("bootstrap"), std::string::npos) << all.out();
}

TEST_F(cli_test, peers_without_a_node_is_one_line_error) {
  child p({"peers", "--data-dir", dir("nobody")});
  EXPECT_EQ(p.wait(), 1);
  EXPECT_EQ(line_count(p.err()), 1u) << p.err();
  EXPECT_NE(p.err().find("no node is running with data directory"), std::string::npos) << p.err();
}

TEST_F(cli_test, second_node_on_one_data_dir_is_one_line_error) {
  child a(node_args("a"));
  auto [aid, aaddr] = start_node(a);
  ASSERT_FALSE(aaddr.empty());
  child again(node_args("a"));
  EXPECT_EQ(again.wait(), 1);
  EXPECT_EQ(line_count(again.err()), 1u) << again.err();
  EXPECT_NE(again.err().find("already running"), std::string::npos) << again.err();
}

}  // namespace

// The data layer through the CLI: a sample put on one node reaches `starling sub` on a node
// two hops away (a - b - c, a and c never connect), a delete follows it, and a bad key is
// refused with the parser's message.
TEST_F(cli_test, put_and_del_reach_sub_two_hops_away) {
  child b(node_args("b"));
  auto [bid, baddr] = start_node(b);
  ASSERT_FALSE(baddr.empty());
  auto args_a = node_args("a");
  args_a.insert(args_a.begin(), {"--log-level", "debug"});
  args_a.insert(args_a.end(), {"--bootstrap", baddr});
  child a(args_a);
  auto [aid, aaddr] = start_node(a);
  auto args_c = node_args("c");
  args_c.insert(args_c.end(), {"--bootstrap", baddr});
  child c(args_c);
  auto [cid, caddr] = start_node(c);
  ASSERT_FALSE(cid.empty());

  child s({"sub", "--data-dir", dir("c"), "home/**", "-c", "2", "--json"});
  // a learns c's subscription through b (the record crosses two hops).
  ASSERT_TRUE(a.wait_stderr("data: node " + cid)) << a.err();
  if (a.err().find(cid + " reachable: declarations +1") == std::string::npos) {
    ASSERT_TRUE(a.wait_stderr(cid + " changed: declarations +1")) << a.err();
  }
  child p({"put", "--data-dir", dir("a"), "home/kitchen/temp", "21.5", "--encoding", "text/plain"});
  ASSERT_EQ(p.wait(), 0) << p.err();
  child d({"del", "--data-dir", dir("a"), "home/kitchen/temp"});
  ASSERT_EQ(d.wait(), 0) << d.err();
  ASSERT_EQ(s.wait(), 0) << s.err();
  const auto lines = s.lines(2);
  ASSERT_EQ(lines.size(), 2u) << s.out();
  auto first = nlohmann::json::parse(lines[0]);
  auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(first["key"], "home/kitchen/temp");
  EXPECT_EQ(first["value"], "21.5");
  EXPECT_EQ(first["encoding"], "text/plain");
  EXPECT_EQ(first["kind"], "put");
  EXPECT_EQ(first["source"], aid);
  EXPECT_EQ(first["seq"], 1);
  EXPECT_EQ(second["kind"], "delete");
  EXPECT_EQ(second["seq"], 2);

  child bad({"put", "--data-dir", dir("a"), "home//temp", "x"});
  EXPECT_EQ(bad.wait(), 1);
  EXPECT_NE(bad.err().find("home//temp: empty chunk at byte 5"), std::string::npos) << bad.err();
}

// Queries and liveliness through the CLI across three processes: `reply` on c answers `get`
// on a through b (its command's output is the reply, a failing command an error reply), a
// selector nobody serves fails clearly, and `alive --watch` on a sees c's token come and go.
TEST_F(cli_test, get_reply_and_alive_across_a_relay) {
  child b(node_args("b"));
  auto [bid, baddr] = start_node(b);
  ASSERT_FALSE(baddr.empty());
  auto args_c = node_args("c");
  args_c.insert(args_c.end(), {"--bootstrap", baddr});
  child c(args_c);
  auto [cid, caddr] = start_node(c);
  auto args_a = node_args("a");
  args_a.insert(args_a.end(), {"--bootstrap", baddr});
  child a(args_a);
  auto [aid, aaddr] = start_node(a);
  ASSERT_FALSE(aid.empty());

  child blinds({"reply", "--data-dir", dir("c"), "cmd/blinds", "--", "sh", "-c",
                "printf 'closed %s' \"$STARLING_PARAMS\""});
  child broken(
      {"reply", "--data-dir", dir("c"), "cmd/broken", "--", "sh", "-c", "echo jammed; exit 3"});
  // Until c's queryables are known on a, `get` finds nobody: ask again (bounded).
  int code = -1;
  std::string out, err;
  for (int i = 0; i < 100 && code != 0; ++i) {
    child g({"get", "--data-dir", dir("a"), "cmd/blinds?level=3", "--timeout", "5"});
    code = g.wait();
    out = g.out();
    err = g.err();
    if (code != 0) std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(code, 0) << err;
  EXPECT_EQ(out, "cmd/blinds closed level=3\n");

  child f({"get", "--data-dir", dir("a"), "cmd/broken", "--json"});
  EXPECT_EQ(f.wait(), 1);
  auto lines = f.lines(1);
  ASSERT_EQ(lines.size(), 1u) << f.err();
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(j["error"], true);
  EXPECT_EQ(j["value"], "jammed\n");
  EXPECT_EQ(j["from"], cid);
  EXPECT_NE(f.err().find("every reply to cmd/broken was an error"), std::string::npos) << f.err();

  child none({"get", "--data-dir", dir("a"), "nothing/here"});
  EXPECT_EQ(none.wait(), 1);
  EXPECT_NE(none.err().find("no queryable matches nothing/here"), std::string::npos) << none.err();
  child bad({"get", "--data-dir", dir("a"), "cmd//x"});
  EXPECT_EQ(bad.wait(), 1);
  EXPECT_NE(bad.err().find("cmd//x: empty chunk at byte 4"), std::string::npos) << bad.err();

  child watch({"alive", "--watch", "--data-dir", dir("a"), "alive/**"});
  child token({"alive", "--data-dir", dir("c"), "alive/sensor"});
  auto seen = watch.lines(1);
  ASSERT_EQ(seen.size(), 1u) << watch.err();
  EXPECT_EQ(seen[0], "+ alive/sensor");
  token.kill(SIGTERM);
  seen = watch.lines(2);
  ASSERT_EQ(seen.size(), 2u) << watch.err();
  EXPECT_EQ(seen[1], "- alive/sensor");
}
