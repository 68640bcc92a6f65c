#include <gtest/gtest.h>

#include <map>
#include <unordered_set>

#include "core/crypto/crypto.hpp"
#include "core/multiformats/keys.hpp"
#include "core/multiformats/multibase.hpp"
#include "core/multiformats/multihash.hpp"
#include "core/multiformats/peer_id.hpp"

using namespace starling;
using namespace starling::multiformats;

namespace {
class Keys : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
  crypto::ed25519_keypair make(std::uint64_t seed) {
    crypto::seeded_rng r(seed);
    return crypto::ed25519_generate(r);
  }
};

bytes cat(std::initializer_list<bytes_view> parts) {
  bytes out;
  for (auto p : parts)
    append(out, p);
  return out;
}
}  // namespace

TEST_F(Keys, PublicKeyLayoutIsTypeThenData) {
  const auto kp = make(1);
  const bytes enc = encode_public_key(kp.pub);
  ASSERT_EQ(enc.size(), 36u);
  EXPECT_EQ(bytes(enc.begin(), enc.begin() + 4), (bytes{0x08, 0x01, 0x12, 0x20}));
  EXPECT_TRUE(std::equal(kp.pub.begin(), kp.pub.end(), enc.begin() + 4));
  EXPECT_EQ(decode_public_key(enc).value(), kp.pub);
}

TEST_F(Keys, PublicKeyDecodeRejectsNonCanonicalAndBadInput) {
  const auto kp = make(2);
  const bytes type{0x08, 0x01};
  const bytes data_hdr{0x12, 0x20};
  // fields in reverse order: valid protobuf, but not the spec's deterministic encoding
  EXPECT_EQ(decode_public_key(cat({data_hdr, kp.pub, type})).error(), errc::invalid_key_encoding);
  // an extra (unknown) field
  EXPECT_EQ(decode_public_key(cat({type, data_hdr, kp.pub, bytes{0x18, 0x01}})).error(),
            errc::invalid_key_encoding);
  // a repeated Type field
  EXPECT_EQ(decode_public_key(cat({type, type, data_hdr, kp.pub})).error(),
            errc::invalid_key_encoding);
  // missing Data, unknown key type 9, garbage, empty
  EXPECT_EQ(decode_public_key(type).error(), errc::invalid_key_encoding);
  EXPECT_EQ(decode_public_key(cat({bytes{0x08, 0x09}, data_hdr, kp.pub})).error(),
            errc::invalid_key_encoding);
  EXPECT_EQ(decode_public_key(bytes{0xff, 0xff, 0xff}).error(), errc::invalid_key_encoding);
  EXPECT_EQ(decode_public_key({}).error(), errc::invalid_key_encoding);
  // wrong length of Ed25519 Data
  EXPECT_EQ(decode_public_key(cat({type, bytes{0x12, 0x1f}, bytes_view(kp.pub).first(31)})).error(),
            errc::invalid_key_length);
  // above the size cap
  bytes huge = cat({bytes{0x08, 0x00, 0x12, 0xa0, 0x9c, 0x01}, bytes(20000, 0x41)});
  EXPECT_EQ(decode_public_key(huge).error(), errc::invalid_key_encoding);
  // secp256k1 key: well formed, clearly unsupported
  EXPECT_EQ(decode_public_key(cat({bytes{0x08, 0x02, 0x12, 0x21}, bytes(33, 0x02)})).error(),
            errc::unsupported_key_type);
}

TEST_F(Keys, PrivateKeyRoundTripAndLegacyForm) {
  const auto kp = make(3);
  const bytes enc = encode_private_key(kp);
  ASSERT_EQ(enc.size(), 4u + 64u);
  EXPECT_EQ(bytes(enc.begin(), enc.begin() + 4), (bytes{0x08, 0x01, 0x12, 0x40}));
  auto back = decode_private_key(enc);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->seed, kp.seed);
  EXPECT_EQ(back->pub, kp.pub);
  // legacy: seed || pub || pub
  const bytes legacy = cat({bytes{0x08, 0x01, 0x12, 0x60}, kp.seed, kp.pub, kp.pub});
  EXPECT_EQ(decode_private_key(legacy).value().pub, kp.pub);
}

TEST_F(Keys, PrivateKeyErrors) {
  const auto kp = make(4);
  const auto other = make(5);
  EXPECT_EQ(decode_private_key(cat({bytes{0x08, 0x01, 0x12, 0x40}, kp.seed, other.pub})).error(),
            errc::key_mismatch);
  EXPECT_EQ(
      decode_private_key(cat({bytes{0x08, 0x01, 0x12, 0x60}, kp.seed, kp.pub, other.pub})).error(),
      errc::key_mismatch);
  EXPECT_EQ(decode_private_key(cat({bytes{0x08, 0x01, 0x12, 0x20}, kp.seed})).error(),
            errc::invalid_key_length);
  EXPECT_EQ(decode_private_key(cat({bytes{0x08, 0x00, 0x12, 0x02}, bytes{0x30, 0x00}})).error(),
            errc::unsupported_key_type);
  EXPECT_EQ(decode_private_key(bytes{0x12, 0x00, 0x08, 0x01}).error(), errc::invalid_key_encoding);
}

TEST_F(Keys, PeerIdFromKeyIsIdentityMultihash) {
  const auto kp = make(6);
  const peer_id id = peer_id::from_public_key(kp.pub);
  EXPECT_EQ(id.bytes(), multihash::identity(encode_public_key(kp.pub)));
  EXPECT_TRUE(id.to_string().starts_with("12D3KooW"));
  EXPECT_TRUE(id.to_cid_string().starts_with("bafzaa"));
  EXPECT_EQ(peer_id::parse(id.to_string()).value(), id);
  EXPECT_EQ(peer_id::parse(id.to_cid_string()).value(), id);
  EXPECT_EQ(peer_id::from_bytes(id.bytes()).value(), id);
  EXPECT_EQ(id.ed25519_public_key(), kp.pub);
  EXPECT_TRUE(id.matches(kp.pub));
  EXPECT_FALSE(id.matches(make(7).pub));
  EXPECT_FALSE(peer_id{}.matches(kp.pub));
  EXPECT_TRUE(peer_id{}.empty());
}

TEST_F(Keys, PeerIdParseErrors) {
  EXPECT_EQ(peer_id::parse("").error(), errc::invalid_peer_id);
  EXPECT_EQ(peer_id::parse("hello").error(), errc::invalid_peer_id);              // no known form
  EXPECT_EQ(peer_id::parse("12D3KooW0OIl").error(), errc::invalid_peer_id);       // bad base58
  EXPECT_FALSE(peer_id::parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5"));  // one char short
  // CIDv1 with codec dag-pb (0x70) instead of libp2p-key
  const peer_id id = peer_id::from_public_key(make(8).pub);
  bytes cid{0x01, 0x70};
  append(cid, id.bytes());
  EXPECT_EQ(peer_id::parse(multibase_encode(multibase::base32, cid)).error(),
            errc::wrong_cid_codec);
  // CID version 2
  bytes v2{0x02, 0x72};
  append(v2, id.bytes());
  EXPECT_EQ(peer_id::parse(multibase_encode(multibase::base32, v2)).error(), errc::invalid_cid);
  EXPECT_EQ(peer_id::parse("b").error(), errc::invalid_cid);
  EXPECT_EQ(peer_id::parse("b!!").error(), errc::invalid_base32);
  // base58btc CID ('z' multibase) is accepted too
  bytes good{0x01, 0x72};
  append(good, id.bytes());
  EXPECT_EQ(peer_id::parse(multibase_encode(multibase::base58btc, good)).value(), id);
}

TEST_F(Keys, PeerIdFromBytesAcceptsOnlyIdentityAndSha256) {
  EXPECT_EQ(peer_id::from_bytes({}).error(), errc::truncated_multihash);
  bytes sha512{0x13, 0x40};
  sha512.resize(66, 0xaa);
  EXPECT_EQ(peer_id::from_bytes(sha512).error(), errc::unsupported_multihash);
  EXPECT_EQ(peer_id::from_bytes(multihash::identity(bytes(43, 1))).error(),
            errc::unsupported_multihash);
  auto small = peer_id::from_bytes(multihash::identity(bytes(42, 1)));
  ASSERT_TRUE(small);
  EXPECT_FALSE(small->ed25519_public_key());  // not a PublicKey inside
  auto sha = peer_id::from_bytes(multihash::sha2_256(bytes{1, 2, 3}));
  ASSERT_TRUE(sha);
  EXPECT_TRUE(sha->to_string().starts_with("Qm"));
  EXPECT_FALSE(sha->ed25519_public_key());
}

TEST_F(Keys, PeerIdOrderingAndHashing) {
  const peer_id a = peer_id::from_public_key(make(9).pub);
  const peer_id b = peer_id::from_public_key(make(10).pub);
  ASSERT_NE(a, b);
  EXPECT_EQ(a < b, std::lexicographical_compare(a.bytes().begin(), a.bytes().end(),
                                                b.bytes().begin(), b.bytes().end()));
  EXPECT_EQ(a <=> a, std::strong_ordering::equal);
  std::unordered_set<peer_id> set{a, b, a};
  EXPECT_EQ(set.size(), 2u);
  std::map<peer_id, int> m{{a, 1}, {b, 2}};
  EXPECT_EQ(m.at(b), 2);
  EXPECT_EQ(std::hash<peer_id>{}(a), std::hash<peer_id>{}(peer_id::parse(a.to_string()).value()));
}
