// Ed25519 verification against Wycheproof's set and the 12 speccheck edge cases
// (tests/vectors/data/ed25519/README.md), every case through crypto::ed25519_verify.
//
// Our rule (the comment on crypto::ed25519_verify): S must be below L; A and R must be canonical
// encodings and must not be points of small order; the equation is the cofactorless one,
// [S]B == R + [k]A, checked by comparing encodings of R. Mixed-order points (a prime-order part
// plus a torsion part) are not refused by themselves: they pass only when the cofactorless
// equation holds, which an honest signer's key (always of prime order) never needs otherwise.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/crypto/crypto.hpp"

using namespace starling;

namespace {

constexpr const char* wycheproof_file =
    STARLING_TEST_DATA "/vectors/data/ed25519/wycheproof_ed25519_test.json";
constexpr const char* speccheck_file =
    STARLING_TEST_DATA "/vectors/data/ed25519/speccheck_cases.json";

// The files' totals (README.md beside them).
constexpr std::size_t wycheproof_total = 151;
constexpr std::size_t wycheproof_valid = 88;
constexpr std::size_t wycheproof_invalid = 63;
constexpr std::size_t speccheck_total = 12;

// Little-endian group order L = 2^252 + 27742317777372353535851937790883648493.
constexpr std::array<std::uint8_t, 32> order_l = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};

bytes hex(const nlohmann::json& j) {
  bytes b;
  EXPECT_TRUE(from_hex(j.get<std::string>(), b)) << j;
  return b;
}

crypto::ed25519_public key_of(const bytes& b) {
  crypto::ed25519_public k{};
  EXPECT_EQ(b.size(), k.size());
  if (b.size() == k.size()) std::copy(b.begin(), b.end(), k.begin());
  return k;
}

// The signature with S replaced by S + L (the classic malleation; S < L keeps it under 2^256).
bytes add_order_to_s(bytes sig) {
  unsigned carry = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    const unsigned sum = sig[32 + i] + order_l[i] + carry;
    sig[32 + i] = static_cast<std::uint8_t>(sum);
    carry = sum >> 8;
  }
  return sig;
}

struct speccheck_case {
  bool accept;
  const char* why;
};

// What each speccheck case gives under our rule, in the file's order (the condition table in
// speccheck_README_excerpt.txt).
constexpr std::array<speccheck_case, speccheck_total> speccheck_expected = {{
    {false, "0: A and R of small order (S = 0)"},
    {false, "1: A of small order"},
    {false, "2: R of small order"},
    {true, "3: A and R of mixed order, valid under both equations"},
    {false, "4: valid only under the cofactored equation; ours is cofactorless"},
    {false, "5: valid only under the cofactored equation (pre-reduced scalar)"},
    {false, "6: S >= L (malleable)"},
    {false, "7: S much larger than L (malleable)"},
    {false, "8: non-canonical R (reduced for the hash)"},
    {false, "9: non-canonical R (not reduced for the hash)"},
    {false, "10: non-canonical A (reduced for the hash)"},
    {false, "11: non-canonical A (not reduced for the hash)"},
}};

}  // namespace

TEST(Ed25519Vectors, WycheproofEveryCase) {
  ASSERT_TRUE(crypto::init());
  std::ifstream in(wycheproof_file);
  ASSERT_TRUE(in.good()) << wycheproof_file;
  const nlohmann::json doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc.at("algorithm"), "EDDSA");
  EXPECT_EQ(doc.at("numberOfTests").get<std::size_t>(), wycheproof_total);

  std::size_t valid = 0, invalid = 0, malleated = 0;
  for (const auto& group : doc.at("testGroups")) {
    ASSERT_EQ(group.at("publicKey").at("curve"), "edwards25519");
    const auto pub = key_of(hex(group.at("publicKey").at("pk")));
    for (const auto& t : group.at("tests")) {
      SCOPED_TRACE("tcId " + std::to_string(t.at("tcId").get<int>()) + ": " +
                   t.at("comment").get<std::string>());
      const bytes msg = hex(t.at("msg"));
      const bytes sig = hex(t.at("sig"));
      const std::string expected = t.at("result").get<std::string>();
      const bool ok = crypto::ed25519_verify(pub, msg, sig);
      if (expected == "valid") {
        ++valid;
        EXPECT_TRUE(ok);
        // Every valid signature has one encoding only: S + L is refused.
        ASSERT_EQ(sig.size(), 64u);
        EXPECT_FALSE(crypto::ed25519_verify(pub, msg, add_order_to_s(sig)));
        ++malleated;
      } else {
        ASSERT_EQ(expected, "invalid");  // the file has no "acceptable" cases
        ++invalid;
        EXPECT_FALSE(ok);
      }
    }
  }
  EXPECT_EQ(valid, wycheproof_valid);
  EXPECT_EQ(invalid, wycheproof_invalid);
  EXPECT_EQ(malleated, wycheproof_valid);
}

TEST(Ed25519Vectors, SpeccheckEveryCaseFollowsOurRule) {
  ASSERT_TRUE(crypto::init());
  std::ifstream in(speccheck_file);
  ASSERT_TRUE(in.good()) << speccheck_file;
  const nlohmann::json doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc.size(), speccheck_total);
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const auto& c = speccheck_expected[i];
    SCOPED_TRACE(c.why);
    const bytes msg = hex(doc[i].at("message"));
    const bytes sig = hex(doc[i].at("signature"));
    const auto pub = key_of(hex(doc[i].at("pub_key")));
    ASSERT_EQ(sig.size(), 64u);
    EXPECT_EQ(crypto::ed25519_verify(pub, msg, sig), c.accept);
  }
}

// A signature of our own signer passes, and changing any one bit of it, of the key or of the
// message makes it fail: the verifier is not accepting everything.
TEST(Ed25519Vectors, OwnSignaturesAndEveryBitFlip) {
  ASSERT_TRUE(crypto::init());
  crypto::ed25519_seed seed{};
  for (std::size_t i = 0; i < seed.size(); ++i)
    seed[i] = static_cast<std::uint8_t>(3 * i + 1);
  const auto kp = crypto::ed25519_from_seed(seed);
  const bytes msg = {'s', 't', 'a', 'r', 'l', 'i', 'n', 'g'};
  const auto sig = crypto::ed25519_sign(kp, msg);
  ASSERT_TRUE(crypto::ed25519_verify(kp.pub, msg, sig));
  for (std::size_t bit = 0; bit < sig.size() * 8; ++bit) {
    auto bad = sig;
    bad[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(crypto::ed25519_verify(kp.pub, msg, bad)) << "signature bit " << bit;
  }
  for (std::size_t bit = 0; bit < kp.pub.size() * 8; ++bit) {
    auto bad = kp.pub;
    bad[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(crypto::ed25519_verify(bad, msg, sig)) << "key bit " << bit;
  }
  for (std::size_t bit = 0; bit < msg.size() * 8; ++bit) {
    auto bad = msg;
    bad[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(crypto::ed25519_verify(kp.pub, bad, sig)) << "message bit " << bit;
  }
}
