// Wycheproof X25519 vectors (tests/vectors/data/wycheproof/PROVENANCE.md), every case through
// crypto::x25519.
//
// Our rule: a shared secret of all zeros is refused (x25519 returns false and leaves zeros in
// `out`). Such a result comes from a public key of low order, whatever the private key; Noise
// allows a DH function to signal an error for it, and our handshake then fails with invalid_dh.
// Wycheproof marks these cases "acceptable" with the flags ZeroSharedSecret and LowOrderPublic.
// Every other case, "valid" or "acceptable" (twist points, non-canonical encodings, public
// keys with the top bit set), must give exactly the expected shared secret.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/crypto/crypto.hpp"

using namespace starling;

namespace {

constexpr const char* vector_file =
    STARLING_TEST_DATA "/vectors/data/wycheproof/wycheproof_x25519_test.json";

// The file's totals (PROVENANCE.md). A file that lost cases fails here, not silently.
constexpr std::size_t total_cases = 518;
constexpr std::size_t valid_cases = 264;
constexpr std::size_t acceptable_cases = 254;
constexpr std::size_t zero_shared_cases = 31;  // all acceptable, all flagged ZeroSharedSecret

struct x25519_case {
  int id = 0;
  std::string comment;
  std::string result;
  bool zero_flag = false;  // flags hold ZeroSharedSecret
  crypto::x25519_key priv{}, pub{}, shared{};
};

bool has_flag(const nlohmann::json& flags, const char* name) {
  return std::find(flags.begin(), flags.end(), name) != flags.end();
}

void key_from_hex(const nlohmann::json& j, crypto::x25519_key& out) {
  bytes b;
  ASSERT_TRUE(from_hex(j.get<std::string>(), b)) << j;
  ASSERT_EQ(b.size(), out.size()) << j;
  std::copy(b.begin(), b.end(), out.begin());
}

struct x25519_file {
  std::size_t declared = 0;  // the file's own numberOfTests
  std::vector<x25519_case> cases;
};

x25519_file load() {
  x25519_file f;
  std::ifstream in(vector_file);
  EXPECT_TRUE(in.good()) << vector_file;
  if (!in.good()) return f;
  const nlohmann::json doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc.at("algorithm"), "XDH");
  f.declared = doc.at("numberOfTests").get<std::size_t>();
  for (const auto& group : doc.at("testGroups")) {
    EXPECT_EQ(group.at("curve"), "curve25519");
    for (const auto& t : group.at("tests")) {
      x25519_case c;
      c.id = t.at("tcId").get<int>();
      c.comment = t.at("comment").get<std::string>();
      c.result = t.at("result").get<std::string>();
      c.zero_flag = has_flag(t.at("flags"), "ZeroSharedSecret");
      key_from_hex(t.at("private"), c.priv);
      key_from_hex(t.at("public"), c.pub);
      key_from_hex(t.at("shared"), c.shared);
      f.cases.push_back(c);
    }
  }
  return f;
}

bool all_zero(const crypto::x25519_key& k) {
  return std::all_of(k.begin(), k.end(), [](std::uint8_t x) { return x == 0; });
}

}  // namespace

TEST(WycheproofX25519, EveryCase) {
  ASSERT_TRUE(crypto::init());
  const x25519_file f = load();
  EXPECT_EQ(f.declared, total_cases);
  ASSERT_EQ(f.cases.size(), total_cases);

  std::size_t valid = 0, acceptable = 0, agreed = 0, refused = 0;
  for (const auto& c : f.cases) {
    SCOPED_TRACE("tcId " + std::to_string(c.id) + ": " + c.comment);
    if (c.result == "valid") {
      ++valid;
    } else if (c.result == "acceptable") {
      ++acceptable;
    } else {
      ADD_FAILURE() << "unexpected result " << c.result;  // the file has no invalid cases
    }
    // The flag and the expected bytes say the same thing.
    EXPECT_EQ(c.zero_flag, all_zero(c.shared));

    crypto::x25519_key out;
    out.fill(0xa5);
    const bool ok = crypto::x25519(c.priv, c.pub, out);
    if (all_zero(c.shared)) {
      EXPECT_EQ(c.result, "acceptable");
      EXPECT_FALSE(ok);
      EXPECT_TRUE(all_zero(out));
      ++refused;
    } else {
      EXPECT_TRUE(ok);
      EXPECT_EQ(out, c.shared);
      ++agreed;
    }
  }
  EXPECT_EQ(valid, valid_cases);
  EXPECT_EQ(acceptable, acceptable_cases);
  EXPECT_EQ(refused, zero_shared_cases);
  EXPECT_EQ(agreed, total_cases - zero_shared_cases);
}

// The private keys of the valid cases (among them Wycheproof's edge cases for clamping) also
// work as our own keys: the public key x25519_from_private derives agrees with x25519 both ways
// against a second key pair, as Diffie-Hellman must. The cases above never multiply the base
// point; this reaches it.
TEST(WycheproofX25519, PrivateKeysAgreeBothWays) {
  ASSERT_TRUE(crypto::init());
  const x25519_file f = load();
  ASSERT_EQ(f.cases.size(), total_cases);
  const crypto::x25519_keypair other = crypto::x25519_from_private(f.cases.front().priv);
  std::size_t checked = 0;
  for (const auto& c : f.cases) {
    if (c.result != "valid") continue;
    SCOPED_TRACE("tcId " + std::to_string(c.id));
    const crypto::x25519_keypair mine = crypto::x25519_from_private(c.priv);
    crypto::x25519_key ab{}, ba{};
    ASSERT_TRUE(crypto::x25519(c.priv, other.pub, ab));
    ASSERT_TRUE(crypto::x25519(other.priv, mine.pub, ba));
    EXPECT_EQ(ab, ba);
    ++checked;
  }
  EXPECT_EQ(checked, valid_cases);
}
