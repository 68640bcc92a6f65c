#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

#include "core/crypto/crypto.hpp"
#include "core/multiformats/multiaddr.hpp"
#include "core/multiformats/multibase.hpp"
#include "core/multiformats/multihash.hpp"

using namespace starling;
using namespace starling::multiformats;

namespace {
bytes hex(std::string_view h) {
  bytes out;
  EXPECT_TRUE(from_hex(h, out)) << h;
  return out;
}

// Peer id of the Ed25519 key in the peer-ids spec vectors.
constexpr std::string_view spec_peer = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
constexpr std::string_view spec_peer_mh_hex =
    "0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

multiaddr ma(std::string_view s) {
  auto r = multiaddr::parse(s);
  EXPECT_TRUE(r) << s << ": " << (r ? "" : r.error().message());
  return r ? *r : multiaddr{};
}

void expect_parse_error(std::string_view text, errc e, std::string_view detail_part = {}) {
  std::string detail;
  auto r = multiaddr::parse(text, &detail);
  ASSERT_FALSE(r) << text;
  EXPECT_EQ(r.error(), e) << text << " -> " << r.error().message() << " / " << detail;
  EXPECT_FALSE(detail.empty()) << text;
  if (!detail_part.empty()) {
    EXPECT_NE(detail.find(detail_part), std::string::npos) << detail;
  }
}

void expect_bytes_error(std::string_view h, errc e) {
  auto r = multiaddr::from_bytes(hex(h));
  ASSERT_FALSE(r) << h;
  EXPECT_EQ(r.error(), e) << h << " -> " << r.error().message();
}
}  // namespace

TEST(Multiaddr, EveryProtocolRoundTripsTextAndBinary) {
  const std::string certhash_text =
      multibase_encode(multibase::base64url, multihash::sha2_256(as_bytes("certificate")));
  const bytes certhash_mh = multihash::sha2_256(as_bytes("certificate"));
  struct vec {
    std::string text;
    std::string hex;
  };
  const vec vectors[] = {
      {"/ip4/127.0.0.1/tcp/4001", "047f000001060fa1"},
      {"/ip4/0.0.0.0/tcp/0", "0400000000060000"},
      {"/ip4/1.2.3.4/udp/65535/quic-v1", "04010203049102ffffcd03"},
      {"/ip4/1.2.3.4/udp/4001/quic",
       "04010203049102"
       "0fa1"
       "cc03"},
      {"/ip6/::1/tcp/443/tls/ws",
       "2900000000000000000000000000000001"
       "0601bb"
       "c003"
       "dd03"},
      {"/ip6zone/eth0/ip6/fe80::1/tcp/1",
       "2a0465746830"
       "29fe800000000000000000000000000001"
       "060001"},
      {"/dns/example.com/tcp/443/wss",
       "350b6578616d706c652e636f6d"
       "0601bb"
       "de03"},
      {"/dns4/example.com/tcp/80",
       "360b6578616d706c652e636f6d"
       "060050"},
      {"/dns6/x/udp/1",
       "370178"
       "91020001"},
      {"/dnsaddr/bootstrap.libp2p.io", "3813626f6f7473747261702e6c69627032702e696f"},
      {"/ip4/1.2.3.4/tcp/1/p2p/" + std::string(spec_peer),
       "0401020304060001"
       "a50326" +
           std::string(spec_peer_mh_hex)},
      {"/p2p/" + std::string(spec_peer) + "/p2p-circuit",
       "a50326" + std::string(spec_peer_mh_hex) + "a202"},
      {"/ip4/1.2.3.4/udp/1/quic-v1/webtransport/certhash/" + certhash_text,
       "0401020304"
       "91020001"
       "cd03"
       "d103"
       "d20322" +
           to_hex(certhash_mh)},
      {"/ip4/1.2.3.4/udp/1/webrtc-direct",
       "0401020304"
       "91020001"
       "9802"},
      {"/webrtc/noise",
       "9902"
       "c603"},
  };
  for (const auto& v : vectors) {
    auto parsed = multiaddr::parse(v.text);
    ASSERT_TRUE(parsed) << v.text << ": " << parsed.error().message();
    EXPECT_EQ(to_hex(parsed->to_bytes()), v.hex) << v.text;
    auto decoded = multiaddr::from_bytes(hex(v.hex));
    ASSERT_TRUE(decoded) << v.hex << ": " << decoded.error().message();
    EXPECT_EQ(decoded->to_string(), v.text);
    EXPECT_EQ(*decoded, *parsed);
  }
}

TEST(Multiaddr, ProtocolCodesMatchTheCurrentTable) {
  // multiformats/multiaddr protocols.csv (2025) and go-multiaddr protocols.go; older copies
  // list udp as 17 and p2p as 420.
  EXPECT_EQ(static_cast<std::uint64_t>(protocol_code::udp), 273u);
  EXPECT_EQ(static_cast<std::uint64_t>(protocol_code::p2p), 421u);
  EXPECT_EQ(static_cast<std::uint64_t>(protocol_code::p2p_circuit), 290u);
  EXPECT_EQ(static_cast<std::uint64_t>(protocol_code::quic_v1), 461u);
  EXPECT_EQ(static_cast<std::uint64_t>(protocol_code::certhash), 466u);
  EXPECT_EQ(protocol_name(465), "webtransport");
  EXPECT_EQ(protocol_name(42), "ip6zone");
  EXPECT_FALSE(protocol_name(33));  // dccp: not supported
}

TEST(Multiaddr, Ip6CompressionFormsPrintCanonically) {
  EXPECT_EQ(ma("/ip6/0:0:0:0:0:0:0:1").to_string(), "/ip6/::1");
  EXPECT_EQ(ma("/ip6/::1").to_bytes(), ma("/ip6/0000:0000::0001").to_bytes());
  EXPECT_EQ(ma("/ip6/2001:DB8:0:0:1:0:0:1/tcp/1").to_string(), "/ip6/2001:db8::1:0:0:1/tcp/1");
  EXPECT_EQ(ma("/ip6/2001:db8:0:1:1:1:1:1").to_string(),
            "/ip6/2001:db8:0:1:1:1:1:1");  // lone 0 kept
  EXPECT_EQ(ma("/ip6/::").to_string(), "/ip6/::");
  EXPECT_EQ(ma("/ip6/::ffff:1.2.3.4").to_string(), "/ip6/::ffff:1.2.3.4");
}

TEST(Multiaddr, IpfsIsAnAliasOfP2p) {
  const auto a = ma("/ip4/1.2.3.4/tcp/1/ipfs/" + std::string(spec_peer));
  const auto b = ma("/ip4/1.2.3.4/tcp/1/p2p/" + std::string(spec_peer));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.to_string(), "/ip4/1.2.3.4/tcp/1/p2p/" + std::string(spec_peer));
  // the CID form of the peer id gives the same binary, printed in base58btc
  const auto c = ma("/p2p/bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6");
  EXPECT_EQ(c.to_string(), "/p2p/" + std::string(spec_peer));
}

TEST(Multiaddr, ParseErrorsAreDistinctAndExplained) {
  expect_parse_error("", errc::empty_multiaddr);
  expect_parse_error("/", errc::empty_multiaddr);
  expect_parse_error("ip4/1.2.3.4", errc::missing_leading_slash);
  expect_parse_error("/ip4/1.2.3.4/", errc::trailing_slash);
  expect_parse_error("//ip4/1.2.3.4", errc::empty_component);
  expect_parse_error("/ip4/1.2.3.4//tcp/1", errc::empty_component);
  expect_parse_error("/ip5/1.2.3.4", errc::unknown_protocol_name, "'ip5'");
  expect_parse_error("/dccp/1", errc::unknown_protocol_name, "'dccp'");
  expect_parse_error("/ip4/1.2.3.4/tcp", errc::missing_value, "/tcp");
  expect_parse_error("/ip4/1.2.3/tcp/1", errc::invalid_ip4, "bad ip4 address '1.2.3'");
  expect_parse_error("/ip4/256.1.1.1", errc::invalid_ip4);
  expect_parse_error("/ip4/::1", errc::invalid_ip4);
  expect_parse_error("/ip6/1.2.3.4", errc::invalid_ip6);
  expect_parse_error("/ip6/fe80::1%eth0", errc::invalid_ip6, "bad ip6 address");
  expect_parse_error("/ip6/1:2:3:4:5:6:7:8:9", errc::invalid_ip6);
  expect_parse_error("/ip4/1.2.3.4/tcp/65536", errc::invalid_port, "'65536'");
  expect_parse_error("/ip4/1.2.3.4/udp/-1", errc::invalid_port, "udp port");
  expect_parse_error("/ip4/1.2.3.4/tcp/0x10", errc::invalid_port);
  expect_parse_error("/ip4/1.2.3.4/tcp/100000", errc::invalid_port);
  expect_parse_error("/dns4/a\x01z/tcp/1", errc::invalid_name, "dns4");
  expect_parse_error("/dns/" + std::string(256, 'a'), errc::invalid_name);
  expect_parse_error("/p2p/QmNotAPeer", errc::invalid_peer_id, "bad peer id 'QmNotAPeer'");
  expect_parse_error("/p2p/hello", errc::invalid_peer_id);
  expect_parse_error("/certhash/xyz", errc::invalid_certhash);
  expect_parse_error("/certhash/uAAE", errc::invalid_certhash);  // 00 01: multihash cut short
  expect_parse_error(std::string(5000, '/'), errc::multiaddr_too_long);
  std::string long_text;
  for (int i = 0; i < 5; ++i)
    long_text += "/dns/" + std::string(250, 'a');
  expect_parse_error(long_text, errc::multiaddr_too_long, "1024");
}

TEST(Multiaddr, DescribeParseErrorGivesOneCliLine) {
  EXPECT_EQ(describe_parse_error("/ip4/1.2.3/tcp/1"),
            "invalid multiaddr '/ip4/1.2.3/tcp/1': bad ip4 address '1.2.3'");
  EXPECT_EQ(describe_parse_error("/ip4/1.2.3.4/tcp/1"), "");
  std::string detail = "stale";
  EXPECT_TRUE(multiaddr::parse("/tls", &detail));
  EXPECT_TRUE(detail.empty());
}

TEST(Multiaddr, BinaryErrors) {
  expect_bytes_error("", errc::empty_multiaddr);
  expect_bytes_error("2104d2", errc::unknown_protocol_code);  // dccp (33)
  expect_bytes_error(
      "047f000001"
      "2104d2",
      errc::unknown_protocol_code);                                  // a later component
  expect_bytes_error("ffffffffffffffffff01", errc::invalid_varint);  // overlong code
  expect_bytes_error("8400", errc::invalid_varint);                  // non-minimal code
  expect_bytes_error("80", errc::truncated_multiaddr);               // code cut short
  expect_bytes_error("047f00", errc::truncated_multiaddr);           // ip4 cut short
  expect_bytes_error("047f000001060f", errc::truncated_multiaddr);   // port cut short
  expect_bytes_error("3610616263", errc::truncated_multiaddr);       // dns4 length 16, 3 bytes
  expect_bytes_error("36", errc::truncated_multiaddr);               // dns4 without length
  expect_bytes_error("36ffffffffffffffffff01", errc::invalid_varint);
  expect_bytes_error("3603612f62", errc::invalid_name);  // "a/b"
  expect_bytes_error("3600", errc::invalid_name);        // empty name
  expect_bytes_error("2a00", errc::invalid_name);        // empty ip6zone
  expect_bytes_error("a503020102", errc::invalid_peer_id);
  expect_bytes_error(
      "a503050003616263"
      "00",
      errc::unknown_protocol_code);  // 0 is not a protocol
  expect_bytes_error("d203020102", errc::invalid_certhash);
  bytes big;
  for (int i = 0; i < 300; ++i)
    append(big, hex("047f000001"));
  auto r = multiaddr::from_bytes(big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::multiaddr_too_long);
}

TEST(Multiaddr, TcpEndpoint) {
  auto ep = ma("/ip4/10.0.0.2/tcp/4001").tcp_endpoint();
  ASSERT_TRUE(ep);
  EXPECT_FALSE(ep->is_v6);
  EXPECT_EQ(ep->port, 4001);
  EXPECT_EQ(ep->ip_string(), "10.0.0.2");
  auto ep6 = ma("/ip6/::1/tcp/80/p2p/" + std::string(spec_peer)).tcp_endpoint();
  ASSERT_TRUE(ep6);
  EXPECT_TRUE(ep6->is_v6);
  EXPECT_EQ(ep6->ip_string(), "::1");
  EXPECT_EQ(ep6->port, 80);
  auto zoned = ma("/ip6zone/eth0/ip6/fe80::1/tcp/7").tcp_endpoint();
  ASSERT_TRUE(zoned);
  EXPECT_EQ(zoned->zone, "eth0");
  EXPECT_EQ(zoned->ip_string(), "fe80::1%eth0");
  EXPECT_EQ(multiaddr::from_tcp_endpoint(*zoned).to_string(), "/ip6zone/eth0/ip6/fe80::1/tcp/7");
  EXPECT_EQ(multiaddr::from_tcp_endpoint(*ep).to_string(), "/ip4/10.0.0.2/tcp/4001");
  for (std::string_view s : {"/ip4/1.2.3.4/udp/1", "/dns4/a/tcp/1", "/ip4/1.2.3.4/tcp/1/ws",
                             "/ip4/1.2.3.4", "/ip6zone/eth0/ip4/1.2.3.4/tcp/1", "/tcp/1",
                             "/ip4/1.2.3.4/tcp/1/p2p/"
                             "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq/p2p-circuit"}) {
    EXPECT_FALSE(ma(s).tcp_endpoint()) << s;
  }
}

TEST(Multiaddr, PeerHelpers) {
  const auto id = peer_id::parse(spec_peer).value();
  const auto base = ma("/ip4/1.2.3.4/tcp/1");
  EXPECT_FALSE(base.peer());
  auto with = base.with_peer(id);
  ASSERT_TRUE(with);
  EXPECT_EQ(with->to_string(), "/ip4/1.2.3.4/tcp/1/p2p/" + std::string(spec_peer));
  EXPECT_EQ(with->peer(), id);
  EXPECT_EQ(with->without_peer(), base);
  EXPECT_EQ(base.without_peer(), base);
  // with_peer replaces a trailing /p2p/
  const auto other = peer_id::from_bytes(multihash::sha2_256(as_bytes("x"))).value();
  EXPECT_EQ(with->with_peer(other).value().peer(), other);
  EXPECT_EQ(with->with_peer(other).value().without_peer(), base);
  EXPECT_EQ(base.with_peer(peer_id{}).error(), errc::invalid_peer_id);
  // a relayed address: the peer is the last /p2p/
  auto relayed = ma("/ip4/1.2.3.4/tcp/1/p2p/" + std::string(spec_peer) + "/p2p-circuit/p2p/" +
                    other.to_string());
  EXPECT_EQ(relayed.peer(), other);
  EXPECT_FALSE(ma("/p2p/" + std::string(spec_peer) + "/p2p-circuit").peer());
}

TEST(Multiaddr, EncapsulateComponentsLoopbackHash) {
  const auto a = ma("/ip4/127.0.0.1/tcp/1");
  const auto b = ma("/p2p-circuit");
  auto ab = a.encapsulate(b);
  ASSERT_TRUE(ab);
  EXPECT_EQ(ab->to_string(), "/ip4/127.0.0.1/tcp/1/p2p-circuit");
  const auto cs = ab->components();
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[0].code, protocol_code::ip4);
  EXPECT_EQ(cs[0].value, (bytes{127, 0, 0, 1}));
  EXPECT_EQ(cs[0].value_text(), "127.0.0.1");
  EXPECT_EQ(cs[1].name(), "tcp");
  EXPECT_EQ(cs[1].value_text(), "1");
  EXPECT_EQ(cs[2].code, protocol_code::p2p_circuit);
  EXPECT_TRUE(cs[2].value.empty());
  auto big = ma("/dns/" + std::string(250, 'a') + "/dns/" + std::string(250, 'b'));
  auto bigger = big.encapsulate(big);
  ASSERT_TRUE(bigger);
  EXPECT_EQ(bigger->encapsulate(big).error(), errc::multiaddr_too_long);

  EXPECT_TRUE(a.is_loopback());
  EXPECT_TRUE(ma("/ip4/127.255.0.9/udp/1").is_loopback());
  EXPECT_TRUE(ma("/ip6/::1/tcp/1").is_loopback());
  EXPECT_FALSE(ma("/ip4/128.0.0.1/tcp/1").is_loopback());
  EXPECT_FALSE(ma("/ip6/::2/tcp/1").is_loopback());
  EXPECT_FALSE(ma("/dns4/localhost/tcp/1").is_loopback());

  std::unordered_set<multiaddr> set{a, ma("/ip4/127.0.0.1/tcp/1"), b};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_TRUE(multiaddr{}.empty());
  EXPECT_EQ(multiaddr{}.to_string(), "");
}
