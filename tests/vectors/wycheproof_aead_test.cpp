// Wycheproof ChaCha20-Poly1305 vectors (tests/vectors/data/wycheproof/PROVENANCE.md), every case
// through every implementation in core/crypto: libsodium, OpenSSL and the key stream made ahead
// (aead_backends.hpp), then the Noise counter-nonce functions, prepared and not, for the cases
// whose nonce is a Noise nonce (4 zero bytes, then a little-endian counter).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/crypto/aead_backends.hpp"
#include "core/crypto/crypto.hpp"

using namespace starling;
using crypto::aead_backend;
using crypto::aead_status;

namespace {

constexpr const char* vector_file =
    STARLING_TEST_DATA "/vectors/data/wycheproof/wycheproof_chacha20_poly1305_test.json";

// The file's totals (PROVENANCE.md). A file that lost cases fails here, not silently.
constexpr std::size_t total_cases = 325;
constexpr std::size_t valid_cases = 256;
constexpr std::size_t modified_tag_cases = 60;  // invalid, with a 12-byte nonce
constexpr std::size_t bad_nonce_cases = 9;      // invalid: nonces of 0 to 32 bytes, never 12
constexpr std::size_t long_valid_cases = 12;    // valid, more than aead_keystream::max_plain bytes
constexpr std::size_t noise_nonce_cases = 10;   // valid, nonce = 4 zero bytes + 8 more

struct aead_case {
  int id = 0;
  std::string comment;
  bool valid = false;
  bool modified_tag = false;
  crypto::aead_key key{};
  bytes iv, aad, msg, ct, tag;

  bytes sealed() const {
    bytes b = ct;
    append(b, tag);
    return b;
  }
};

bytes hex(const nlohmann::json& j) {
  bytes b;
  EXPECT_TRUE(from_hex(j.get<std::string>(), b)) << j;
  return b;
}

struct aead_file {
  std::size_t declared = 0;  // the file's own numberOfTests
  std::vector<aead_case> cases;
};

aead_file load() {
  aead_file f;
  std::ifstream in(vector_file);
  EXPECT_TRUE(in.good()) << vector_file;
  if (!in.good()) return f;
  const nlohmann::json doc = nlohmann::json::parse(in);
  EXPECT_EQ(doc.at("algorithm"), "CHACHA20-POLY1305");
  f.declared = doc.at("numberOfTests").get<std::size_t>();
  for (const auto& group : doc.at("testGroups")) {
    EXPECT_EQ(group.at("keySize"), 256);
    EXPECT_EQ(group.at("tagSize"), 128);
    for (const auto& t : group.at("tests")) {
      aead_case c;
      c.id = t.at("tcId").get<int>();
      c.comment = t.at("comment").get<std::string>();
      const std::string result = t.at("result").get<std::string>();
      EXPECT_TRUE(result == "valid" || result == "invalid") << c.id << ": " << result;
      c.valid = result == "valid";
      const auto& flags = t.at("flags");
      c.modified_tag = std::find(flags.begin(), flags.end(), "ModifiedTag") != flags.end();
      const bytes key = hex(t.at("key"));
      EXPECT_EQ(key.size(), c.key.size()) << c.id;
      std::copy_n(key.begin(), std::min(key.size(), c.key.size()), c.key.begin());
      c.iv = hex(t.at("iv"));
      c.aad = hex(t.at("aad"));
      c.msg = hex(t.at("msg"));
      c.ct = hex(t.at("ct"));
      c.tag = hex(t.at("tag"));
      EXPECT_EQ(c.iv.size() * 8, group.at("ivSize").get<std::size_t>()) << c.id;
      f.cases.push_back(std::move(c));
    }
  }
  return f;
}

const aead_file& vectors() {
  static const aead_file f = load();
  return f;
}

bool all_zero(bytes_view b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

class WycheproofAead : public ::testing::TestWithParam<aead_backend> {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
};

}  // namespace

TEST(WycheproofAeadFile, HoldsEveryCase) {
  const aead_file& f = vectors();
  EXPECT_EQ(f.declared, total_cases);
  ASSERT_EQ(f.cases.size(), total_cases);
  std::size_t valid = 0, modified_tag = 0, bad_nonce = 0;
  for (const auto& c : f.cases) {
    EXPECT_EQ(c.ct.size(), c.msg.size()) << c.id;
    // The cases with a bad nonce carry no ciphertext and no tag.
    EXPECT_EQ(c.tag.size(), c.iv.size() == crypto::aead_nonce_size ? crypto::aead_tag_size : 0)
        << c.id;
    if (c.valid) {
      ++valid;
      EXPECT_EQ(c.iv.size(), crypto::aead_nonce_size) << c.id;
    } else if (c.iv.size() != crypto::aead_nonce_size) {
      ++bad_nonce;
    } else {
      // The only invalid cases with a well-formed nonce carry a modified tag.
      EXPECT_TRUE(c.modified_tag) << c.id << ": " << c.comment;
      ++modified_tag;
    }
  }
  EXPECT_EQ(valid, valid_cases);
  EXPECT_EQ(modified_tag, modified_tag_cases);
  EXPECT_EQ(bad_nonce, bad_nonce_cases);
}

// Valid: sealing gives the expected ciphertext and tag, opening gives the message back, and
// the same bytes with one bit of the tag or of the ciphertext flipped are refused. Invalid:
// a wrong nonce size is refused both ways, a modified tag is refused by open (and is not what
// seal computes).
TEST_P(WycheproofAead, EveryCase) {
  const aead_backend b = GetParam();
  const aead_file& f = vectors();
  ASSERT_EQ(f.cases.size(), total_cases);
  std::size_t sealed = 0, refused_tag = 0, refused_nonce = 0, too_long = 0;
  for (const auto& c : f.cases) {
    SCOPED_TRACE("tcId " + std::to_string(c.id) + ": " + c.comment);
    bytes out{0xee};
    if (c.iv.size() != crypto::aead_nonce_size) {
      EXPECT_FALSE(c.valid);
      EXPECT_EQ(crypto::aead_seal(b, c.key, c.iv, c.aad, c.msg, out), aead_status::bad_nonce_size);
      EXPECT_TRUE(out.empty());
      out = {0xee};
      // Input long enough to hold a tag, so that only the nonce can be why it is refused.
      const bytes input(c.msg.size() + crypto::aead_tag_size, 0x5c);
      EXPECT_EQ(crypto::aead_open(b, c.key, c.iv, c.aad, input, out), aead_status::bad_nonce_size);
      EXPECT_TRUE(out.empty());
      ++refused_nonce;
      continue;
    }
    if (b == aead_backend::keystream && c.msg.size() > crypto::aead_keystream::max_plain) {
      EXPECT_EQ(crypto::aead_seal(b, c.key, c.iv, c.aad, c.msg, out), aead_status::too_long);
      EXPECT_TRUE(out.empty());
      EXPECT_EQ(crypto::aead_open(b, c.key, c.iv, c.aad, c.sealed(), out), aead_status::too_long);
      EXPECT_TRUE(c.valid);
      ++too_long;
      continue;
    }

    ASSERT_EQ(crypto::aead_seal(b, c.key, c.iv, c.aad, c.msg, out), aead_status::ok);
    if (c.valid) {
      EXPECT_EQ(out, c.sealed());
      ++sealed;
    } else {
      // A modified tag: the ciphertext is right, the tag is not what the cipher computes.
      ASSERT_EQ(out.size(), c.ct.size() + crypto::aead_tag_size);
      EXPECT_TRUE(std::equal(c.ct.begin(), c.ct.end(), out.begin()));
      EXPECT_FALSE(std::equal(c.tag.begin(), c.tag.end(), out.begin() + c.ct.size()));
    }

    bytes plain{0xee};
    const aead_status opened_status = crypto::aead_open(b, c.key, c.iv, c.aad, c.sealed(), plain);
    if (c.valid) {
      EXPECT_EQ(opened_status, aead_status::ok);
      EXPECT_EQ(plain, c.msg);

      bytes forged = c.sealed();
      forged.back() ^= 0x80;  // the tag's last bit
      plain = {0xee};
      EXPECT_EQ(crypto::aead_open(b, c.key, c.iv, c.aad, forged, plain), aead_status::forged);
      EXPECT_TRUE(plain.empty());
      if (!c.ct.empty()) {
        forged = c.sealed();
        forged.front() ^= 0x01;  // the ciphertext's first bit
        EXPECT_EQ(crypto::aead_open(b, c.key, c.iv, c.aad, forged, plain), aead_status::forged);
        EXPECT_TRUE(plain.empty());
      }
    } else {
      EXPECT_EQ(opened_status, aead_status::forged);
      EXPECT_TRUE(plain.empty());
      ++refused_tag;
    }
  }
  const std::size_t expected_long = b == aead_backend::keystream ? long_valid_cases : 0;
  EXPECT_EQ(sealed, valid_cases - expected_long);
  EXPECT_EQ(too_long, expected_long);
  EXPECT_EQ(refused_tag, modified_tag_cases);
  EXPECT_EQ(refused_nonce, bad_nonce_cases);
}

INSTANTIATE_TEST_SUITE_P(Backends, WycheproofAead,
                         ::testing::Values(aead_backend::libsodium, aead_backend::openssl,
                                           aead_backend::keystream),
                         [](const ::testing::TestParamInfo<aead_backend>& param_info) {
                           switch (param_info.param) {
                             case aead_backend::libsodium:
                               return std::string("libsodium");
                             case aead_backend::openssl:
                               return std::string("openssl");
                             case aead_backend::keystream:
                               return std::string("keystream");
                           }
                           return std::string("unknown");
                         });

// The functions the node uses take a Noise counter, not a nonce: the cases whose nonce is
// 4 zero bytes followed by a counter go through them too, with and without a key stream made
// ahead, and a flipped tag bit is refused with zeros left behind.
TEST(WycheproofAeadNoise, CounterNoncePaths) {
  ASSERT_TRUE(crypto::init());
  const aead_file& f = vectors();
  ASSERT_EQ(f.cases.size(), total_cases);
  std::size_t checked = 0;
  for (const auto& c : f.cases) {
    if (!c.valid || c.iv.size() != crypto::aead_nonce_size ||
        !std::all_of(c.iv.begin(), c.iv.begin() + 4, [](std::uint8_t x) { return x == 0; })) {
      continue;
    }
    SCOPED_TRACE("tcId " + std::to_string(c.id) + ": " + c.comment);
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i)
      n |= std::uint64_t{c.iv[4 + i]} << (8 * i);
    const bytes expected = c.sealed();

    bytes out;
    ASSERT_TRUE(crypto::aead_encrypt(c.key, n, c.aad, c.msg, out));
    EXPECT_EQ(out, expected);
    bytes plain;
    ASSERT_TRUE(crypto::aead_decrypt(c.key, n, c.aad, expected, plain));
    EXPECT_EQ(plain, c.msg);
    bytes forged = expected;
    forged.back() ^= 0x80;
    EXPECT_FALSE(crypto::aead_decrypt(c.key, n, c.aad, forged, plain));
    EXPECT_EQ(plain.size(), forged.size());
    EXPECT_TRUE(all_zero(plain));

    // The prepared path serves messages up to max_plain bytes; every such case here fits.
    ASSERT_LE(c.msg.size(), crypto::aead_keystream::max_plain);
    crypto::aead_keystream ks;
    bytes buf = c.msg;
    buf.resize(c.msg.size() + crypto::aead_tag_size);
    crypto::aead_prepare(c.key, n, ks);
    ASSERT_TRUE(crypto::aead_encrypt_inplace(c.key, n, c.aad, buf, ks));
    EXPECT_EQ(buf, expected);
    EXPECT_FALSE(ks.ready);
    crypto::aead_prepare(c.key, n, ks);
    ASSERT_TRUE(crypto::aead_decrypt_inplace(c.key, n, c.aad, buf, ks));
    EXPECT_TRUE(std::equal(c.msg.begin(), c.msg.end(), buf.begin()));
    forged = expected;
    forged.back() ^= 0x80;
    crypto::aead_prepare(c.key, n, ks);
    EXPECT_FALSE(crypto::aead_decrypt_inplace(c.key, n, c.aad, forged, ks));
    EXPECT_TRUE(all_zero(forged));
    ++checked;
  }
  EXPECT_EQ(checked, noise_nonce_cases);
}
