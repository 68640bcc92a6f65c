#include <gtest/gtest.h>

#include <string>

#include "core/crypto/crypto.hpp"
#include "core/multiformats/multibase.hpp"
#include "core/multiformats/multihash.hpp"

using namespace starling;
using namespace starling::multiformats;

namespace {
bytes b(std::string_view s) {
  auto v = as_bytes(s);
  return bytes(v.begin(), v.end());
}
bytes hex(std::string_view h) {
  bytes out;
  EXPECT_TRUE(from_hex(h, out));
  return out;
}
}  // namespace

TEST(Base58, KnownVectors) {
  // Common base58btc examples (Bitcoin alphabet); checked against an independent big-int encoder.
  EXPECT_EQ(base58btc_encode(b("Hello World!")), "2NEpo7TZRRrLZSi2U");
  EXPECT_EQ(base58btc_encode(b("The quick brown fox jumps over the lazy dog.")),
            "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z");
  EXPECT_EQ(base58btc_encode(hex("0000287fb4cd")), "11233QC4");
  EXPECT_EQ(base58btc_encode({}), "");
  EXPECT_EQ(base58btc_encode(hex("00")), "1");
  EXPECT_EQ(base58btc_decode("2NEpo7TZRRrLZSi2U").value(), b("Hello World!"));
  EXPECT_EQ(base58btc_decode("11233QC4").value(), hex("0000287fb4cd"));
  EXPECT_EQ(base58btc_decode("").value(), bytes{});
}

TEST(Base58, RejectsCharactersOutsideTheAlphabet) {
  for (std::string_view s : {"0", "O", "I", "l", "2NEp o7", "abc+"}) {
    auto r = base58btc_decode(s);
    ASSERT_FALSE(r) << s;
    EXPECT_EQ(r.error(), errc::invalid_base58);
  }
  EXPECT_EQ(base58btc_decode(std::string(max_encoded_chars + 1, '2')).error(),
            errc::input_too_long);
}

TEST(Base32, Rfc4648VectorsLowerCaseUnpadded) {
  const std::pair<std::string_view, std::string_view> vectors[] = {{"", ""},
                                                                   {"f", "my"},
                                                                   {"fo", "mzxq"},
                                                                   {"foo", "mzxw6"},
                                                                   {"foob", "mzxw6yq"},
                                                                   {"fooba", "mzxw6ytb"},
                                                                   {"foobar", "mzxw6ytboi"}};
  for (auto [plain, enc] : vectors) {
    EXPECT_EQ(base32_encode(b(plain)), enc);
    auto d = base32_decode(enc);
    ASSERT_TRUE(d) << enc;
    EXPECT_EQ(*d, b(plain));
  }
  EXPECT_EQ(base32_decode("MZXW6", true).value(), b("foo"));
}

TEST(Base32, RejectsBadInput) {
  // upper case in lower mode, padding, impossible lengths (1, 3, 6 mod 8), non-zero spare bits
  for (std::string_view s : {"MZXW6", "my======", "m", "mzx", "mzxw6y", "mz", "my1"}) {
    auto r = base32_decode(s);
    ASSERT_FALSE(r) << s;
    EXPECT_EQ(r.error(), errc::invalid_base32) << s;
  }
}

TEST(Base64url, VectorsAndErrors) {
  EXPECT_EQ(base64url_encode(b("foobar")), "Zm9vYmFy");
  EXPECT_EQ(base64url_encode(b("f")), "Zg");
  EXPECT_EQ(base64url_encode(hex("fbff")), "-_8");
  EXPECT_EQ(base64url_decode("-_8").value(), hex("fbff"));
  EXPECT_EQ(base64url_decode("Zm9vYg").value(), b("foob"));
  for (std::string_view s : {"Z", "Zh", "Zg==", "+/8"}) {
    auto r = base64url_decode(s);
    ASSERT_FALSE(r) << s;
    EXPECT_EQ(r.error(), errc::invalid_base64) << s;
  }
}

TEST(Multibase, DecodesSupportedPrefixes) {
  EXPECT_EQ(multibase_decode("zStV1DL6CwTryKyV").value(), b("hello world"));
  EXPECT_EQ(multibase_decode("bnbswy3dpeb3w64tmmq").value(), b("hello world"));
  EXPECT_EQ(multibase_decode("BNBSWY3DPEB3W64TMMQ").value(), b("hello world"));
  EXPECT_EQ(multibase_decode("uaGVsbG8gd29ybGQ").value(), b("hello world"));
  EXPECT_EQ(multibase_encode(multibase::base58btc, b("hello world")), "zStV1DL6CwTryKyV");
  EXPECT_EQ(multibase_encode(multibase::base32, b("hello world")), "bnbswy3dpeb3w64tmmq");
  EXPECT_EQ(multibase_encode(multibase::base64url, b("hello world")), "uaGVsbG8gd29ybGQ");
  // 'f' (base16) and 'm' (padded base64) are valid multibase but not supported here.
  for (std::string_view s : {"", "f68656c6c6f", "maGVsbG8=", "Qm"}) {
    auto r = multibase_decode(s);
    ASSERT_FALSE(r) << s;
    EXPECT_EQ(r.error(), errc::unsupported_multibase);
  }
  EXPECT_EQ(multibase_decode("z0").error(), errc::invalid_base58);
}

TEST(Multihash, IdentityAndSha256) {
  EXPECT_EQ(multihash::identity(b("abc")), hex("0003616263"));
  EXPECT_EQ(multihash::sha2_256({}),
            hex("1220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  const bytes mh = multihash::sha2_256(b("abc"));
  auto v = multihash::parse(mh);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->code, multihash::sha2_256_code);
  EXPECT_EQ(to_hex(v->digest), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const bytes abc = hex("0003616263");  // parse() returns a view into its input
  auto id = multihash::parse(abc);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->code, multihash::identity_code);
  EXPECT_EQ(bytes(id->digest.begin(), id->digest.end()), b("abc"));
  // unknown hash codes parse structurally (sha2-512 here); callers decide what they accept
  auto other = multihash::parse(hex("130201ff"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->code, 0x13u);
}

TEST(Multihash, Errors) {
  EXPECT_EQ(multihash::parse({}).error(), errc::truncated_multihash);
  EXPECT_EQ(multihash::parse(hex("00")).error(), errc::truncated_multihash);
  EXPECT_EQ(multihash::parse(hex("000361")).error(), errc::truncated_multihash);
  EXPECT_EQ(multihash::parse(hex("0001616263")).error(),
            errc::invalid_multihash);                                           // trailing bytes
  EXPECT_EQ(multihash::parse(hex("120100")).error(), errc::invalid_multihash);  // sha256 of 1 byte
  EXPECT_EQ(multihash::parse(hex("008000")).error(),
            errc::invalid_multihash);  // non-minimal varint
  EXPECT_EQ(multihash::parse(hex("00ff7f")).error(), errc::input_too_long);
}
