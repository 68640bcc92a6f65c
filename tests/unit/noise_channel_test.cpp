// secure_channel: framing, large messages, partial frames, tamper detection, nonce exhaustion.
#include <gtest/gtest.h>

#include <algorithm>
#include <utility>

#include "core/noise/errc.hpp"
#include "core/noise/secure_channel.hpp"

using namespace starling;
using namespace starling::noise;

namespace {

class NoiseChannel : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::init());
    const auto [a, b] = keyed();
    m_a.emplace(a, b);
    m_b.emplace(b, a);
  }
  /// The two directions' cipher states every channel of these tests uses.
  static std::pair<cipher_state, cipher_state> keyed() {
    crypto::aead_key k1{}, k2{};
    k1.fill(0x11);
    k2.fill(0x22);
    std::pair<cipher_state, cipher_state> p;
    p.first.initialize_key(k1);
    p.second.initialize_key(k2);
    return p;
  }
  static bytes pattern_bytes(std::size_t n) {
    bytes b(n);
    for (std::size_t i = 0; i < n; ++i)
      b[i] = static_cast<std::uint8_t>(i * 31 + 7);
    return b;
  }
  std::optional<secure_channel> m_a, m_b;
};

}  // namespace

TEST_F(NoiseChannel, SmallMessageFrameLayout) {
  bytes wire, plain;
  ASSERT_TRUE(m_a->encrypt(as_bytes("hello"), wire));
  ASSERT_EQ(wire.size(), 2u + 5u + 16u);
  EXPECT_EQ(wire[0], 0);
  EXPECT_EQ(wire[1], 21);
  EXPECT_EQ(secure_channel::frames_size(5), wire.size());
  ASSERT_TRUE(m_b->feed(wire, plain));
  EXPECT_EQ(as_chars(plain), "hello");
  EXPECT_EQ(m_a->send_nonce(), 1u);
  EXPECT_EQ(m_b->recv_nonce(), 1u);
}

TEST_F(NoiseChannel, EmptyPlaintextIsOneEmptyFrame) {
  bytes wire, plain;
  ASSERT_TRUE(m_a->encrypt({}, wire));
  EXPECT_EQ(wire.size(), 18u);
  ASSERT_TRUE(m_b->feed(wire, plain));
  EXPECT_TRUE(plain.empty());
  EXPECT_EQ(m_b->recv_nonce(), 1u);
}

TEST_F(NoiseChannel, LargeMessagesSplitIntoMaxFrames) {
  const bytes big = pattern_bytes(3 * max_frame_plaintext + 1000);
  bytes wire, plain;
  ASSERT_TRUE(m_a->encrypt(big, wire));
  EXPECT_EQ(wire.size(), big.size() + 4 * 18);
  EXPECT_EQ(wire.size(), secure_channel::frames_size(big.size()));
  EXPECT_EQ(wire[0], 0xff);
  EXPECT_EQ(wire[1], 0xff) << "a full frame is exactly 65535 bytes";
  EXPECT_EQ(m_a->send_nonce(), 4u);
  ASSERT_TRUE(m_b->feed(wire, plain));
  EXPECT_EQ(plain, big);
}

TEST_F(NoiseChannel, FeedSplitAtEveryByteBoundary) {
  bytes wire;
  ASSERT_TRUE(m_a->encrypt(as_bytes("first"), wire));
  ASSERT_TRUE(m_a->encrypt(as_bytes("second!"), wire));
  // Fresh receivers for each split point (the nonce moves on with every frame).
  for (std::size_t k = 0; k <= wire.size(); ++k) {
    SetUp();
    bytes w2, plain;
    ASSERT_TRUE(m_a->encrypt(as_bytes("first"), w2));
    ASSERT_TRUE(m_a->encrypt(as_bytes("second!"), w2));
    ASSERT_EQ(w2, wire);
    ASSERT_TRUE(m_b->feed(bytes_view(wire).first(k), plain));
    ASSERT_TRUE(m_b->feed(bytes_view(wire).subspan(k), plain));
    EXPECT_EQ(as_chars(plain), "firstsecond!") << k;
    EXPECT_FALSE(m_b->has_buffered_input());
  }
  // And one byte at a time.
  SetUp();
  bytes w3, plain;
  ASSERT_TRUE(m_a->encrypt(as_bytes("first"), w3));
  ASSERT_TRUE(m_a->encrypt(as_bytes("second!"), w3));
  for (std::uint8_t byte : w3)
    ASSERT_TRUE(m_b->feed(bytes_view(&byte, 1), plain));
  EXPECT_EQ(as_chars(plain), "firstsecond!");
}

TEST_F(NoiseChannel, TamperDetection) {
  bytes wire;
  ASSERT_TRUE(m_a->encrypt(as_bytes("one"), wire));
  const std::size_t first_len = wire.size();
  ASSERT_TRUE(m_a->encrypt(as_bytes("two"), wire));
  wire[first_len + 4] ^= 0x01;  // inside the second frame's ciphertext
  bytes plain;
  EXPECT_EQ(m_b->feed(wire, plain).error(), make_error_code(errc::decrypt_failed));
  EXPECT_EQ(as_chars(plain), "one") << "frames before the bad one are delivered";
  EXPECT_EQ(m_b->feed({}, plain).error(), make_error_code(errc::channel_failed));
}

TEST_F(NoiseChannel, ReplayAndReorderAreDetected) {
  bytes f1, f2, plain;
  ASSERT_TRUE(m_a->encrypt(as_bytes("one"), f1));
  ASSERT_TRUE(m_a->encrypt(as_bytes("two"), f2));
  EXPECT_EQ(m_b->feed(f2, plain).error(), make_error_code(errc::decrypt_failed));
  SetUp();
  bytes g1;
  ASSERT_TRUE(m_a->encrypt(as_bytes("one"), g1));
  ASSERT_TRUE(m_b->feed(g1, plain));
  EXPECT_EQ(m_b->feed(g1, plain).error(), make_error_code(errc::decrypt_failed)) << "replay";
}

TEST_F(NoiseChannel, FrameShorterThanTagIsAnError) {
  bytes bogus = {0x00, 0x03, 1, 2, 3};
  bytes plain;
  EXPECT_EQ(m_b->feed(bogus, plain).error(), make_error_code(errc::message_too_short));
}

TEST_F(NoiseChannel, NonceExhaustion) {
  m_a->set_send_nonce(max_nonce - 1);
  bytes wire;
  ASSERT_TRUE(m_a->encrypt(as_bytes("last"), wire));
  const std::size_t before = wire.size();
  EXPECT_EQ(m_a->encrypt(as_bytes("too many"), wire).error(),
            make_error_code(errc::nonce_exhausted));
  EXPECT_EQ(wire.size(), before) << "nothing appended for the refused frame";
  EXPECT_EQ(m_a->encrypt(as_bytes("x"), wire).error(), make_error_code(errc::channel_failed));
}

// Accidental quadratic copies come from reallocating a buffer that already holds everything
// queued so far. These two tests count reallocations (a new data() address) instead of timing
// the work, so they need no clock; throughput itself is measured in bench/.
TEST_F(NoiseChannel, LargeMessagesFitTheReservedCapacity) {
  // encrypt() allocates only when `out` lacks frames_size() bytes of room.
  const bytes chunk = pattern_bytes(1 << 20);
  bytes wire, plain;
  wire.reserve(secure_channel::frames_size(chunk.size()));
  const auto* const wire_at = wire.data();
  const std::uint8_t* plain_at = nullptr;
  for (int i = 0; i < 64; ++i) {
    SCOPED_TRACE(testing::Message() << "round " << i);
    wire.clear();
    plain.clear();
    ASSERT_TRUE(m_a->encrypt(chunk, wire));
    ASSERT_EQ(wire.size(), secure_channel::frames_size(chunk.size()));
    ASSERT_EQ(wire.data(), wire_at) << "encrypt() reallocated a buffer with room for its frames";
    ASSERT_TRUE(m_b->feed(wire, plain));
    ASSERT_EQ(plain, chunk);
    if (i == 0) plain_at = plain.data();
    ASSERT_EQ(plain.data(), plain_at) << "feed() grew a buffer that held the last message";
  }
  EXPECT_FALSE(m_b->has_buffered_input());
  EXPECT_EQ(m_a->send_nonce(), 64u * 17u);  // 1 MiB is 17 frames of at most 65519 bytes
  EXPECT_EQ(m_b->recv_nonce(), m_a->send_nonce());
}

TEST_F(NoiseChannel, FrameAfterFrameIntoOneBufferGrowsItGeometrically) {
  // 4096 messages appended one call at a time, each way. Reserving the exact size on every
  // call would reallocate (and copy all queued bytes) 4096 times; doubling needs about 13.
  constexpr int messages = 4096;
  const bytes msg = pattern_bytes(1000);
  const std::size_t frame = secure_channel::frames_size(msg.size());
  bytes wire, plain;
  int wire_moves = 0, plain_moves = 0;
  for (int i = 0; i < messages; ++i) {
    const auto* const before = wire.data();
    ASSERT_TRUE(m_a->encrypt(msg, wire));
    wire_moves += wire.data() != before ? 1 : 0;
  }
  ASSERT_EQ(wire.size(), messages * frame);
  for (int i = 0; i < messages; ++i) {
    const auto* const before = plain.data();
    const std::size_t at = static_cast<std::size_t>(i) * frame;
    ASSERT_TRUE(m_b->feed(bytes_view(wire).subspan(at, frame), plain));
    plain_moves += plain.data() != before ? 1 : 0;
  }
  ASSERT_EQ(plain.size(), messages * msg.size());
  for (int i = 0; i < messages; ++i) {
    const auto at = plain.begin() + static_cast<std::ptrdiff_t>(i) * 1000;
    ASSERT_TRUE(std::equal(msg.begin(), msg.end(), at)) << "message " << i;
  }
  EXPECT_LE(wire_moves, 32);
  EXPECT_LE(plain_moves, 32);
}

// prepare() between frames (as the shell calls it after each read) changes nothing on the
// wire: a prepared sender and an unprepared one write the same bytes, and a prepared receiver
// opens both small frames and frames too large for the prepared key stream.
TEST_F(NoiseChannel, PreparedFramesAreTheSameBytes) {
  const auto [a, b] = keyed();
  std::optional<secure_channel> plain_a;
  plain_a.emplace(a, b);  // the same keys as m_a, never prepared
  for (const std::size_t len : {0UL, 44UL, 192UL, 193UL, 1000UL, 44UL}) {
    SCOPED_TRACE(testing::Message() << "len " << len);
    const bytes msg = pattern_bytes(len);
    bytes w1, w2, got;
    m_a->prepare();
    m_b->prepare();
    ASSERT_TRUE(m_a->encrypt(msg, w1));
    ASSERT_TRUE(plain_a->encrypt(msg, w2));
    EXPECT_EQ(w1, w2);
    ASSERT_TRUE(m_b->feed(w1, got));
    EXPECT_EQ(got, msg);
    m_b->prepare();
    m_b->prepare();  // a second prepare() for the same nonce must do no harm
  }
  // A tampered frame still fails with a prepared receiver.
  bytes w, got;
  ASSERT_TRUE(m_a->encrypt(as_bytes("ping"), w));
  w[3] ^= 1;
  m_b->prepare();
  EXPECT_FALSE(m_b->feed(w, got));
}
