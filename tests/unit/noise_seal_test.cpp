// secure_channel::seal: in-place framing gives exactly the bytes encrypt() gives.
#include <gtest/gtest.h>

#include "core/noise/errc.hpp"
#include "core/noise/secure_channel.hpp"

using namespace starling;
using namespace starling::noise;

namespace {

secure_channel make_channel(std::uint8_t send_key, std::uint8_t recv_key) {
  crypto::aead_key k1{}, k2{};
  k1.fill(send_key);
  k2.fill(recv_key);
  cipher_state a, b;
  a.initialize_key(k1);
  b.initialize_key(k2);
  return secure_channel(a, b);
}

bytes pattern_bytes(std::size_t n) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(i * 13 + 5);
  return b;
}

// Seals `plain` behind `prefix` already in the buffer and checks it against encrypt().
void expect_same_as_encrypt(std::size_t len) {
  ASSERT_TRUE(crypto::init());
  auto sealer = make_channel(0x11, 0x22);
  auto reference = make_channel(0x11, 0x22);
  const bytes plain = pattern_bytes(len);
  const bytes prefix = {0xaa, 0xbb, 0xcc};

  bytes expected = prefix;
  ASSERT_TRUE(reference.encrypt(plain, expected));

  bytes buf = prefix;
  buf.resize(buf.size() + frame_header_size, 0xee);  // room for the length prefix
  buf.insert(buf.end(), plain.begin(), plain.end());
  ASSERT_TRUE(sealer.seal(buf, prefix.size()));
  EXPECT_EQ(buf, expected) << "len " << len;
  EXPECT_EQ(sealer.send_nonce(), reference.send_nonce());

  auto receiver = make_channel(0x22, 0x11);
  bytes out;
  ASSERT_TRUE(receiver.feed(bytes_view(buf).subspan(prefix.size()), out));
  EXPECT_EQ(out, plain);
}

}  // namespace

TEST(NoiseSeal, EmptyPlaintextIsOneEmptyFrame) {
  expect_same_as_encrypt(0);
}
TEST(NoiseSeal, SmallPlaintext) {
  expect_same_as_encrypt(100);
}
TEST(NoiseSeal, ExactlyOneFullFrame) {
  expect_same_as_encrypt(max_frame_plaintext);
}
TEST(NoiseSeal, OneByteOverSplitsIntoTwoFrames) {
  expect_same_as_encrypt(max_frame_plaintext + 1);
}
TEST(NoiseSeal, ManyFrames) {
  expect_same_as_encrypt(3 * max_frame_plaintext + 77);
}

TEST(NoiseSeal, NonceExhaustionCutsBufferBackAndKillsChannel) {
  ASSERT_TRUE(crypto::init());
  auto ch = make_channel(0x11, 0x22);
  ch.set_send_nonce(max_nonce);
  bytes buf = {1, 2};
  buf.resize(buf.size() + frame_header_size);
  buf.push_back(42);
  auto r = ch.seal(buf, 2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(errc::nonce_exhausted));
  EXPECT_EQ(buf, (bytes{1, 2}));
  bytes again;
  EXPECT_EQ(ch.encrypt(as_bytes("x"), again).error(), make_error_code(errc::channel_failed));
}

TEST(NoiseSeal, AfterFailureRefuses) {
  ASSERT_TRUE(crypto::init());
  auto ch = make_channel(0x11, 0x22);
  ch.set_send_nonce(max_nonce);
  bytes junk;
  ASSERT_FALSE(ch.encrypt(as_bytes("x"), junk));
  bytes buf(frame_header_size + 3, 0);
  EXPECT_EQ(ch.seal(buf, 0).error(), make_error_code(errc::channel_failed));
}

// open_inplace: the same plaintext as feed(), however the wire bytes are split across calls,
// without copying complete frames out of the input.
TEST(NoiseOpenInplace, SameAsFeedForEverySplit) {
  ASSERT_TRUE(crypto::init());
  auto sender = make_channel(0x11, 0x22);
  bytes wire;
  const bytes a = pattern_bytes(1000), b = pattern_bytes(7),
              c = pattern_bytes(max_frame_plaintext + 300);
  ASSERT_TRUE(sender.encrypt(a, wire));
  ASSERT_TRUE(sender.encrypt({}, wire));
  ASSERT_TRUE(sender.encrypt(b, wire));
  ASSERT_TRUE(sender.encrypt(c, wire));
  bytes expected = a;
  append(expected, b);
  append(expected, c);
  for (std::size_t cut :
       {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{500}, std::size_t{1018},
        std::size_t{1019}, std::size_t{1020}, wire.size() - 1, wire.size()}) {
    auto receiver = make_channel(0x22, 0x11);
    bytes input = wire;  // open_inplace overwrites its input
    bytes got;
    std::vector<bytes_view> views;
    ASSERT_TRUE(receiver.open_inplace(std::span<std::uint8_t>(input).first(cut), views)) << cut;
    for (auto v : views)
      append(got, v);
    views.clear();
    ASSERT_TRUE(receiver.open_inplace(std::span<std::uint8_t>(input).subspan(cut), views)) << cut;
    for (auto v : views)
      append(got, v);
    EXPECT_EQ(got, expected) << "cut " << cut;
    EXPECT_EQ(receiver.recv_nonce(), 5u);  // c takes two frames
    EXPECT_FALSE(receiver.has_buffered_input());
  }
}

TEST(NoiseOpenInplace, CompleteFramesAreDecryptedWhereTheyLie) {
  ASSERT_TRUE(crypto::init());
  auto sender = make_channel(0x11, 0x22);
  bytes wire;
  const bytes plain = pattern_bytes(64);
  ASSERT_TRUE(sender.encrypt(plain, wire));
  auto receiver = make_channel(0x22, 0x11);
  std::vector<bytes_view> views;
  ASSERT_TRUE(receiver.open_inplace(wire, views));
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].data(), wire.data() + frame_header_size);  // no copy
  EXPECT_EQ(bytes(views[0].begin(), views[0].end()), plain);
}

TEST(NoiseOpenInplace, TamperedFrameFailsAndKillsChannel) {
  ASSERT_TRUE(crypto::init());
  auto sender = make_channel(0x11, 0x22);
  bytes wire;
  ASSERT_TRUE(sender.encrypt(pattern_bytes(10), wire));
  ASSERT_TRUE(sender.encrypt(pattern_bytes(10), wire));
  wire.back() ^= 1;
  auto receiver = make_channel(0x22, 0x11);
  std::vector<bytes_view> views;
  auto r = receiver.open_inplace(wire, views);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(errc::decrypt_failed));
  EXPECT_EQ(views.size(), 1u);  // the good frame before the bad one
  bytes more = {0, 0};
  views.clear();
  EXPECT_FALSE(receiver.open_inplace(more, views));
}
