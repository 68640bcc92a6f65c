// Peer exchange core: wire bytes, round trips, limits on both sides, bad protobuf, the skip
// rules for peer ids and addresses, the asker filter, and the framed reader.
#include <gtest/gtest.h>

#include "core/crypto/crypto.hpp"
#include "core/multiformats/multiaddr.hpp"
#include "core/multiformats/peer_id.hpp"
#include "core/multiformats/varint.hpp"
#include "core/pex/pex.hpp"

namespace starling::pex {
/// Readable failure output.
void PrintTo(const peer_record& r, std::ostream* os) {
  *os << r.peer_id << " [";
  for (const auto& a : r.addrs)
    *os << ' ' << a;
  *os << " ]";
}
}  // namespace starling::pex

using namespace starling;
using multiformats::multiaddr;
using multiformats::peer_id;

namespace {

class Pex : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
};

peer_id make_id(std::uint64_t seed) {
  crypto::seeded_rng r(seed);
  return peer_id::from_public_key(crypto::ed25519_generate(r).pub);
}
std::string id_text(std::uint64_t seed) {
  return make_id(seed).to_string();
}

bytes addr_bytes(std::string_view text) {
  auto a = multiaddr::parse(text);
  EXPECT_TRUE(a) << text;
  return a ? a->to_bytes() : bytes{};
}

/// One protobuf length-delimited field, written by hand (independent of the generated code).
bytes field(std::uint8_t tag, bytes_view value) {
  bytes out{tag};
  varint::encode(value.size(), out);
  append(out, value);
  return out;
}
bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts)
    append(out, p);
  return out;
}
/// PexPeer{id, addrs...} wrapped as one PexMessage.peers entry.
bytes peer_entry(bytes_view id, std::initializer_list<bytes> addrs) {
  bytes body = field(0x0a, id);
  for (const auto& a : addrs)
    append(body, field(0x12, a));
  return field(0x0a, body);
}

std::vector<std::string> texts(std::initializer_list<const char*> l) {
  return {l.begin(), l.end()};
}

}  // namespace

TEST_F(Pex, WireBytesOfOneRecord) {
  const peer_id id = make_id(1);
  const std::vector<pex::peer_record> in{{id.to_string(), texts({"/ip4/10.0.0.2/tcp/4001"})}};
  const bytes expected = peer_entry(id.bytes(), {addr_bytes("/ip4/10.0.0.2/tcp/4001")});
  EXPECT_EQ(to_hex(pex::encode(in)), to_hex(expected));
  bytes framed;
  varint::write_frame(expected, framed);
  EXPECT_EQ(pex::encode_frame(in), framed);
}

TEST_F(Pex, RoundTrip) {
  const std::vector<pex::peer_record> in{
      {id_text(1),
       texts({"/ip4/10.0.0.2/tcp/4001", "/ip6/fd00::7/tcp/4001", "/dns4/pi.local/tcp/9"})},
      {id_text(2), texts({"/ip4/192.168.1.20/tcp/35000"})},
  };
  auto out = pex::decode(pex::encode(in));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(*out, in);
}

TEST_F(Pex, EmptyList) {
  EXPECT_TRUE(pex::encode({}).empty());
  EXPECT_EQ(pex::encode_frame({}), bytes{0x00});
  auto out = pex::decode({});
  ASSERT_TRUE(out);
  EXPECT_TRUE(out->empty());

  pex::reader r;
  auto got = r.feed(bytes{0x00});
  ASSERT_TRUE(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_TRUE((*got)->empty());
  EXPECT_TRUE(r.on_eof());
}

TEST_F(Pex, EncoderKeepsToTheLimits) {
  std::vector<pex::peer_record> many;
  for (std::uint64_t i = 1; i <= 100; ++i) {
    pex::peer_record rec{id_text(i), {}};
    for (int port = 1; port <= 20; ++port)
      rec.addrs.push_back("/ip4/10.0.0.1/tcp/" + std::to_string(port));
    many.push_back(rec);
  }
  const bytes body = pex::encode(many);
  EXPECT_LE(body.size(), 16u * 1024);
  const pex::limits wide{
      .max_message_bytes = 1 << 20, .max_peers = 1000, .max_addrs_per_peer = 100};
  auto out = pex::decode(body, wide);
  ASSERT_TRUE(out);
  ASSERT_EQ(out->size(), 64u);
  for (std::size_t i = 0; i < out->size(); ++i) {
    EXPECT_EQ((*out)[i].peer_id, many[i].peer_id);
    EXPECT_EQ((*out)[i].addrs,
              std::vector<std::string>(many[i].addrs.begin(), many[i].addrs.begin() + 8));
  }

  // A small byte budget: whole records only, in order, under the budget.
  const pex::limits small{.max_message_bytes = 300};
  const bytes cut = pex::encode(many, small);
  EXPECT_LE(cut.size(), 300u);
  auto part = pex::decode(cut, small);
  ASSERT_TRUE(part);
  ASSERT_FALSE(part->empty());
  EXPECT_LT(part->size(), 64u);
  for (std::size_t i = 0; i < part->size(); ++i)
    EXPECT_EQ((*part)[i].peer_id, many[i].peer_id);
}

TEST_F(Pex, EncoderSkipsARecordTooBigButKeepsLaterOnes) {
  pex::peer_record big{id_text(1), {}};
  for (int i = 0; i < 8; ++i)
    big.addrs.push_back("/dns4/a-rather-long-host-name-number-" + std::to_string(i) +
                        ".example/tcp/1");
  const pex::peer_record small{id_text(2), texts({"/ip4/10.0.0.3/tcp/1"})};
  const pex::limits l{.max_message_bytes = 120};
  auto out = pex::decode(pex::encode({big, small}, l), l);
  ASSERT_TRUE(out);
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0], small);
}

TEST_F(Pex, DecoderKeepsToTheLimits) {
  bytes body;
  for (std::uint64_t i = 1; i <= 70; ++i) {
    bytes rec = field(0x0a, make_id(i).bytes());
    for (int port = 1; port <= 10; ++port) {
      append(rec, field(0x12, addr_bytes("/ip4/10.0.0.1/tcp/" + std::to_string(port))));
    }
    append(body, field(0x0a, rec));
  }
  ASSERT_LE(body.size(), 16u * 1024);
  auto out = pex::decode(body);
  ASSERT_TRUE(out);
  ASSERT_EQ(out->size(), 64u);
  EXPECT_EQ(out->back().peer_id, id_text(64));
  for (const auto& r : *out)
    EXPECT_EQ(r.addrs.size(), 8u);

  auto tight =
      pex::decode(body, {.max_message_bytes = 16 * 1024, .max_peers = 3, .max_addrs_per_peer = 2});
  ASSERT_TRUE(tight);
  ASSERT_EQ(tight->size(), 3u);
  EXPECT_EQ((*tight)[2].addrs, texts({"/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.1/tcp/2"}));
}

TEST_F(Pex, OversizedBodyIsRejected) {
  // Valid protobuf (one unknown bytes field) but one byte over the limit.
  const pex::limits l{.max_message_bytes = 100};
  bytes body = field(0x7a, bytes(98, 0x41));  // tag 15, length 98: exactly 100 bytes
  ASSERT_EQ(body.size(), 100u);
  EXPECT_TRUE(pex::decode(body, l));
  body = field(0x7a, bytes(99, 0x41));
  auto r = pex::decode(body, l);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), pex::errc::too_large);
}

TEST_F(Pex, BadProtobufIsRejected) {
  for (const char* h : {"0a05010203",              // length past the end
                        "0a",                      // tag without its length
                        "ffffffffffffffffffff01",  // overlong tag varint
                        "0a020a10",                // peer whose id length is past its end
                        "0f"}) {                   // wire type 7 does not exist
    bytes b;
    ASSERT_TRUE(from_hex(h, b));
    auto r = pex::decode(b);
    ASSERT_FALSE(r) << h;
    EXPECT_EQ(r.error(), pex::errc::malformed_message) << h;
  }
}

TEST_F(Pex, DecoderSkipRules) {
  const peer_id a = make_id(1), b = make_id(2), c = make_id(3);
  const bytes good = addr_bytes("/ip4/10.0.0.2/tcp/4001");
  bytes unknown_code;
  ASSERT_TRUE(from_hex("0301020304", unknown_code));  // multiaddr code 3 is not in the table
  const bytes own_p2p = addr_bytes("/ip4/10.0.0.5/tcp/5/p2p/" + a.to_string());
  const bytes other_p2p = addr_bytes("/ip4/10.0.0.6/tcp/6/p2p/" + b.to_string());
  const bytes only_p2p = addr_bytes("/p2p/" + a.to_string());
  const bytes body = cat({
      peer_entry(bytes{0x12, 0x03, 0x01, 0x02, 0x03}, {good}),  // truncated sha256 id: skipped
      peer_entry(bytes{}, {good}),                              // no id: skipped
      peer_entry(a.bytes(), {unknown_code, own_p2p, other_p2p, only_p2p, good, good}),
      peer_entry(a.bytes(), {addr_bytes("/ip4/10.9.9.9/tcp/9")}),  // repeated id: skipped
      peer_entry(b.bytes(), {unknown_code, own_p2p}),  // (a's /p2p/) nothing usable: skipped
      field(0x7a, as_bytes("unknown field")),          // ignored
      field(0x0a, cat({field(0x0a, c.bytes()), field(0x7a, bytes{1, 2}), field(0x12, good)})),
  });
  auto out = pex::decode(body);
  ASSERT_TRUE(out) << out.error().message();
  const std::vector<pex::peer_record> expected{
      {a.to_string(), texts({"/ip4/10.0.0.5/tcp/5", "/ip4/10.0.0.2/tcp/4001"})},
      {c.to_string(), texts({"/ip4/10.0.0.2/tcp/4001"})},
  };
  EXPECT_EQ(*out, expected);
}

TEST_F(Pex, SkippedAddressesDoNotCountAgainstTheLimit) {
  bytes bad;
  ASSERT_TRUE(from_hex("0301020304", bad));
  const bytes body = peer_entry(
      make_id(1).bytes(), {bad, bad, bad, addr_bytes("/ip4/10.0.0.1/tcp/1"),
                           addr_bytes("/ip4/10.0.0.1/tcp/2"), addr_bytes("/ip4/10.0.0.1/tcp/3")});
  auto out =
      pex::decode(body, {.max_message_bytes = 1024, .max_peers = 4, .max_addrs_per_peer = 2});
  ASSERT_TRUE(out);
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].addrs, texts({"/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.1/tcp/2"}));
}

TEST_F(Pex, EncoderSkipRules) {
  const std::string a = id_text(1), b = id_text(2);
  const std::vector<pex::peer_record> in{
      {"not-a-peer-id", texts({"/ip4/10.0.0.1/tcp/1"})},
      {a,
       {"/ip4/10.0.0.1/tcp/1/p2p/" + a, "garbage", "/ip4/10.0.0.2/tcp/2/p2p/" + b,
        "/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.3/tcp/3"}},
      {b, texts({"/ip4/300.0.0.1/tcp/1"})},  // nothing valid: left out
      {a, texts({"/ip4/10.0.0.9/tcp/9"})},   // repeated id: left out
  };
  auto out = pex::decode(pex::encode(in));
  ASSERT_TRUE(out);
  const std::vector<pex::peer_record> expected{
      {a, texts({"/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.3/tcp/3"})}};
  EXPECT_EQ(*out, expected);
}

TEST_F(Pex, CidPeerIdsComeBackAsBase58) {
  const peer_id a = make_id(1);
  auto out = pex::decode(pex::encode({{a.to_cid_string(), texts({"/ip4/10.0.0.1/tcp/1"})}}));
  ASSERT_TRUE(out);
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].peer_id, a.to_string());
}

TEST_F(Pex, FilterForAsker) {
  const std::string asker = id_text(1), b = id_text(2), c = id_text(3);
  const std::vector<pex::peer_record> in{
      {asker, texts({"/ip4/10.0.0.1/tcp/1"})},
      {b, texts({"/ip4/127.0.0.1/tcp/2", "/ip4/10.0.0.2/tcp/2", "/ip6/::1/tcp/2"})},
      {c, texts({"/ip4/127.0.0.1/tcp/3"})},
      {"bogus", texts({"/ip4/10.0.0.4/tcp/4"})},
  };
  const std::vector<pex::peer_record> remote{{b, texts({"/ip4/10.0.0.2/tcp/2"})}};
  EXPECT_EQ(pex::filter_for_asker(in, asker, false), remote);
  const std::vector<pex::peer_record> local{
      {b, texts({"/ip4/127.0.0.1/tcp/2", "/ip4/10.0.0.2/tcp/2", "/ip6/::1/tcp/2"})},
      {c, texts({"/ip4/127.0.0.1/tcp/3"})},
  };
  EXPECT_EQ(pex::filter_for_asker(in, asker, true), local);
  // The asker in CID form is recognised too.
  EXPECT_EQ(pex::filter_for_asker(in, make_id(1).to_cid_string(), false), remote);
}

TEST_F(Pex, ReaderByteByByte) {
  const std::vector<pex::peer_record> in{{id_text(1), texts({"/ip4/10.0.0.2/tcp/4001"})}};
  const bytes framed = pex::encode_frame(in);
  pex::reader r;
  for (std::size_t i = 0; i + 1 < framed.size(); ++i) {
    auto got = r.feed(bytes_view(framed).subspan(i, 1));
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->has_value());
  }
  auto got = r.feed(bytes_view(framed).last(1));
  ASSERT_TRUE(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, in);
  EXPECT_TRUE(r.complete());
  EXPECT_TRUE(r.feed({}));  // nothing more: fine
  EXPECT_TRUE(r.on_eof());
  EXPECT_EQ(r.on_eof().error(), pex::errc::already_finished);
}

TEST_F(Pex, ReaderErrors) {
  const bytes framed = pex::encode_frame({{id_text(1), texts({"/ip4/10.0.0.2/tcp/4001"})}});
  {
    pex::reader r;
    bytes more = framed;
    more.push_back(0x00);
    auto got = r.feed(more);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error(), pex::errc::trailing_data);
    EXPECT_EQ(r.feed(bytes{0x00}).error(), pex::errc::trailing_data);  // sticky
  }
  {
    pex::reader r;
    ASSERT_TRUE(r.feed(framed));
    EXPECT_EQ(r.feed(bytes{0x01}).error(), pex::errc::trailing_data);
  }
  {
    pex::reader r;
    ASSERT_TRUE(r.feed(bytes_view(framed).first(framed.size() - 1)));
    EXPECT_EQ(r.on_eof().error(), pex::errc::truncated);
  }
  {
    pex::reader r;
    EXPECT_EQ(r.on_eof().error(), pex::errc::no_message);
  }
  {
    pex::reader r({.max_message_bytes = 10});
    bytes big;
    varint::encode(11, big);
    EXPECT_EQ(r.feed(big).error(), pex::errc::too_large);
  }
  {
    pex::reader r;
    EXPECT_EQ(r.feed(bytes{0x80, 0x00}).error(), pex::errc::malformed_frame);  // non-minimal
  }
  {
    pex::reader r;
    EXPECT_EQ(r.feed(bytes{0x02, 0x0a, 0x05}).error(), pex::errc::malformed_message);
  }
  {
    pex::reader r;
    ASSERT_TRUE(r.feed(bytes{0x00}));
    ASSERT_TRUE(r.on_eof());
    EXPECT_EQ(r.feed(bytes{0x00}).error(), pex::errc::already_finished);
  }
}

TEST_F(Pex, ReaderNeverBuffersMoreThanOneFrame) {
  // A 4 KiB limit, fed 1 MiB in one call: an error at once (the announced length is too big).
  pex::reader r({.max_message_bytes = 4096});
  bytes flood(1 << 20, 0xff);
  EXPECT_FALSE(r.feed(flood));
  // A frame of exactly the limit followed by junk in one call: trailing data, not a crash.
  pex::reader r2({.max_message_bytes = 4});
  bytes f;
  varint::write_frame(bytes{0x7a, 0x02, 0x00, 0x00}, f);
  append(f, bytes(5000, 0x00));
  EXPECT_EQ(r2.feed(f).error(), pex::errc::trailing_data);
}

TEST_F(Pex, ErrorCategory) {
  const std::error_code ec = pex::errc::too_large;
  EXPECT_STREQ(ec.category().name(), "pex");
  EXPECT_EQ(ec.message(), "peer-exchange message too large");
}
