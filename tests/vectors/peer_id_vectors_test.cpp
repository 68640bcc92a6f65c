// Peer id and key vectors.
// Provenance: the "Test vectors" table inline in libp2p/specs peer-ids/peer-ids.md (commit
// 7740c076350b6636b868a9e4a411280eea34d335, read 2025-11), the example peer ids listed under
// "String representation" in the same file, and the Ed25519 id/CID cross-check of
// /work/shared/INTEROP.md ("Peer ids and keys").
#include <gtest/gtest.h>

#include <string>

#include "core/crypto/crypto.hpp"
#include "core/multiformats/keys.hpp"
#include "core/multiformats/peer_id.hpp"

using namespace starling;
using namespace starling::multiformats;

namespace {
bytes hex(std::string_view h) {
  bytes b;
  EXPECT_TRUE(from_hex(h, b)) << h;
  return b;
}

constexpr std::string_view ed25519_public_hex =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
constexpr std::string_view ed25519_private_hex =
    "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8f"
    "d4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
constexpr std::string_view ecdsa_private_hex =
    "08031279307702010104203E5B1FE9712E6C314942A750BD67485DE3C1EFE85B1BFB520AE8F9AE3DFA4A4CA00A0608"
    "2A8648CE3D030107A14403420004DE3D300FA36AE0E8F5D530899D83ABAB44ABF3161F162A4BC901D8E6ECDA020E8B"
    "6D5F8DA30525E71D6851510C098E5C47C646A597FB4DCEC034E9F77C409E62";
constexpr std::string_view ecdsa_public_hex =
    "0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa36ae0e8f5d530899d83abab"
    "44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d6851510c098e5c47c646a597fb4dcec034e9f77c409e"
    "62";
constexpr std::string_view secp256k1_private_hex =
    "0802122053DADF1D5A164D6B4ACDB15E24AA4C5B1D3461BDBD42ABEDB0A4404D56CED8FB";
constexpr std::string_view secp256k1_public_hex =
    "08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99";
constexpr std::string_view rsa_public_hex =
    "080012a60430820222300d06092a864886f70d01010105000382020f003082020a0282020100e1beab071d08200b"
    "de24eef00d049449b07770ff9910257b2d7d5dda242ce8f0e2f12e1af4b32d9efd2c090f66b0f29986dbb645dae9"
    "880089704a94e5066d594162ae6ee8892e6ec70701db0a6c445c04778eb3de1293aa1a23c3825b85c6620a2bc3f8"
    "2f9b0c309bc0ab3aeb1873282bebd3da03c33e76c21e9beb172fd44c9e43be32e2c99827033cf8d0f0c606f45793"
    "26c930eb4e854395ad941256542c793902185153c474bed109d6ff5141ebf9cd256cf58893a37f83729f97e7cb43"
    "5ec679d2e33901d27bb35aa0d7e20561da08885ef0abbf8e2fb48d6a5487047a9ecb1ad41fa7ed84f6e3e8ecd5d9"
    "8b3982d2a901b4454991766da295ab78822add5612a2df83bcee814cf50973e80d7ef38111b1bd87da2ae92438a2"
    "c8cbcc70b31ee319939a3b9c761dbc13b5c086d6b64bf7ae7dacc14622375d92a8ff9af7eb962162bbddebf90acb"
    "32adb5e4e4029f1c96019949ecfbfeffd7ac1e3fbcc6b6168c34be3d5a2e5999fcbb39bba7adbca78eab09b9bc39"
    "f7fa4b93411f4cc175e70c0a083e96bfaefb04a9580b4753c1738a6a760ae1afd851a1a4bdad231cf56e9284d832"
    "483df215a46c1c21bdf0c6cfe951c18f1ee4078c79c13d63edb6e14feaeffabc90ad317e4875fe648101b0864097"
    "e998f0ca3025ef9638cd2b0caecd3770ab54a1d9c6ca959b0f5dcbc90caeefc4135baca6fd475224269bbe1b0203"
    "010001";

class PeerIdVectors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
};
}  // namespace

TEST_F(PeerIdVectors, Ed25519PublicKeyRoundTripsDeterministically) {
  const bytes encoded = hex(ed25519_public_hex);
  auto pub = decode_public_key(encoded);
  ASSERT_TRUE(pub) << pub.error().message();
  EXPECT_EQ(to_hex(*pub), "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");
  EXPECT_EQ(encode_public_key(*pub), encoded);
  EXPECT_EQ(peek_key_type(encoded).value(), key_type::ed25519);
}

TEST_F(PeerIdVectors, Ed25519PrivateKeyYieldsThePublicKey) {
  const bytes encoded = hex(ed25519_private_hex);
  auto kp = decode_private_key(encoded);
  ASSERT_TRUE(kp) << kp.error().message();
  EXPECT_EQ(to_hex(kp->seed), "7e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d");
  EXPECT_EQ(encode_public_key(kp->pub), hex(ed25519_public_hex));
  EXPECT_EQ(encode_private_key(*kp), encoded);
}

TEST_F(PeerIdVectors, OtherKeyTypesAreWellFormedButUnsupported) {
  struct vec {
    std::string_view hex;
    key_type type;
  };
  for (const vec& v :
       {vec{ecdsa_public_hex, key_type::ecdsa}, vec{secp256k1_public_hex, key_type::secp256k1},
        vec{rsa_public_hex, key_type::rsa}}) {
    const bytes b = hex(v.hex);
    auto pub = decode_public_key(b);
    ASSERT_FALSE(pub);
    EXPECT_EQ(pub.error(), errc::unsupported_key_type) << v.hex.substr(0, 8);
    auto t = peek_key_type(b);
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(*t, v.type);
  }
  for (std::string_view h : {ecdsa_private_hex, secp256k1_private_hex}) {
    auto kp = decode_private_key(hex(h));
    ASSERT_FALSE(kp);
    EXPECT_EQ(kp.error(), errc::unsupported_key_type);
  }
}

TEST_F(PeerIdVectors, Ed25519PeerIdAndCid) {
  auto pub = decode_public_key(hex(ed25519_public_hex)).value();
  const peer_id id = peer_id::from_public_key(pub);
  EXPECT_EQ(id.to_string(), "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
  EXPECT_EQ(id.to_cid_string(),
            "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6");
  // identity multihash: 0x00, length 36, then the PublicKey bytes.
  bytes expected{0x00, 0x24};
  append(expected, hex(ed25519_public_hex));
  EXPECT_EQ(id.bytes(), expected);
  EXPECT_EQ(peer_id::parse("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq").value(), id);
  EXPECT_EQ(
      peer_id::parse("bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6").value(),
      id);
  EXPECT_EQ(id.ed25519_public_key(), pub);
  EXPECT_TRUE(id.matches(pub));
  EXPECT_EQ(peer_id::from_encoded_public_key(hex(ed25519_public_hex)).value(), id);
}

TEST_F(PeerIdVectors, RsaKeyIdIsSha256) {
  // The RSA public key is over 42 bytes, so its id is the sha2-256 multihash ("Qm...").
  const bytes encoded = hex(rsa_public_hex);
  auto id = peer_id::from_encoded_public_key(encoded).value();
  ASSERT_EQ(id.bytes().size(), 34u);
  EXPECT_EQ(id.bytes()[0], 0x12);
  EXPECT_EQ(id.bytes()[1], 0x20);
  const auto digest = crypto::sha256(encoded);
  EXPECT_TRUE(std::equal(digest.begin(), digest.end(), id.bytes().begin() + 2));
  EXPECT_TRUE(id.to_string().starts_with("Qm"));
  EXPECT_EQ(peer_id::parse(id.to_string()).value(), id);
  EXPECT_FALSE(id.ed25519_public_key());
}

TEST_F(PeerIdVectors, SpecExampleStrings) {
  // Listed in the spec's "String representation" section.
  auto sha = peer_id::parse("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
  ASSERT_TRUE(sha) << sha.error().message();
  EXPECT_EQ(sha->bytes().size(), 34u);
  EXPECT_EQ(sha->to_string(), "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
  EXPECT_FALSE(sha->ed25519_public_key());

  auto cid = peer_id::parse("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe");
  ASSERT_TRUE(cid) << cid.error().message();
  EXPECT_EQ(cid->bytes().size(), 34u);
  EXPECT_EQ(cid->to_cid_string(), "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe");

  auto ed = peer_id::parse("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
  ASSERT_TRUE(ed) << ed.error().message();
  EXPECT_EQ(ed->to_string(), "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
  auto pub = ed->ed25519_public_key();
  ASSERT_TRUE(pub);
  EXPECT_TRUE(ed->matches(*pub));
}
