// Generic Noise core: pattern parsing, HKDF/symmetric state, and two inline test vectors.
#include <gtest/gtest.h>

#include "core/noise/errc.hpp"
#include "core/noise/handshake_state.hpp"
#include "core/noise/pattern.hpp"

using namespace starling;
using namespace starling::noise;

namespace {

bytes hex(std::string_view h) {
  bytes b;
  EXPECT_TRUE(from_hex(h, b));
  return b;
}

template <std::size_t N>
std::array<std::uint8_t, N> arr(std::string_view h) {
  auto b = hex(h);
  std::array<std::uint8_t, N> a{};
  EXPECT_EQ(b.size(), N);
  std::copy_n(b.begin(), std::min(N, b.size()), a.begin());
  return a;
}

struct vec_msg {
  const char* payload;
  const char* ciphertext;
};

class NoiseCore : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto::init()); }
  crypto::seeded_rng m_rng{7};
};

}  // namespace

TEST_F(NoiseCore, ParsesPatternsAndModifiers) {
  auto xx = parse_protocol_name("Noise_XX_25519_ChaChaPoly_SHA256");
  ASSERT_TRUE(xx);
  EXPECT_EQ(xx->messages.size(), 3u);
  EXPECT_FALSE(xx->one_way);
  EXPECT_FALSE(xx->has_psk);

  auto combo = parse_protocol_name("Noise_NNpsk0+psk2_25519_ChaChaPoly_SHA256");
  ASSERT_TRUE(combo);
  EXPECT_EQ(combo->psk_count, 2u);
  EXPECT_EQ(combo->messages[0].front(), token::psk);
  EXPECT_EQ(combo->messages[1].back(), token::psk);

  auto n = parse_protocol_name("Noise_N_25519_ChaChaPoly_SHA256");
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->one_way);
  EXPECT_EQ(n->pre_responder.size(), 1u);

  ASSERT_TRUE(parse_pattern("X1X1"));
  ASSERT_TRUE(parse_pattern("I1K1"));
  EXPECT_FALSE(parse_protocol_name("Noise_XX_25519_AESGCM_SHA256"));
  EXPECT_FALSE(parse_protocol_name("Noise_XX_448_ChaChaPoly_SHA256"));
  EXPECT_FALSE(parse_protocol_name("Noise_XXfallback_25519_ChaChaPoly_SHA256"));
  EXPECT_FALSE(parse_protocol_name("Noise_NNpsk3_25519_ChaChaPoly_SHA256")) << "NN has 2 messages";
  EXPECT_FALSE(parse_protocol_name("Noise_ZZ_25519_ChaChaPoly_SHA256"));
  EXPECT_FALSE(parse_protocol_name("Noise__25519_ChaChaPoly_SHA256"));
  EXPECT_FALSE(parse_protocol_name("garbage"));
}

TEST_F(NoiseCore, CacophonyNNVector) {
  handshake_config ic, rc;
  ic.protocol_name = rc.protocol_name = "Noise_NN_25519_ChaChaPoly_SHA256";
  rc.initiator = false;
  ic.prologue = rc.prologue = hex("4a6f686e2047616c74");
  ic.local_ephemeral = crypto::x25519_from_private(
      arr<32>("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"));
  rc.local_ephemeral = crypto::x25519_from_private(
      arr<32>("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"));
  auto init = handshake_state::create(ic, m_rng);
  auto resp = handshake_state::create(rc, m_rng);
  ASSERT_TRUE(init && resp);

  bytes m1, p1;
  ASSERT_TRUE(init->write_message(hex("4c756477696720766f6e204d69736573"), m1));
  EXPECT_EQ(to_hex(m1),
            "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e"
            "204d69736573");
  ASSERT_TRUE(resp->read_message(m1, p1));
  EXPECT_EQ(p1, hex("4c756477696720766f6e204d69736573"));
  EXPECT_EQ(resp->read_message(m1, p1).error(), make_error_code(errc::wrong_turn))
      << "the responder must write next";

  bytes m2, p2;
  ASSERT_TRUE(resp->write_message(hex("4d757272617920526f746862617264"), m2));
  EXPECT_EQ(to_hex(m2),
            "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843a0ff96bdf86b579ef7db"
            "f94e812a7470b903c20a85a87e3a1fe863264ae547");
  ASSERT_TRUE(init->read_message(m2, p2));
  EXPECT_EQ(p2, hex("4d757272617920526f746862617264"));
  ASSERT_TRUE(init->is_finished() && resp->is_finished());
  EXPECT_EQ(to_hex(init->handshake_hash()),
            "9223fec1b892ec9d0dc2fb3bbeb261f170d1ea679f9c44ccf34aa131b4f5d97e");
  EXPECT_EQ(init->handshake_hash(), resp->handshake_hash());

  auto is = init->split();
  ASSERT_TRUE(is);
  bytes t;
  ASSERT_TRUE(is->first.encrypt_with_ad({}, hex("462e20412e20486179656b"), t));
  EXPECT_EQ(to_hex(t), "eb1a3e3d80c1792b1bb9cb0e1382f8d8322bfb1ca7c4c8517bb686");
  bytes again;
  EXPECT_EQ(init->write_message({}, again).error(), make_error_code(errc::wrong_turn));
}

TEST_F(NoiseCore, SnowCombinedPskVector) {
  const char* prologue =
      "5468657265206973206e6f20726967687420616e642077726f6e672e2054686572652773206f6e6c792066756e"
      "20616e6420626f72696e672e";
  handshake_config ic, rc;
  ic.protocol_name = rc.protocol_name = "Noise_NNpsk0+psk2_25519_ChaChaPoly_SHA256";
  rc.initiator = false;
  ic.prologue = rc.prologue = hex(prologue);
  ic.psks = rc.psks = {arr<32>("198fd1f065a2189e08601b528466c8cf8aec05a4816a8a61fec565d8c12ecf04"),
                       arr<32>("a1a156e77447faccbe3822d80cd53d3941299f7f717c4c7e6fbc06927ee17224")};
  ic.local_ephemeral = crypto::x25519_from_private(
      arr<32>("24ad913c4fdeae0cdd7a44f70d0dc625b22f29e15ed8dca775d981012a3491ff"));
  rc.local_ephemeral = crypto::x25519_from_private(
      arr<32>("c53a56ddfd32229f424a732a427f22ad1bf37e6878db43a12283f60a101a79fa"));
  auto init = handshake_state::create(ic, m_rng);
  auto resp = handshake_state::create(rc, m_rng);
  ASSERT_TRUE(init && resp);

  const vec_msg msgs[] = {
      {"abb6b87769fa6f5731060e734f0fc34f032cc7db99265abdcfd660493a4a53d4",
       "f6dd88576fa3bb6f3c3522e8f7539747529609442bd22e1ce06c6ad05cb56d3e3e5965d4d3ee60223c34873cae9"
       "e"
       "8c4b3462a780911c3d0567608419a9ecc7f433ed9f4f3b222fe954d6dd2abac6e30c"},
      {"3b91c761cea263d20482ffc06639b7a87f87c0bb0926b9c6d47d45a10c8de9eb",
       "83b28e814d65fb36070122d93621372b1216e8e628b001b6022c0bd4e8d88f0cbb8ef0a31f97d5eb579d067b717"
       "a"
       "2e75df1aae73e87d6e7c3f7721ba7fc3fc2e47a7ad6770db3cc83997ef9a9e8dddc7"},
  };
  for (int i = 0; i < 2; ++i) {
    auto& w = i == 0 ? *init : *resp;
    auto& r = i == 0 ? *resp : *init;
    bytes m, p;
    ASSERT_TRUE(w.write_message(hex(msgs[i].payload), m));
    EXPECT_EQ(to_hex(m), msgs[i].ciphertext) << "message " << i;
    ASSERT_TRUE(r.read_message(m, p));
    EXPECT_EQ(p, hex(msgs[i].payload));
  }
  auto is = init->split();
  auto rs = resp->split();
  ASSERT_TRUE(is && rs);
  bytes t, back;
  ASSERT_TRUE(is->first.encrypt_with_ad(
      {}, hex("eb8fc205a11e2108150c2f4837fad0102ee4a586168a64f21f77c016c18a39d4"), t));
  EXPECT_EQ(
      to_hex(t),
      "28d536188b139d907b7320893550964d2464617e36ff4061d95e7a16eaee93d22845c4e8e4530a86d828a9d4"
      "0198db24");
  ASSERT_TRUE(rs->first.decrypt_with_ad({}, t, back));
}

TEST_F(NoiseCore, MissingKeysAreErrors) {
  handshake_config c;
  c.protocol_name = "Noise_NK_25519_ChaChaPoly_SHA256";  // needs the responder's static in advance
  EXPECT_EQ(handshake_state::create(c, m_rng).error(), make_error_code(errc::missing_key));
  c.protocol_name = "Noise_Foo_25519_ChaChaPoly_SHA256";
  EXPECT_EQ(handshake_state::create(c, m_rng).error(), make_error_code(errc::unsupported_protocol));

  c.protocol_name = "Noise_NNpsk0_25519_ChaChaPoly_SHA256";  // psk not supplied
  auto hs = handshake_state::create(c, m_rng);
  ASSERT_TRUE(hs);
  bytes out;
  EXPECT_EQ(hs->write_message({}, out).error(), make_error_code(errc::missing_key));

  c.protocol_name = "Noise_XX_25519_ChaChaPoly_SHA256";  // initiator without a static key
  auto xx = handshake_state::create(c, m_rng);
  ASSERT_TRUE(xx);
  ASSERT_TRUE(xx->write_message({}, out));
  EXPECT_FALSE(xx->split()) << "split before the end is refused";
}

TEST_F(NoiseCore, GeneratedEphemeralRoundTripAndTamper) {
  handshake_config ic, rc;
  ic.protocol_name = rc.protocol_name = "Noise_XX_25519_ChaChaPoly_SHA256";
  rc.initiator = false;
  ic.local_static = crypto::x25519_generate(m_rng);
  rc.local_static = crypto::x25519_generate(m_rng);
  auto init = handshake_state::create(ic, m_rng);
  auto resp = handshake_state::create(rc, m_rng);
  ASSERT_TRUE(init && resp);
  bytes m1, m2, p;
  ASSERT_TRUE(init->write_message({}, m1));
  EXPECT_EQ(m1.size(), 32u);
  bytes short_msg(m1.begin(), m1.begin() + 31);
  EXPECT_EQ(resp->read_message(short_msg, p).error(), make_error_code(errc::message_too_short));
  ASSERT_TRUE(resp->read_message(m1, p));
  ASSERT_TRUE(resp->write_message(as_bytes("hi"), m2));
  m2.back() ^= 1;
  EXPECT_EQ(init->read_message(m2, p).error(), make_error_code(errc::decrypt_failed));
  bytes huge(max_message_size + 1, 0);
  EXPECT_EQ(init->read_message(huge, p).error(), make_error_code(errc::message_too_large));
}

TEST_F(NoiseCore, CipherStateNonceExhaustion) {
  cipher_state c;
  bytes out;
  ASSERT_TRUE(c.encrypt_with_ad({}, as_bytes("x"), out));
  EXPECT_EQ(out, bytes{'x'}) << "no key: identity";
  c.initialize_key(crypto::aead_key{});
  c.set_nonce(max_nonce - 1);
  out.clear();
  ASSERT_TRUE(c.encrypt_with_ad({}, as_bytes("x"), out));
  EXPECT_EQ(c.encrypt_with_ad({}, as_bytes("x"), out).error(),
            make_error_code(errc::nonce_exhausted));
  EXPECT_NE(make_error_code(errc::nonce_exhausted).message().find("nonce"), std::string::npos);
}
