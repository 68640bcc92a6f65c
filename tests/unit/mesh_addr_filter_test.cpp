#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "core/mesh/addr_filter.hpp"

using namespace starling;
using mesh::addr_verdict;

namespace {

multiformats::multiaddr ma(const std::string& text) {
  auto a = multiformats::multiaddr::parse(text);
  EXPECT_TRUE(a) << text;
  return a ? *a : multiformats::multiaddr{};
}

const std::string pid = "/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

struct verdict_case {
  std::string addr;
  bool via_loopback;
  addr_verdict want;
};

}  // namespace

TEST(mesh_addr_filter, classifies_each_kind_of_address) {
  const std::vector<verdict_case> cases = {
      {"/ip4/192.168.1.20/tcp/4001", false, addr_verdict::usable},
      {"/ip4/192.168.1.20/tcp/4001" + pid, false, addr_verdict::usable},
      {"/ip6/2001:db8::7/tcp/4001", false, addr_verdict::usable},
      {"/ip6zone/eth0/ip6/fe80::1/tcp/4001", false, addr_verdict::usable},
      {"/ip6/fe80::1/tcp/4001", false, addr_verdict::link_local_without_zone},
      {"/ip6/febf::1/tcp/4001", false, addr_verdict::link_local_without_zone},
      {"/ip6/fec0::1/tcp/4001", false, addr_verdict::usable},  // just past fe80::/10
      {"/ip4/127.0.0.1/tcp/4001", false, addr_verdict::foreign_loopback},
      {"/ip4/127.0.0.1/tcp/4001", true, addr_verdict::usable},
      {"/ip4/127.9.9.9/tcp/4001", false, addr_verdict::foreign_loopback},
      {"/ip6/::1/tcp/4001", false, addr_verdict::foreign_loopback},
      {"/ip6/::1/tcp/4001", true, addr_verdict::usable},
      {"/ip4/0.0.0.0/tcp/4001", false, addr_verdict::unspecified},
      {"/ip4/0.0.0.0/tcp/4001", true, addr_verdict::unspecified},
      {"/ip6/::/tcp/4001", false, addr_verdict::unspecified},
      {"/ip6zone/eth0/ip6/::/tcp/4001", false, addr_verdict::unspecified},
      {"/ip4/0.0.0.1/tcp/4001", false, addr_verdict::usable},
      {"/ip4/10.0.0.1/tcp/0", false, addr_verdict::port_zero},
      {"/ip4/127.0.0.1/tcp/0", true, addr_verdict::port_zero},
      {"/ip4/10.0.0.1/udp/4001", false, addr_verdict::not_tcp},
      {"/dns4/example.org/tcp/4001", false, addr_verdict::not_tcp},
      {pid, false, addr_verdict::not_tcp},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(mesh::classify_peer_addr(ma(c.addr), c.via_loopback), c.want)
        << c.addr << (c.via_loopback ? " via loopback" : "");
  }
}

TEST(mesh_addr_filter, an_empty_address_is_not_tcp) {
  EXPECT_EQ(mesh::classify_peer_addr(multiformats::multiaddr{}, true), addr_verdict::not_tcp);
}

TEST(mesh_addr_filter, useful_addrs_put_the_dialled_one_first_without_duplicates_or_ids) {
  const std::vector<multiformats::multiaddr> advertised = {
      ma("/ip4/0.0.0.0/tcp/4001"),      ma("/ip4/192.168.1.20/tcp/4001"),
      ma("/ip4/10.0.0.5/tcp/4001"),     ma("/ip4/127.0.0.1/tcp/4001"),
      ma("/ip6/fe80::1/tcp/4001"),      ma("/ip4/10.0.0.5/tcp/4001" + pid),
      ma("/ip4/192.168.1.20/udp/4001"),
  };
  const auto dialled = ma("/ip4/10.0.0.5/tcp/4001" + pid);
  EXPECT_EQ(mesh::useful_peer_addrs(dialled, advertised, false),
            (std::vector<std::string>{"/ip4/10.0.0.5/tcp/4001", "/ip4/192.168.1.20/tcp/4001"}));
  EXPECT_EQ(mesh::useful_peer_addrs(std::nullopt, advertised, false),
            (std::vector<std::string>{"/ip4/192.168.1.20/tcp/4001", "/ip4/10.0.0.5/tcp/4001"}));
  EXPECT_EQ(mesh::useful_peer_addrs(std::nullopt, advertised, true),
            (std::vector<std::string>{"/ip4/192.168.1.20/tcp/4001", "/ip4/10.0.0.5/tcp/4001",
                                      "/ip4/127.0.0.1/tcp/4001"}));
}

TEST(mesh_addr_filter, a_refused_dialled_address_is_left_out_too) {
  const std::vector<multiformats::multiaddr> advertised = {ma("/ip4/10.0.0.5/tcp/4001")};
  EXPECT_EQ(mesh::useful_peer_addrs(ma("/ip4/127.0.0.1/tcp/5000"), advertised, false),
            (std::vector<std::string>{"/ip4/10.0.0.5/tcp/4001"}));
  EXPECT_TRUE(mesh::useful_peer_addrs(std::nullopt, {}, false).empty());
}

TEST(mesh_addr_filter, loopback_only_needs_every_listen_address_on_loopback) {
  using v = std::vector<multiformats::multiaddr>;
  EXPECT_FALSE(mesh::loopback_only(v{}));
  EXPECT_TRUE(mesh::loopback_only(v{ma("/ip4/127.0.0.1/tcp/0")}));
  EXPECT_TRUE(mesh::loopback_only(v{ma("/ip4/127.0.0.1/tcp/0"), ma("/ip6/::1/tcp/0")}));
  EXPECT_FALSE(mesh::loopback_only(v{ma("/ip4/127.0.0.1/tcp/0"), ma("/ip4/0.0.0.0/tcp/4001")}));
  EXPECT_FALSE(mesh::loopback_only(v{ma("/ip4/192.168.1.2/tcp/4001")}));
}
