// CPace (draft-irtf-cfrg-cpace) vectors for ristretto255 + SHA-512 ("Coffee25519"), through
// crypto::cpace. Two sources, both in tests/vectors/data/cpace/ (README.md there):
//  - cpace_ristretto255_md.json: the ristretto255 section of cpace_testvectors.md (its base64
//    JSON blocks decoded): generator string, generator, messages, K, both ISKs, sid outputs and
//    the scalar_mult_vfy cases;
//  - cpace_testvectors.json, entry G_Coffee25519 (another draft revision: other CI, same
//    algorithm), run through the same checks.
// The string utilities (prepend_len, lv_cat, o_cat, transcripts) are checked against the
// values printed at the top of the .md.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/crypto/cpace.hpp"

using namespace starling;
namespace cp = starling::crypto::cpace;

namespace {

constexpr const char* md_file = STARLING_TEST_DATA "/vectors/data/cpace/cpace_ristretto255_md.json";
constexpr const char* json_file = STARLING_TEST_DATA "/vectors/data/cpace/cpace_testvectors.json";

nlohmann::json load(const char* path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

bytes hex(const nlohmann::json& j) {
  bytes b;
  EXPECT_TRUE(j.is_string()) << j;
  if (j.is_string()) {
    EXPECT_TRUE(from_hex(j.get<std::string>(), b)) << j;
  }
  return b;
}

bytes hex(const char* s) {
  bytes b;
  EXPECT_TRUE(from_hex(s, b)) << s;
  return b;
}

template <std::size_t N>
std::array<std::uint8_t, N> arr(const bytes& b) {
  std::array<std::uint8_t, N> a{};
  EXPECT_EQ(b.size(), N);
  std::copy_n(b.begin(), std::min(N, b.size()), a.begin());
  return a;
}

bytes vec(bytes_view v) {
  return {v.begin(), v.end()};
}

// Runs one full protocol vector (keys PRS, CI, sid, g, ya, ADa, Ya, yb, ADb, Yb, K, ISK_IR,
// ISK_SY, sid_output_ir, sid_output_oc).
void check_protocol(const nlohmann::json& v) {
  ASSERT_TRUE(v.is_object());
  const bytes prs = hex(v["PRS"]), ci = hex(v["CI"]), sid = hex(v["sid"]);
  cp::point g{};
  ASSERT_TRUE(cp::calculate_generator(prs, ci, sid, g));
  EXPECT_EQ(vec(g), hex(v["g"]));

  const auto ya = arr<32>(hex(v["ya"])), yb = arr<32>(hex(v["yb"]));
  const bytes ada = hex(v["ADa"]), adb = hex(v["ADb"]);
  cp::point big_ya{}, big_yb{};
  ASSERT_TRUE(cp::public_share(ya, g, big_ya));
  ASSERT_TRUE(cp::public_share(yb, g, big_yb));
  EXPECT_EQ(vec(big_ya), hex(v["Ya"]));
  EXPECT_EQ(vec(big_yb), hex(v["Yb"]));

  cp::point ka{}, kb{};
  ASSERT_TRUE(cp::scalar_mult_vfy(ya, big_yb, ka));
  ASSERT_TRUE(cp::scalar_mult_vfy(yb, big_ya, kb));
  EXPECT_EQ(vec(ka), hex(v["K"]));
  EXPECT_EQ(ka, kb);

  EXPECT_EQ(vec(cp::derive_isk_ir(sid, ka, big_ya, ada, big_yb, adb)), hex(v["ISK_IR"]));
  EXPECT_EQ(vec(cp::derive_isk_oc(sid, ka, big_ya, ada, big_yb, adb)), hex(v["ISK_SY"]));
  // The parallel transcript is symmetric: B computing with its own message first agrees.
  EXPECT_EQ(cp::derive_isk_oc(sid, kb, big_yb, adb, big_ya, ada),
            cp::derive_isk_oc(sid, ka, big_ya, ada, big_yb, adb));
  EXPECT_EQ(vec(cp::sid_output(cp::transcript_ir(big_ya, ada, big_yb, adb))),
            hex(v["sid_output_ir"]));
  EXPECT_EQ(vec(cp::sid_output(cp::transcript_oc(big_ya, ada, big_yb, adb))),
            hex(v["sid_output_oc"]));
}

void check_points(const nlohmann::json& p) {
  ASSERT_TRUE(p.is_object());
  const auto& valid = p["Valid"];
  const auto s = arr<32>(hex(valid["s"]));
  const auto x = arr<32>(hex(valid["X"]));
  cp::point out{};
  ASSERT_TRUE(cp::scalar_mult_vfy(s, x, out));
  EXPECT_EQ(vec(out), hex(valid["G.scalar_mult_vfy(s,X)"]));
  for (const char* name : {"Invalid Y1", "Invalid Y2"}) {
    SCOPED_TRACE(name);
    const auto y = arr<32>(hex(p[name]));
    out.fill(0xaa);
    EXPECT_FALSE(cp::scalar_mult_vfy(s, y, out));
    EXPECT_EQ(out, cp::point{});  // the identity's encoding
  }
}

}  // namespace

class CpaceVectors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }
};

TEST_F(CpaceVectors, PrependLenAndLvCat) {
  bytes out;
  cp::append_prepend_len(out, {});
  EXPECT_EQ(out, hex("00"));
  out.clear();
  cp::append_prepend_len(out, as_bytes("1234"));
  EXPECT_EQ(out, hex("0431323334"));
  bytes r127(127), r128(128);
  for (std::size_t i = 0; i < 128; ++i)
    r128[i] = static_cast<std::uint8_t>(i);
  std::copy_n(r128.begin(), 127, r127.begin());
  out.clear();
  cp::append_prepend_len(out, r127);
  ASSERT_EQ(out.size(), 128u);
  EXPECT_EQ(out[0], 0x7f);
  out.clear();
  cp::append_prepend_len(out, r128);
  ASSERT_EQ(out.size(), 130u);
  EXPECT_EQ(out[0], 0x80);
  EXPECT_EQ(out[1], 0x01);
  EXPECT_EQ(out[2], 0x00);
  EXPECT_EQ(cp::lv_cat({as_bytes("1234"), as_bytes("5"), as_bytes(""), as_bytes("678")}),
            hex("043132333401350003363738"));
}

TEST_F(CpaceVectors, Transcripts) {
  EXPECT_EQ(
      cp::transcript_ir(as_bytes("123"), as_bytes("PartyA"), as_bytes("234"), as_bytes("PartyB")),
      hex("03313233065061727479410332333406506172747942"));
  EXPECT_EQ(
      cp::transcript_ir(as_bytes("3456"), as_bytes("PartyA"), as_bytes("2345"), as_bytes("PartyB")),
      hex("043334353606506172747941043233343506506172747942"));
  EXPECT_EQ(
      cp::transcript_oc(as_bytes("123"), as_bytes("PartyA"), as_bytes("234"), as_bytes("PartyB")),
      hex("6f6303323334065061727479420331323306506172747941"));
  EXPECT_EQ(
      cp::transcript_oc(as_bytes("3456"), as_bytes("PartyA"), as_bytes("2345"), as_bytes("PartyB")),
      hex("6f63043334353606506172747941043233343506506172747942"));
}

TEST_F(CpaceVectors, GeneratorStringFromMd) {
  const auto j = load(md_file);
  ASSERT_FALSE(j.is_discarded());
  const auto& g = j["generator"];
  const bytes prs = hex(g["PRS"]), ci = hex(g["CI"]), sid = hex(g["sid"]);
  EXPECT_EQ(hex(g["DSI"]), vec(as_bytes(cp::dsi)));
  const bytes gs = cp::generator_string(prs, ci, sid);
  EXPECT_EQ(gs, hex(g["generator_string(G.DSI,PRS,CI,sid,H.s_in_bytes)"]));
  EXPECT_EQ(vec(cp::sha512(gs)), hex(g["hash result"]));
  cp::point gen{};
  ASSERT_TRUE(cp::calculate_generator(prs, ci, sid, gen));
  EXPECT_EQ(vec(gen), hex(g["encoded generator g"]));
}

TEST_F(CpaceVectors, ProtocolFromMd) {
  const auto j = load(md_file);
  ASSERT_FALSE(j.is_discarded());
  check_protocol(j["protocol"]);
}

TEST_F(CpaceVectors, ScalarMultVfyFromMd) {
  const auto j = load(md_file);
  ASSERT_FALSE(j.is_discarded());
  check_points(j["scalar_mult"]);
}

TEST_F(CpaceVectors, ProtocolFromJson) {
  const auto j = load(json_file);
  ASSERT_FALSE(j.is_discarded());
  ASSERT_TRUE(j.contains("G_Coffee25519"));
  check_protocol(j["G_Coffee25519"]);
  check_points(j["G_Coffee25519_points"]);
}

TEST_F(CpaceVectors, RefusesNonCanonicalAndIdentity) {
  const cp::scalar one{1};
  cp::point g{}, out{};
  ASSERT_TRUE(cp::calculate_generator(as_bytes("pw"), as_bytes("ci"), as_bytes("sid"), g));
  ASSERT_TRUE(cp::scalar_mult_vfy(one, g, out));
  EXPECT_EQ(out, g);
  cp::point bad = g;
  bad[0] ^= 1;  // a canonical encoding is a non-negative (even) field element
  EXPECT_FALSE(cp::scalar_mult_vfy(one, bad, out));
  cp::point all_ff{};
  all_ff.fill(0xff);
  EXPECT_FALSE(cp::scalar_mult_vfy(one, all_ff, out));
  EXPECT_FALSE(cp::scalar_mult_vfy(one, cp::point{}, out));
}

TEST_F(CpaceVectors, SampledScalarsDifferAndAgree) {
  crypto::seeded_rng r(7);
  const auto a = cp::sample_scalar(r), b = cp::sample_scalar(r);
  EXPECT_NE(a, b);
  cp::point g{}, ya{}, yb{}, ka{}, kb{};
  ASSERT_TRUE(cp::calculate_generator(as_bytes("pw"), as_bytes("ci"), as_bytes("sid"), g));
  ASSERT_TRUE(cp::public_share(a, g, ya));
  ASSERT_TRUE(cp::public_share(b, g, yb));
  ASSERT_TRUE(cp::scalar_mult_vfy(a, yb, ka));
  ASSERT_TRUE(cp::scalar_mult_vfy(b, ya, kb));
  EXPECT_EQ(ka, kb);
}
