// Membership through the `starling` binary (issue 14): `network create`, `invite`, `join`,
// `members`, `revoke`, `role`; admission refuses non-members and other networks; a revoked
// member is cut off and stays out; the network survives a restart. Children on 127.0.0.1,
// port 0, temporary data directories; always killed and reaped.
#include <signal.h>

#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using starling::test::child;

namespace {

class membership_cli_test : public starling::test::cli_fixture {
 protected:
  membership_cli_test() : cli_fixture("starling-membership-cli-") {}

  // Runs a command to its end; returns its stdout, failing the test on a non-zero exit.
  std::string run(const std::vector<std::string>& args) {
    child c(args);
    const int rc = c.wait();
    EXPECT_EQ(rc, 0) << args[0] << ": " << c.err();
    return c.out();
  }
  json json_of(const std::vector<std::string>& args) {
    const auto out = run(args);
    auto j = json::parse(out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << out;
    return j;
  }
  // Polls `members --json` on `node` until `peer` shows as connected (or 10 s pass).
  bool connected(const std::string& node, const std::string& peer) {
    for (int i = 0; i < 100; ++i) {
      auto j = json_of({"members", "--data-dir", dir(node), "--json"});
      for (const auto& m : j["members"]) {
        if (m["id"] == peer && m["connected"] == true) return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  std::string make_network(const std::string& node, const std::string& name) {
    auto out = run({"network", "create", "--data-dir", dir(node), "--name", name});
    EXPECT_NE(out.find("created network"), std::string::npos) << out;
    return out;
  }
  std::string invite(const std::string& node, const std::string& role) {
    child c({"invite", "--data-dir", dir(node), "--role", role, "--no-qr"});
    const auto lines = c.lines(1);
    EXPECT_EQ(c.wait(), 0) << c.err();
    return lines.empty() ? std::string() : lines[0];
  }
};

TEST_F(membership_cli_test, create_invite_join_exchange_revoke_and_restart) {
  child a(node_args("a"));
  auto [a_id, a_addr] = start_node(a);
  ASSERT_FALSE(a_addr.empty()) << a.err();
  EXPECT_TRUE(a.wait_stderr("belongs to no network")) << a.err();
  auto b_args = node_args("b");
  b_args.insert(b_args.end(), {"--bootstrap", a_addr});
  child b(b_args);
  auto [b_id, b_addr] = start_node(b);
  ASSERT_FALSE(b_addr.empty()) << b.err();

  // An open node's status says so.
  EXPECT_TRUE(json_of({"status", "--data-dir", dir("a"), "--json"})["network"].is_null());

  make_network("a", "lab");
  const auto status = json_of({"status", "--data-dir", dir("a"), "--json"});
  ASSERT_TRUE(status["network"].is_object()) << status.dump();
  EXPECT_EQ(status["network"]["name"], "lab");
  EXPECT_EQ(status["network"]["roles"], json::array({"admin"}));
  EXPECT_EQ(status["network"]["owner"], true);

  // A second network create is refused with a clear line.
  child again({"network", "create", "--data-dir", dir("a")});
  EXPECT_EQ(again.wait(), 1);
  EXPECT_NE(again.err().find("already belongs to network"), std::string::npos) << again.err();

  // A wrong code (a valid code of this inviter with another secret) is refused.
  const std::string code = invite("a", "member");
  ASSERT_EQ(code.size(), 24u) << code;
  std::string wrong = code;
  wrong[5] = wrong[5] == '0' ? '1' : '0';  // breaks the check symbol: refused before any I/O
  child bad_code({"join", "--data-dir", dir("b"), "--peer", a_addr, wrong});
  EXPECT_EQ(bad_code.wait(), 1);
  EXPECT_NE(bad_code.err().find("starling: "), std::string::npos) << bad_code.err();

  auto joined = run({"join", "--data-dir", dir("b"), "--peer", a_addr, code});
  EXPECT_NE(joined.find("joined network"), std::string::npos) << joined;
  EXPECT_NE(joined.find("roles: member"), std::string::npos) << joined;
  // The code was single use.
  child reuse({"join", "--data-dir", dir("b"), "--peer", a_addr, code});
  EXPECT_EQ(reuse.wait(), 1);
  EXPECT_NE(reuse.err().find("already belongs"), std::string::npos) << reuse.err();

  ASSERT_TRUE(connected("a", b_id)) << a.err() << b.err();
  const auto members = json_of({"members", "--data-dir", dir("b"), "--json"});
  EXPECT_EQ(members["network"]["id"], status["network"]["id"]);
  EXPECT_EQ(members["members"].size(), 3u) << members.dump();  // owner key, a, b

  // Data flows between the members.
  child sub({"sub", "--data-dir", dir("a"), "lab/**", "-c", "1"});
  std::vector<std::string> got;
  for (int i = 0; i < 20 && got.empty(); ++i) {
    run({"put", "--data-dir", dir("b"), "lab/temp", "21"});
    got = sub.lines(1, 500ms);
  }
  ASSERT_EQ(got.size(), 1u) << sub.err();
  EXPECT_EQ(got[0], "lab/temp 21");
  EXPECT_EQ(sub.wait(), 0);

  // Both sides survive a restart: the network is in the data directories.
  a.kill(SIGTERM);
  EXPECT_EQ(a.wait(), 0) << a.err();
  // The time floor is saved for the next start (a Pi without network time).
  std::ifstream floor_file(dir("a") + "/network/time");
  std::uint64_t floor = 0;
  floor_file >> floor;
  EXPECT_GE(floor, static_cast<std::uint64_t>(std::time(nullptr)) - 60);
  auto a_args = node_args("a");
  a_args[4] = a_addr.substr(0, a_addr.find("/p2p/"));  // the same port, so b finds it again
  child a2(a_args);
  ASSERT_FALSE(start_node(a2).second.empty()) << a2.err();
  EXPECT_TRUE(a2.wait_stderr("admitting members only")) << a2.err();
  ASSERT_TRUE(connected("a", b_id)) << a2.err() << b.err();

  // Revocation cuts b off at once and keeps it out.
  auto revoked = run({"revoke", "--data-dir", dir("a"), b_id});
  EXPECT_NE(revoked.find("revoked"), std::string::npos);
  EXPECT_TRUE(a2.wait_stderr("closing the connection to " + b_id)) << a2.err();
  EXPECT_TRUE(a2.wait_stderr("refused " + b_id)) << a2.err();
  const auto after = json_of({"members", "--data-dir", dir("a"), "--json"});
  bool seen = false;
  for (const auto& m : after["members"]) {
    if (m["id"] != b_id) continue;
    seen = true;
    EXPECT_EQ(m["revoked"], true);
    EXPECT_EQ(m["connected"], false);
  }
  EXPECT_TRUE(seen) << after.dump();

  a2.kill(SIGTERM);
  b.kill(SIGTERM);
  EXPECT_EQ(a2.wait(), 0) << a2.err();
  EXPECT_EQ(b.wait(), 0) << b.err();
}

// `acl show|set|explain` against a network node: the default policy, a policy file applied as
// a log entry, one that would leave nobody able to administer refused, explanations.
TEST_F(membership_cli_test, acl_show_set_explain) {
  child a(node_args("a"));
  auto [a_id, a_addr] = start_node(a);
  ASSERT_FALSE(a_addr.empty()) << a.err();
  child open_show({"acl", "show", "--data-dir", dir("a")});
  EXPECT_EQ(open_show.wait(), 1);
  EXPECT_NE(open_show.err().find("belongs to no network"), std::string::npos) << open_show.err();
  make_network("a", "lab");
  EXPECT_NE(run({"acl", "show", "--data-dir", dir("a")}).find("the default policy"),
            std::string::npos);
  EXPECT_EQ(run({"acl", "explain", "--data-dir", dir("a"), a_id, "put", "home/x"}),
            "allow: rule 1 allows role \"admin\" put on \"home/x\"\n");

  const auto write = [&](const std::string& name, const std::string& text) {
    const auto path = dir(name);
    std::ofstream(path) << text;
    return path;
  };
  const auto good = write("good.toml",
                          "version = 1\n"
                          "[[rule]]\neffect = \"allow\"\nroles = [\"admin\"]\nops = [\"admin\", "
                          "\"put\"]\nkeys = [\"**\"]\n"
                          "[[rule]]\neffect = \"deny\"\nroles = [\"admin\"]\nops = [\"put\"]\n"
                          "keys = [\"locked/**\"]\n");
  auto applied = run({"acl", "set", "--data-dir", dir("a"), good});
  EXPECT_NE(applied.find("policy version 1 applied"), std::string::npos) << applied;
  EXPECT_NE(run({"acl", "show", "--data-dir", dir("a")}).find("locked/**"), std::string::npos);
  EXPECT_EQ(run({"acl", "explain", "--data-dir", dir("a"), a_id, "put", "locked/door"}),
            "deny: rule 2 (line 7) denies role \"admin\" put on \"locked/door\"\n");

  // A typo in the admin role would lock everybody out: refused, the policy stays.
  const auto typo = write("typo.toml",
                          "version = 2\n[[rule]]\neffect = \"allow\"\nroles = [\"admins\"]\n"
                          "ops = [\"admin\"]\nkeys = [\"**\"]\n");
  child bad({"acl", "set", "--data-dir", dir("a"), typo});
  EXPECT_EQ(bad.wait(), 1);
  EXPECT_NE(bad.err().find("no member could administer"), std::string::npos) << bad.err();
  EXPECT_NE(run({"acl", "show", "--data-dir", dir("a")}).find("# policy version 1"),
            std::string::npos);
  child bad_op({"acl", "explain", "--data-dir", dir("a"), a_id, "write", "a/b"});
  EXPECT_EQ(bad_op.wait(), 1);
  EXPECT_NE(bad_op.err().find("unknown operation 'write'"), std::string::npos) << bad_op.err();
  a.kill(SIGTERM);
  EXPECT_EQ(a.wait(), 0) << a.err();
}

TEST_F(membership_cli_test, non_members_and_other_networks_are_refused) {
  child a(node_args("a"));
  auto [a_id, a_addr] = start_node(a);
  ASSERT_FALSE(a_addr.empty()) << a.err();
  make_network("a", "one");

  // An open node (no network) is refused after its handshake, and says nothing more.
  auto c_args = node_args("c");
  c_args.insert(c_args.end(), {"--bootstrap", a_addr});
  child c(c_args);
  auto [c_id, c_addr] = start_node(c);
  ASSERT_FALSE(c_addr.empty()) << c.err();
  EXPECT_TRUE(a.wait_stderr("refused " + c_id)) << a.err();
  EXPECT_NE(a.err().find("no membership proof"), std::string::npos) << a.err();

  // A node of another network is refused too, with that reason.
  child d(node_args("d"));
  auto [d_id, d_addr] = start_node(d);
  ASSERT_FALSE(d_addr.empty()) << d.err();
  make_network("d", "two");
  d.kill(SIGTERM);
  EXPECT_EQ(d.wait(), 0) << d.err();
  // Restarted with a as its bootstrap peer: d dials, reads a's proof in the handshake and
  // refuses a (a network of its own is no reason to talk to another).
  child d2({"node", "--data-dir", dir("d"), "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns",
            "--bootstrap", a_addr});
  ASSERT_FALSE(start_node(d2).second.empty()) << d2.err();
  EXPECT_TRUE(d2.wait_stderr("refused " + a_id)) << d2.err();
  EXPECT_NE(d2.err().find("member of another network"), std::string::npos) << d2.err();

  // A plain libp2p client (`starling ping`, a fresh identity, no network) is refused, but
  // reaches ping as a guest while an invite is open.
  child refused_ping({"ping", "-c", "1", "-W", "2", a_addr});
  EXPECT_NE(refused_ping.wait(), 0);
  invite("a", "member");
  child guest_ping({"ping", "-c", "1", "-W", "5", a_addr});
  EXPECT_EQ(guest_ping.wait(), 0) << guest_ping.err();
  EXPECT_GE(json_of({"status", "--data-dir", dir("a"), "--json"})["metrics"]["guests_admitted"]
                .get<std::uint64_t>(),
            1u);

  // The refusals are counted, and the refused peers back off rather than re-dial in a loop.
  std::this_thread::sleep_for(2s);
  const auto st = json_of({"status", "--data-dir", dir("a"), "--json"});
  const auto refused = st["metrics"]["refused_not_member"].get<std::uint64_t>();
  EXPECT_GE(refused, 1u);
  EXPECT_LE(refused, 9u) << "refused peers re-dial too often";

  for (auto* p : {&a, &c, &d2})
    p->kill(SIGTERM);
  for (auto* p : {&a, &c, &d2})
    EXPECT_EQ(p->wait(), 0) << p->err();
}

// The access rules hold in the data layer of real nodes: a sensor publishes but may not read,
// a viewer reads only temperatures and may not publish, whatever it subscribes to; a role
// change applies to a running node at once.
TEST_F(membership_cli_test, roles_limit_what_each_node_may_do_with_data) {
  child a(node_args("a"));
  auto [a_id, a_addr] = start_node(a);
  ASSERT_FALSE(a_addr.empty()) << a.err();
  make_network("a", "lab");
  const auto policy_path = dir("policy.toml");
  std::ofstream(policy_path) << "version = 1\n"
                                "[[rule]]\neffect = \"allow\"\nroles = [\"admin\"]\n"
                                "ops = [\"admin\", \"put\", \"subscribe\"]\nkeys = [\"**\"]\n"
                                "[[rule]]\neffect = \"allow\"\nroles = [\"sensor\"]\n"
                                "ops = [\"put\"]\nkeys = [\"home/**\"]\n"
                                "[[rule]]\neffect = \"allow\"\nroles = [\"viewer\"]\n"
                                "ops = [\"subscribe\"]\nkeys = [\"home/*/temp\"]\n";
  run({"acl", "set", "--data-dir", dir("a"), policy_path});

  std::map<std::string, std::string> ids;
  std::vector<std::unique_ptr<child>> nodes;
  for (const std::string name : {"b", "c"}) {
    auto args = node_args(name);
    args.insert(args.end(), {"--bootstrap", a_addr});
    nodes.push_back(std::make_unique<child>(args));
    auto [id, addr] = start_node(*nodes.back());
    ASSERT_FALSE(addr.empty()) << nodes.back()->err();
    ids[name] = id;
    const auto code = invite("a", name == "b" ? "sensor" : "viewer");
    run({"join", "--data-dir", dir(name), "--peer", a_addr, code});
  }
  ASSERT_TRUE(connected("b", ids["c"]) || connected("a", ids["c"])) << nodes[1]->err();

  // The local API refuses what the node's roles do not allow, with a clear line.
  child sensor_sub({"sub", "--data-dir", dir("b"), "home/**"});
  EXPECT_NE(sensor_sub.wait(), 0);
  EXPECT_NE(sensor_sub.err().find("access denied"), std::string::npos) << sensor_sub.err();
  child viewer_put({"put", "--data-dir", dir("c"), "home/k/temp", "1"});
  EXPECT_NE(viewer_put.wait(), 0);
  EXPECT_NE(viewer_put.err().find("access denied"), std::string::npos) << viewer_put.err();

  // The viewer subscribes to everything under home/ and gets only the temperatures.
  child viewer({"sub", "--data-dir", dir("c"), "home/**", "-c", "2"});
  std::vector<std::string> got;
  for (int i = 0; i < 40 && got.size() < 2; ++i) {
    run({"put", "--data-dir", dir("b"), "home/k/door", "open"});
    run({"put", "--data-dir", dir("b"), "home/k/temp", "21"});
    auto more = viewer.lines(2 - got.size(), 250ms);
    got.insert(got.end(), more.begin(), more.end());
  }
  ASSERT_EQ(got.size(), 2u) << viewer.err();
  EXPECT_EQ(got[0], "home/k/temp 21");
  EXPECT_EQ(got[1], "home/k/temp 21");
  EXPECT_EQ(viewer.wait(), 0);

  // The admin makes the viewer a sensor: its running subscription gets nothing more, and
  // it may publish now.
  child watching({"sub", "--data-dir", dir("c"), "home/**"});
  std::vector<std::string> before;
  for (int i = 0; i < 40 && before.empty(); ++i) {
    run({"put", "--data-dir", dir("b"), "home/k/temp", "22"});
    before = watching.lines(1, 250ms);
  }
  ASSERT_FALSE(before.empty()) << watching.err();
  run({"role", "--data-dir", dir("a"), ids["c"], "sensor"});
  std::string published;
  for (int i = 0; i < 40; ++i) {
    child p({"put", "--data-dir", dir("c"), "home/k/temp", "5"});
    if (p.wait() == 0) {
      published = "yes";
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(published, "yes") << "the new role did not reach c";
  run({"put", "--data-dir", dir("b"), "home/k/temp", "23"});
  // Earlier puts of 22 may still arrive; nothing published after the change may.
  for (const auto& line : watching.lines(8, 1s)) {
    EXPECT_EQ(line, "home/k/temp 22") << "a sensor may not read";
  }

  watching.kill(SIGTERM);
  watching.wait();
  a.kill(SIGTERM);
  EXPECT_EQ(a.wait(), 0) << a.err();
  for (auto& n : nodes) {
    n->kill(SIGTERM);
    EXPECT_EQ(n->wait(), 0) << n->err();
  }
}

}  // namespace
