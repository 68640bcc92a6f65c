// cipher_state and secure_channel when encryption fails (the OpenSSL failure points of
// core/crypto/aead_fault.hpp), when a buffer has no room for a tag, and after a rekey.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "core/crypto/aead_fault.hpp"
#include "core/noise/errc.hpp"
#include "core/noise/secure_channel.hpp"

using namespace starling;
using namespace starling::noise;
using crypto::fault::scoped_openssl_seal_failure;
using crypto::fault::seal_step;

namespace {

class NoiseCipherFailure : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto::init()); }
  static crypto::aead_key key(std::uint8_t v) {
    crypto::aead_key k{};
    k.fill(v);
    return k;
  }
  static bytes pattern_bytes(std::size_t n) {
    bytes b(n);
    for (std::size_t i = 0; i < n; ++i)
      b[i] = static_cast<std::uint8_t>(i * 31 + 7);
    return b;
  }
  static bool all_zero(bytes_view b) {
    return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
  }
};

}  // namespace

// After initialize_key (a rekey) the nonce is 0 again: a key stream prepared for nonce 0 under
// the old key must not seal or open anything under the new one.
TEST_F(NoiseCipherFailure, RekeyDropsThePreparedKeyStream) {
  const bytes plain = pattern_bytes(44);
  bytes expected;
  ASSERT_TRUE(crypto::aead_encrypt(key(2), 0, {}, plain, expected));

  cipher_state send;
  send.initialize_key(key(1));
  send.prepare();  // nonce 0, old key
  send.initialize_key(key(2));
  bytes buf = plain;
  buf.resize(plain.size() + crypto::aead_tag_size);
  ASSERT_TRUE(send.encrypt_inplace({}, buf));
  EXPECT_EQ(buf, expected);

  cipher_state recv;
  recv.initialize_key(key(1));
  recv.prepare();
  recv.initialize_key(key(2));
  ASSERT_TRUE(recv.decrypt_inplace({}, buf));
  EXPECT_EQ(bytes(buf.begin(), buf.begin() + 44), plain);
  EXPECT_EQ(recv.nonce(), 1u);

  // And a stream prepared under the new key is used as before.
  send.initialize_key(key(2));
  send.prepare();
  buf = plain;
  buf.resize(plain.size() + crypto::aead_tag_size);
  ASSERT_TRUE(send.encrypt_inplace({}, buf));
  EXPECT_EQ(buf, expected);
}

TEST_F(NoiseCipherFailure, CipherStateReportsAFailedEncryption) {
  const bytes plain = pattern_bytes(1000);
  cipher_state c;
  c.initialize_key(key(3));
  const scoped_openssl_seal_failure armed(seal_step::final);

  bytes out{'a', 'b', 'c'};
  EXPECT_EQ(c.encrypt_with_ad(as_bytes("h"), plain, out).error(),
            make_error_code(errc::encrypt_failed));
  EXPECT_EQ(out, (bytes{'a', 'b', 'c'})) << "nothing appended";
  EXPECT_EQ(c.nonce(), 0u);

  bytes buf = plain;
  buf.resize(plain.size() + crypto::aead_tag_size);
  c.prepare();
  EXPECT_EQ(c.encrypt_inplace({}, buf).error(), make_error_code(errc::encrypt_failed));
  EXPECT_TRUE(all_zero(buf));
  EXPECT_NE(make_error_code(errc::encrypt_failed).message().find("nothing was sent"),
            std::string::npos);
}

TEST_F(NoiseCipherFailure, CipherStateRefusesABufferWithoutTagRoom) {
  cipher_state c;
  c.initialize_key(key(4));
  c.prepare();
  for (std::size_t size = 0; size < crypto::aead_tag_size; ++size) {
    const bytes before(size, 0x77);
    bytes buf = before;
    EXPECT_EQ(c.encrypt_inplace({}, buf).error(), make_error_code(errc::message_too_short));
    EXPECT_EQ(buf, before);
    EXPECT_EQ(c.nonce(), 0u);
  }
}

// A channel whose encryption fails sends nothing of the failing frame and is dead after it.
TEST_F(NoiseCipherFailure, ChannelClosesWhenEncryptionFails) {
  for (const seal_step step : {seal_step::update, seal_step::final, seal_step::tag}) {
    SCOPED_TRACE(testing::Message() << "step " << static_cast<int>(step));
    cipher_state s, r;
    s.initialize_key(key(5));
    r.initialize_key(key(6));
    secure_channel ch(s, r);
    const bytes plain = pattern_bytes(4000);
    bytes wire{9, 9};
    {
      const scoped_openssl_seal_failure armed(step);
      EXPECT_EQ(ch.encrypt(plain, wire).error(), make_error_code(errc::encrypt_failed));
    }
    EXPECT_EQ(wire, (bytes{9, 9}));
    EXPECT_EQ(ch.encrypt(as_bytes("later"), wire).error(), make_error_code(errc::channel_failed));
    EXPECT_EQ(wire, (bytes{9, 9}));
  }
}

TEST_F(NoiseCipherFailure, ChannelSealClosesWhenEncryptionFails) {
  cipher_state s, r;
  s.initialize_key(key(7));
  r.initialize_key(key(8));
  secure_channel ch(s, r);
  const bytes plain = pattern_bytes(3000);
  bytes buf{1, 2, 3};
  const std::size_t at = buf.size();
  buf.resize(at + frame_header_size);
  buf.insert(buf.end(), plain.begin(), plain.end());
  {
    const scoped_openssl_seal_failure armed(seal_step::update);
    EXPECT_EQ(ch.seal(buf, at).error(), make_error_code(errc::encrypt_failed));
  }
  EXPECT_EQ(buf, (bytes{1, 2, 3})) << "cut back to `at`";
  buf.resize(at + frame_header_size + 10, 0);
  EXPECT_EQ(ch.seal(buf, at).error(), make_error_code(errc::channel_failed));
}

// OpenSSL failing before it writes anything is not an error: libsodium seals the frame.
TEST_F(NoiseCipherFailure, ChannelFallsBackWhenOpenSslFailsBeforeWriting) {
  cipher_state s, r;
  s.initialize_key(key(9));
  r.initialize_key(key(10));
  secure_channel a(s, r), b(r, s);
  const bytes plain = pattern_bytes(5000);
  bytes wire, back;
  {
    const scoped_openssl_seal_failure armed(seal_step::init);
    ASSERT_TRUE(a.encrypt(plain, wire));
  }
  ASSERT_TRUE(b.feed(wire, back));
  EXPECT_EQ(back, plain);
}
