#include <gtest/gtest.h>

#include "core/identify/identify.hpp"
#include "core/multiformats/varint.hpp"

using namespace starling;

namespace {
bytes hex(std::string_view h) {
  bytes b;
  EXPECT_TRUE(from_hex(h, b));
  return b;
}
bytes raw(std::string_view s) {
  return bytes(s.begin(), s.end());
}

identify::info sample() {
  identify::info i;
  i.public_key = hex("080112201ed1e8fae2c4a144b8be8fd4b47bf3b3b34b871c3cacf6010f0e42d474fce27e");
  i.listen_addrs = {hex("047f000001067a69"), hex("29000000000000000000000000000000010601bb")};
  i.protocols = {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"};
  i.observed_addr = hex("04c0a80001060fa0");
  i.protocol_version = "ipfs/0.1.0";
  i.agent_version = "starling/0.1.0";
  return i;
}

void expect_same(const identify::info& a, const identify::info& b) {
  EXPECT_EQ(a.public_key, b.public_key);
  EXPECT_EQ(a.listen_addrs, b.listen_addrs);
  EXPECT_EQ(a.protocols, b.protocols);
  EXPECT_EQ(a.observed_addr, b.observed_addr);
  EXPECT_EQ(a.protocol_version, b.protocol_version);
  EXPECT_EQ(a.agent_version, b.agent_version);
  EXPECT_EQ(a.signed_peer_record, b.signed_peer_record);
}
}  // namespace

TEST(Identify, EncodeBytes) {
  identify::info i;
  i.agent_version = "a";
  i.protocols = {"/p"};
  i.listen_addrs = {hex("047f000001")};
  // Fields in number order: 2 listenAddrs (0x12), 3 protocols (0x1a), 6 agentVersion (0x32);
  // 14 bytes in all behind the length prefix.
  EXPECT_EQ(to_hex(identify::encode(i)),
            "0e"
            "1205047f000001"
            "1a022f70"
            "320161");
}

TEST(Identify, RoundTripEverySplit) {
  auto i = sample();
  i.signed_peer_record = hex("0a0b0c");
  const bytes wire = identify::encode(i);
  for (std::size_t at = 0; at <= wire.size(); ++at) {
    identify::reader r;
    ASSERT_TRUE(r.feed(bytes_view(wire).first(at)));
    ASSERT_TRUE(r.feed(bytes_view(wire).subspan(at)));
    auto got = r.on_eof();
    ASSERT_TRUE(got) << at;
    expect_same(*got, i);
    EXPECT_EQ(r.messages(), 1u);
  }
}

TEST(Identify, MergesSplitMessages) {
  // go splits a large record: repeated fields append, singular fields last one wins.
  identify::info a;
  a.public_key = raw("key1");
  a.listen_addrs = {raw("A1")};
  a.protocols = {"/p1"};
  a.agent_version = "first";
  identify::info b;
  b.listen_addrs = {raw("A2"), raw("A3")};
  b.protocols = {"/p2"};
  b.agent_version = "second";
  b.signed_peer_record = raw("spr");
  bytes wire = identify::encode(a);
  append(wire, identify::encode(b));
  for (std::size_t at = 0; at <= wire.size(); ++at) {
    identify::reader r;
    ASSERT_TRUE(r.feed(bytes_view(wire).first(at)));
    ASSERT_TRUE(r.feed(bytes_view(wire).subspan(at)));
    auto got = r.on_eof();
    ASSERT_TRUE(got);
    EXPECT_EQ(r.messages(), 2u);
    EXPECT_EQ(got->public_key, raw("key1")) << "absent in the second message: kept";
    EXPECT_EQ(got->listen_addrs, (std::vector<bytes>{raw("A1"), raw("A2"), raw("A3")}));
    EXPECT_EQ(got->protocols, (std::vector<std::string>{"/p1", "/p2"}));
    EXPECT_EQ(got->agent_version, "second");
    EXPECT_EQ(got->signed_peer_record, raw("spr"));
    EXPECT_FALSE(got->observed_addr);
  }
}

TEST(Identify, SkipsUnknownFields) {
  // field 7 (varint) and field 9 (bytes) are not in the schema.
  const bytes wire =
      hex("0a"
          "3801"
          "4a03616263"
          "320161");
  identify::reader r;
  ASSERT_TRUE(r.feed(wire));
  auto got = r.on_eof();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->agent_version, "a");
}

TEST(Identify, Errors) {
  {
    identify::reader r;
    EXPECT_EQ(r.on_eof().error(), identify::errc::no_message);
  }
  {
    identify::reader r;
    ASSERT_TRUE(r.feed(hex("0512")));
    EXPECT_EQ(r.on_eof().error(), identify::errc::truncated);
  }
  {
    identify::reader r;  // field 2 claims 5 bytes, only 1 follows
    EXPECT_EQ(r.feed(hex("021205")).error(), identify::errc::malformed_message);
    EXPECT_EQ(r.on_eof().error(), identify::errc::malformed_message) << "error sticks";
  }
  {
    identify::reader r;
    EXPECT_EQ(r.feed(hex("8000")).error(), identify::errc::malformed_frame);
  }
  {
    identify::reader r({.max_total_bytes = 100, .max_messages = 16});
    EXPECT_EQ(r.feed(hex("65")).error(), identify::errc::too_large) << "101 > 100";
  }
  {
    identify::reader r({.max_total_bytes = 100, .max_messages = 16});
    bytes partial = hex("50");  // an 80-byte message, 59 bytes of it so far
    partial.resize(60, 0);
    ASSERT_TRUE(r.feed(partial));
    EXPECT_EQ(r.feed(bytes(41, 0)).error(), identify::errc::too_large);
  }
  {
    identify::reader r({.max_total_bytes = 100, .max_messages = 2});
    EXPECT_EQ(r.feed(bytes{0, 0, 0}).error(), identify::errc::too_many_messages);
  }
  {
    identify::reader r;
    ASSERT_TRUE(r.feed(identify::encode(sample())));
    ASSERT_TRUE(r.on_eof());
    EXPECT_EQ(r.feed(bytes{0}).error(), identify::errc::already_finished);
  }
}

TEST(Identify, AcceptsLargeGoRecord) {
  // A go peer may send up to 10 messages of 8 KiB.
  identify::info big;
  for (int k = 0; k < 200; ++k)
    big.listen_addrs.push_back(bytes(30, static_cast<std::uint8_t>(k)));
  bytes wire;
  for (int m = 0; m < 6; ++m)
    append(wire, identify::encode(big));
  ASSERT_GT(wire.size(), 6u * 6000u);
  identify::reader r;
  ASSERT_TRUE(r.feed(wire));
  auto got = r.on_eof();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->listen_addrs.size(), 1200u);
}
