#include <gtest/gtest.h>

#include "core/multiformats/varint.hpp"

using namespace starling;

namespace {
bytes enc(std::uint64_t v) {
  bytes b;
  varint::encode(v, b);
  return b;
}
}  // namespace

TEST(Varint, SpecExamples) {
  // The examples of the multiformats unsigned-varint spec.
  EXPECT_EQ(enc(1), (bytes{0x01}));
  EXPECT_EQ(enc(127), (bytes{0x7f}));
  EXPECT_EQ(enc(128), (bytes{0x80, 0x01}));
  EXPECT_EQ(enc(255), (bytes{0xff, 0x01}));
  EXPECT_EQ(enc(300), (bytes{0xac, 0x02}));
  EXPECT_EQ(enc(16384), (bytes{0x80, 0x80, 0x01}));
  EXPECT_EQ(varint::encoded_size(16384), 3u);
}

TEST(Varint, DecodeRoundTripAndPartial) {
  for (std::uint64_t v : std::initializer_list<std::uint64_t>{
           0, 1, 127, 128, 300, std::uint64_t{1} << 35, varint::max_value}) {
    auto b = enc(v);
    varint::decoded d;
    std::error_code ec;
    ASSERT_TRUE(varint::decode(b, d, ec));
    EXPECT_EQ(d.value, v);
    EXPECT_EQ(d.size, b.size());
    if (b.size() > 1) {
      ASSERT_TRUE(varint::decode(bytes_view(b).first(b.size() - 1), d, ec));
      EXPECT_EQ(d.size, 0u) << "a truncated varint asks for more";
    }
  }
}

TEST(Varint, RejectsNonMinimalAndOverlong) {
  varint::decoded d;
  std::error_code ec;
  bytes nm{0x80, 0x00};
  EXPECT_FALSE(varint::decode(nm, d, ec));
  EXPECT_EQ(ec, varint::errc::non_minimal);
  bytes ten(9, 0xff);
  ten.push_back(0x01);
  EXPECT_FALSE(varint::decode(ten, d, ec));
  EXPECT_EQ(ec, varint::errc::overlong);
  bytes nine_cont(9, 0xff);  // nine continuation bytes can never end validly
  EXPECT_FALSE(varint::decode(nine_cont, d, ec));
  EXPECT_EQ(ec, varint::errc::overlong);
  bytes top(8, 0xff);  // nine bytes reach exactly 2^63-1, the largest allowed value
  top.push_back(0x7f);
  ASSERT_TRUE(varint::decode(top, d, ec));
  EXPECT_EQ(d.value, varint::max_value);
}

TEST(Varint, Frames) {
  bytes buf;
  varint::write_frame(as_bytes("hello"), buf);
  varint::write_frame(as_bytes("x"), buf);
  std::error_code ec;
  auto f = varint::read_frame(buf, 100, ec);
  ASSERT_TRUE(f);
  EXPECT_EQ(as_chars(f->payload), "hello");
  EXPECT_EQ(f->consumed, 6u);
  auto g = varint::read_frame(bytes_view(buf).subspan(f->consumed), 100, ec);
  ASSERT_TRUE(g);
  EXPECT_EQ(as_chars(g->payload), "x");
  EXPECT_FALSE(varint::read_frame(bytes_view(buf).first(3), 100, ec));
  EXPECT_FALSE(ec);
  EXPECT_FALSE(varint::read_frame(buf, 4, ec));
  EXPECT_EQ(ec, varint::errc::too_large);
}
