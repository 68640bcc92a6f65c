// The pure parts of the mDNS service: interface selection and per-interface announcements,
// with made-up interface lists.
#include <gtest/gtest.h>

#include "core/crypto/crypto.hpp"
#include "core/multiformats/peer_id.hpp"
#include "node/mdns_service.hpp"

using namespace starling;
using node::addresses_for_interface;
using node::mdns_options;
using node::select_interfaces;

namespace {

io::interface_address ifa(std::string name, unsigned index, std::string ip, bool loopback = false,
                          bool multicast = true) {
  io::interface_address a;
  a.name = std::move(name);
  a.index = index;
  a.address = boost::asio::ip::make_address(ip);
  a.loopback = loopback;
  a.multicast = multicast;
  return a;
}

// A Raspberry Pi with wired and wireless LAN, a VPN and docker.
const std::vector<io::interface_address> pi = {
    ifa("lo", 1, "127.0.0.1", true, false),
    ifa("lo", 1, "::1", true, false),
    ifa("eth0", 2, "192.168.1.10"),
    ifa("eth0", 2, "fe80::1"),
    ifa("eth0", 2, "2001:db8::10"),
    ifa("wlan0", 3, "192.168.2.10"),
    ifa("wlan0", 3, "fe80::2"),
    ifa("tun0", 4, "10.8.0.2"),
    ifa("docker0", 5, "172.17.0.1"),
    ifa("sit0", 6, "fe80::5", false, false),  // no multicast
};

std::vector<multiformats::multiaddr> addrs(std::initializer_list<const char*> texts) {
  std::vector<multiformats::multiaddr> out;
  for (const char* t : texts) {
    auto m = multiformats::multiaddr::parse(t);
    EXPECT_TRUE(m) << t;
    if (m) out.push_back(*m);
  }
  return out;
}

using strings = std::vector<std::string>;

}  // namespace

TEST(MdnsAddresses, WildcardV4ExpandsToTheInterfacesOwnAddresses) {
  const auto bound = addrs({"/ip4/0.0.0.0/tcp/4001"});
  EXPECT_EQ(addresses_for_interface(bound, pi, 2), strings{"/ip4/192.168.1.10/tcp/4001"});
  EXPECT_EQ(addresses_for_interface(bound, pi, 3), strings{"/ip4/192.168.2.10/tcp/4001"});
  EXPECT_EQ(addresses_for_interface(bound, pi, 1), strings{"/ip4/127.0.0.1/tcp/4001"});
  EXPECT_EQ(addresses_for_interface(bound, pi, 4), strings{"/ip4/10.8.0.2/tcp/4001"});
  EXPECT_TRUE(addresses_for_interface(bound, pi, 99).empty());
}

TEST(MdnsAddresses, VpnAndDockerAddressesAreNeverAnnouncedOnEth0) {
  const auto bound = addrs({"/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4002"});
  const auto eth0 = addresses_for_interface(bound, pi, 2);
  EXPECT_EQ(eth0, (strings{"/ip4/192.168.1.10/tcp/4001", "/ip6/2001:db8::10/tcp/4002"}));
  for (const auto& a : eth0) {
    EXPECT_EQ(a.find("10.8.0.2"), std::string::npos);
    EXPECT_EQ(a.find("172.17."), std::string::npos);
    EXPECT_EQ(a.find("127.0.0.1"), std::string::npos);
  }
  // A specific VPN address is announced on the VPN only.
  const auto vpn = addrs({"/ip4/10.8.0.2/tcp/4001", "/ip4/172.17.0.1/tcp/4001"});
  EXPECT_TRUE(addresses_for_interface(vpn, pi, 2).empty());
  EXPECT_EQ(addresses_for_interface(vpn, pi, 4), strings{"/ip4/10.8.0.2/tcp/4001"});
  EXPECT_EQ(addresses_for_interface(vpn, pi, 5), strings{"/ip4/172.17.0.1/tcp/4001"});
}

TEST(MdnsAddresses, WildcardV6SkipsLinkLocal) {
  const auto bound = addrs({"/ip6/::/tcp/4001"});
  EXPECT_EQ(addresses_for_interface(bound, pi, 2), strings{"/ip6/2001:db8::10/tcp/4001"});
  EXPECT_TRUE(addresses_for_interface(bound, pi, 3).empty()) << "wlan0 has only fe80::2";
  EXPECT_EQ(addresses_for_interface(bound, pi, 1), strings{"/ip6/::1/tcp/4001"});
}

TEST(MdnsAddresses, SpecificAddressesOnlyWhereTheyLive) {
  const auto bound = addrs({"/ip4/192.168.2.10/tcp/4001", "/ip6/2001:db8::10/tcp/4001",
                            "/ip4/192.168.1.10/udp/4001/quic-v1", "/ip4/192.168.1.99/tcp/1"});
  EXPECT_EQ(addresses_for_interface(bound, pi, 2),
            (strings{"/ip6/2001:db8::10/tcp/4001", "/ip4/192.168.1.10/udp/4001/quic-v1"}));
  EXPECT_EQ(addresses_for_interface(bound, pi, 3), strings{"/ip4/192.168.2.10/tcp/4001"});
}

TEST(MdnsAddresses, LoopbackOnlyNodeAnnouncesNothingOnTheLan) {
  const auto bound =
      addrs({"/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001", "/ip4/127.0.0.2/tcp/5"});
  for (unsigned i : {2u, 3u, 4u, 5u, 6u})
    EXPECT_TRUE(addresses_for_interface(bound, pi, i).empty()) << i;
  EXPECT_EQ(addresses_for_interface(bound, pi, 1),
            (strings{"/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001", "/ip4/127.0.0.2/tcp/5"}));
}

TEST(MdnsAddresses, PeerSuffixDroppedDuplicatesMergedNonIpSkipped) {
  crypto::init();
  crypto::seeded_rng rng(3);
  const auto id =
      multiformats::peer_id::from_public_key(crypto::ed25519_generate(rng).pub).to_string();
  const std::string with_id = "/ip4/192.168.1.10/tcp/4001/p2p/" + id;
  const auto bound = addrs({"/ip4/0.0.0.0/tcp/4001", "/ip4/192.168.1.10/tcp/4001",
                            "/dns4/example.com/tcp/4001", with_id.c_str()});
  EXPECT_EQ(addresses_for_interface(bound, pi, 2), strings{"/ip4/192.168.1.10/tcp/4001"});
  EXPECT_TRUE(addresses_for_interface({}, pi, 2).empty());
  EXPECT_TRUE(addresses_for_interface(bound, {}, 2).empty());
}

TEST(MdnsSelect, DefaultIsEveryUpMulticastNonLoopbackInterface) {
  mdns_options o;
  EXPECT_EQ(select_interfaces(pi, o), (strings{"docker0", "eth0", "tun0", "wlan0"}));
  EXPECT_TRUE(select_interfaces({}, o).empty());
}

TEST(MdnsSelect, DenyListWithPrefixes) {
  mdns_options o;
  o.deny = {"tun*", "docker*", "wlan"};  // "wlan" is exact: wlan0 stays
  EXPECT_EQ(select_interfaces(pi, o), (strings{"eth0", "wlan0"}));
  o.deny = {"*"};
  EXPECT_TRUE(select_interfaces(pi, o).empty());
  EXPECT_TRUE(node::interface_denied("tun12", {"tun*"}));
  EXPECT_FALSE(node::interface_denied("tu", {"tun*"}));
  EXPECT_FALSE(node::interface_denied("xtun0", {"tun*"}));
}

TEST(MdnsSelect, AllowListUnknownNamesAndDenyWins) {
  mdns_options o;
  o.interfaces = {"wlan0", "eth0", "eth0", "nope0"};
  EXPECT_EQ(select_interfaces(pi, o), (strings{"eth0", "wlan0"}));
  EXPECT_EQ(node::unknown_interfaces(pi, o), strings{"nope0"});
  o.interfaces = {"lo", "sit0"};  // explicitly asked for: used although not multicast/loopback
  EXPECT_EQ(select_interfaces(pi, o), (strings{"lo", "sit0"}));
  o.interfaces = {"eth0", "tun0"};
  o.deny = {"tun*"};
  EXPECT_EQ(select_interfaces(pi, o), strings{"eth0"});
  o.interfaces = {"nope0"};
  EXPECT_TRUE(select_interfaces(pi, o).empty()) << "an allow list of unknown names selects nothing";
}
