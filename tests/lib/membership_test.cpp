// Membership through the public C++ library (include/starling/session.hpp): create a network,
// invite, join, list members, revoke, a policy and its explanation; two sessions embedded in
// this process on 127.0.0.1, each with its own temporary data directory. Only public headers.
#include <gtest/gtest.h>
#include <starling/starling.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

class LibMembership : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    m_dir = std::filesystem::temp_directory_path() /
            ("starling-lib-membership-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(m_dir);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
  }
  starling::session open(const std::string& name) {
    starling::session_options o;
    o.data_dir = (m_dir / name).string();
    auto s = starling::session::open(o);
    EXPECT_TRUE(s) << s.error().message();
    return std::move(*s);
  }
  static bool has_peer(const starling::session& s, const std::string& id) {
    const auto p = s.peers();
    return std::find(p.begin(), p.end(), id) != p.end();
  }
  std::filesystem::path m_dir;
};

TEST_F(LibMembership, CreateInviteJoinRevoke) {
  auto a = open("a");
  auto b = open("b");
  auto open_net = a.network();
  ASSERT_FALSE(open_net);
  EXPECT_EQ(open_net.error().code(), starling::errc::not_found);

  auto net = a.create_network("lab");
  ASSERT_TRUE(net) << net.error().message();
  EXPECT_EQ(net->name, "lab");
  EXPECT_TRUE(net->owner);
  EXPECT_EQ(net->roles, (std::vector<std::string>{"admin"}));
  auto again = a.create_network("lab");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), starling::errc::invalid_argument);

  auto bad_role = a.invite("Not A Role");
  ASSERT_FALSE(bad_role);
  EXPECT_EQ(bad_role.error().code(), starling::errc::invalid_argument);
  auto code = a.invite("member", 60s);
  ASSERT_TRUE(code) << code.error().message();
  auto wrong = b.join("0000-0000-0000-0000-0000", {a.listen_addrs().at(0)});
  ASSERT_FALSE(wrong);
  auto joined = b.join(*code, {a.listen_addrs().at(0)});
  ASSERT_TRUE(joined) << joined.error().message();
  EXPECT_EQ(joined->id, net->id);
  EXPECT_EQ(joined->roles, (std::vector<std::string>{"member"}));

  // b comes back as a member: a lists it connected.
  bool connected = false;
  for (int i = 0; i < 100 && !connected; ++i) {
    std::this_thread::sleep_for(50ms);
    if (!has_peer(b, a.peer_id())) (void)b.connect(a.listen_addrs().at(0));
    auto m = a.members();
    ASSERT_TRUE(m);
    for (const auto& x : *m)
      connected |= x.peer_id == b.peer_id() && x.connected;
  }
  EXPECT_TRUE(connected);

  // A policy, applied and explained; one that locks out the administrators is refused.
  auto set = a.set_policy(
      "version = 1\n[[rule]]\neffect = \"allow\"\nroles = [\"admin\"]\nops = [\"admin\"]\n"
      "keys = [\"**\"]\n[[rule]]\neffect = \"allow\"\nroles = [\"member\"]\nops = [\"put\"]\n"
      "keys = [\"lab/*/temp\"]\n");
  ASSERT_TRUE(set) << set.error().message();
  auto why = a.explain(b.peer_id(), "put", "lab/k/temp");
  ASSERT_TRUE(why) << why.error().message();
  EXPECT_EQ(why->rfind("allow:", 0), 0u) << *why;
  why = a.explain(b.peer_id(), "subscribe", "lab/**");
  ASSERT_TRUE(why);
  EXPECT_EQ(why->rfind("deny:", 0), 0u) << *why;
  auto lockout = a.set_policy("version = 2\n");
  ASSERT_FALSE(lockout);
  EXPECT_EQ(lockout.error().code(), starling::errc::refused);

  // Revocation cuts b off and keeps it out.
  ASSERT_TRUE(a.revoke(b.peer_id()));
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    std::this_thread::sleep_for(50ms);
    gone = !has_peer(a, b.peer_id());
  }
  EXPECT_TRUE(gone);
  EXPECT_FALSE(b.connect(a.listen_addrs().at(0)) && has_peer(a, b.peer_id()));
  auto m = a.members();
  ASSERT_TRUE(m);
  for (const auto& x : *m) {
    if (x.peer_id == b.peer_id()) {
      EXPECT_TRUE(x.revoked);
    }
  }
}

TEST(LibMembershipNoDataDir, MembershipNeedsADataDirectory) {
  auto s = starling::session::open();
  ASSERT_TRUE(s);
  auto n = s->create_network("x");
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), starling::errc::invalid_argument);
  EXPECT_NE(n.error().message().find("data_dir"), std::string::npos) << n.error().message();
}

}  // namespace
