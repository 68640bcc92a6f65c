// The /starling/data/1 wire format: every message round-trips, exact bytes of a sample,
// frames batch messages and split across feeds, and bad input is refused with its reason.
#include <gtest/gtest.h>

#include "core/data/wire.hpp"

using namespace starling;
using namespace starling::data;

namespace {

bytes raw(std::initializer_list<int> v) {
  bytes b;
  for (int x : v)
    b.push_back(static_cast<std::uint8_t>(x));
  return b;
}

message decode_one(const bytes& b) {
  std::size_t used = 0;
  auto m = decode_message(b, used);
  EXPECT_TRUE(m) << (m ? "" : m.error().message());
  EXPECT_EQ(used, b.size());
  return m ? *m : message(unknown{});
}

std::error_code decode_error(const bytes& b) {
  std::size_t used = 99;
  auto m = decode_message(b, used);
  EXPECT_FALSE(m);
  EXPECT_EQ(used, 0u);
  return m ? std::error_code() : m.error();
}

}  // namespace

TEST(DataWire, PushHasTheDocumentedBytes) {
  const bytes payload = raw({0xaa, 0xbb});
  push p;
  p.flags = push_flags::reliable | push_flags::has_encoding | (2 << push_flags::priority_shift);
  p.source = 0;
  p.publisher = 3;
  p.seq = 300;
  p.key = 1;
  p.timestamp = 0x0102030405060708ULL;
  p.encoding = "text/plain";
  p.payload = payload;
  bytes out;
  ASSERT_TRUE(encode(p, out));
  const bytes expected =
      raw({0x20, 28,                                        // type, length
           0x26, 0x00, 0x03, 0xac, 0x02, 0x01,              // flags source pub seq key
           0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // timestamp
           10,   't',  'e',  'x',  't',  '/',  'p',  'l',  'a', 'i', 'n',  // encoding
           2,    0xaa, 0xbb});
  EXPECT_EQ(out, expected);
  auto m = decode_one(out);
  auto* got = std::get_if<push>(&m);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->flags, p.flags);
  EXPECT_EQ(got->prio(), priority::data);
  EXPECT_EQ(got->seq, 300u);
  EXPECT_EQ(got->timestamp, p.timestamp);
  EXPECT_EQ(got->encoding, "text/plain");
  EXPECT_EQ(bytes(got->payload.begin(), got->payload.end()), payload);
  // The payload is a view into the input: no copy.
  EXPECT_EQ(got->payload.data(), out.data() + out.size() - 2);
}

TEST(DataWire, EveryMessageRoundTrips) {
  const bytes id = raw({0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 1, 2, 3});
  const bytes pl = raw({1, 2, 3, 4});
  bytes out;
  ASSERT_TRUE(encode(hello{1, id, 1, 65536}, out));
  ASSERT_TRUE(encode(node_alias{7, id}, out));
  ASSERT_TRUE(encode(key_alias{9, "home/kitchen/temp"}, out));
  record_message rec{
      2, 1'700'000'000'000ULL, {0, 7}, {{1, 0, "home/**"}, {2, 1, "cmd/*"}, {3, 0, "alive/a"}}};
  ASSERT_TRUE(encode(rec, out));
  ASSERT_TRUE(encode(heartbeat{7, 1, 9, 42}, out));
  ASSERT_TRUE(encode(nack{7, 30, 0, 1, 40, 2}, out));
  repair rp{7, 31, push{push_flags::reliable, 7, 1, 40, 9, 5, {}, pl}};
  ASSERT_TRUE(encode(rp, out));
  query q{7, 32, 0, 5, 1, 1, 2000, "cmd/blinds", "close=1", pl};
  ASSERT_TRUE(encode(q, out));
  query q2{7, 32, 0, 6, 0, 0, 0, "cmd/**", "", std::nullopt};
  ASSERT_TRUE(encode(q2, out));
  reply r{0,  32,           7, 5, reply_flags::error | reply_flags::has_encoding, "cmd/blinds",
          77, "text/plain", pl};
  ASSERT_TRUE(encode(r, out));
  ASSERT_TRUE(encode(reply_final{0, 32, 7, 5}, out));
  ASSERT_TRUE(encode(publisher_end{7, 1, 9, 42}, out));

  std::vector<message> got;
  ASSERT_TRUE(for_each_message(out, [&](const message& m) { got.push_back(m); }));
  ASSERT_EQ(got.size(), 12u);
  EXPECT_EQ(std::get<hello>(got[0]), (hello{1, id, 1, 65536}));
  EXPECT_EQ(std::get<node_alias>(got[1]), (node_alias{7, id}));
  EXPECT_EQ(std::get<key_alias>(got[2]).key, "home/kitchen/temp");
  EXPECT_EQ(std::get<record_message>(got[3]), rec);
  EXPECT_EQ(std::get<heartbeat>(got[4]), (heartbeat{7, 1, 9, 42}));
  EXPECT_EQ(std::get<nack>(got[5]), (nack{7, 30, 0, 1, 40, 2}));
  const auto& rp2 = std::get<repair>(got[6]);
  EXPECT_EQ(rp2.hops, 31);
  EXPECT_EQ(rp2.sample.seq, 40u);
  EXPECT_EQ(bytes(rp2.sample.payload.begin(), rp2.sample.payload.end()), pl);
  const auto& q3 = std::get<query>(got[7]);
  EXPECT_EQ(q3.selector, "cmd/blinds");
  EXPECT_EQ(q3.parameters, "close=1");
  EXPECT_EQ(q3.timeout_ms, 2000u);
  ASSERT_TRUE(q3.payload.has_value());
  EXPECT_EQ(q3.payload->size(), 4u);
  EXPECT_FALSE(std::get<query>(got[8]).payload.has_value());
  const auto& r2 = std::get<reply>(got[9]);
  EXPECT_EQ(r2.flags, r.flags);
  EXPECT_EQ(r2.encoding, "text/plain");
  EXPECT_EQ(r2.key, "cmd/blinds");
  EXPECT_EQ(std::get<reply_final>(got[10]), (reply_final{0, 32, 7, 5}));
  EXPECT_EQ(std::get<publisher_end>(got[11]), (publisher_end{7, 1, 9, 42}));
}

TEST(DataWire, PublisherEndBytes) {
  // Type 0x24, 4 bytes of fields: source alias 0, publisher 3, key alias 2, last_seq 300.
  bytes out;
  ASSERT_TRUE(encode(publisher_end{0, 3, 2, 300}, out));
  EXPECT_EQ(out, raw({0x24, 5, 0, 3, 2, 0xac, 0x02}));
  // Key alias 0 is not a key; a byte too many is an error.
  EXPECT_EQ(decode_error(raw({0x24, 4, 0, 3, 0, 1})), make_error_code(errc::bad_value));
  EXPECT_EQ(decode_error(raw({0x24, 5, 0, 3, 2, 1, 9})), make_error_code(errc::trailing_bytes));
}

TEST(DataWire, UnknownTypesAreSkipped) {
  bytes b = raw({0x7f, 3, 1, 2, 3});
  ASSERT_TRUE(encode(heartbeat{0, 1, 1, 1}, b));
  std::vector<std::size_t> kinds;
  ASSERT_TRUE(for_each_message(b, [&](const message& m) { kinds.push_back(m.index()); }));
  ASSERT_EQ(kinds.size(), 2u);
  std::size_t used = 0;
  auto m = decode_message(b, used);
  ASSERT_TRUE(m);
  EXPECT_EQ(used, 5u);
  EXPECT_EQ(std::get<unknown>(*m).type, 0x7f);
  EXPECT_EQ(std::get<unknown>(*m).size, 3u);
}

TEST(DataWire, BadMessagesAreRefusedWithTheirReason) {
  EXPECT_EQ(decode_error(raw({})), make_error_code(errc::truncated));
  EXPECT_EQ(decode_error(raw({0x21, 5, 0, 1})), make_error_code(errc::truncated));
  // heartbeat with a field missing, and with a byte too many.
  EXPECT_EQ(decode_error(raw({0x21, 3, 0, 1, 1})), make_error_code(errc::truncated));
  EXPECT_EQ(decode_error(raw({0x21, 5, 0, 1, 1, 1, 9})), make_error_code(errc::trailing_bytes));
  // A non-minimal varint.
  EXPECT_EQ(decode_error(raw({0x21, 5, 0x80, 0x00, 1, 1, 1})), make_error_code(errc::bad_varint));
  // A push with reserved flag bits.
  EXPECT_EQ(decode_error(raw({0x20, 14, 0x40, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})),
            make_error_code(errc::reserved_flags));
  // A push whose key alias is 0 (keys have no implicit alias).
  EXPECT_EQ(decode_error(raw({0x20, 14, 0x00, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})),
            make_error_code(errc::bad_value));
  // Declaring alias 0, or one over the limit.
  EXPECT_EQ(decode_error(raw({0x03, 3, 0, 1, 'a'})), make_error_code(errc::bad_value));
  EXPECT_EQ(decode_error(raw({0x03, 4, 0x81, 0x40, 1, 'a'})), make_error_code(errc::bad_value));
  // A record with a declaration of kind 7.
  EXPECT_EQ(decode_error(raw({0x10, 8, 1, 1, 0, 1, 7, 0, 1, 'a'})),
            make_error_code(errc::bad_value));
  // A record claiming a billion links in a few bytes allocates nothing and fails.
  EXPECT_EQ(decode_error(raw({0x10, 7, 1, 1, 0x80, 0x94, 0xeb, 0xdc, 0x03})),
            make_error_code(errc::field_too_large));
  EXPECT_EQ(decode_error(raw({0x10, 5, 1, 1, 200, 1, 0})), make_error_code(errc::truncated));
  // A query with target 3.
  EXPECT_EQ(decode_error(raw({0x30, 10, 0, 32, 0, 1, 3, 0, 0, 1, 'a', 0})),
            make_error_code(errc::bad_value));
}

TEST(DataWire, OversizedPayloadsAreRefusedBothWays) {
  const bytes big(max_payload + 1, 0x55);
  push p;
  p.key = 1;
  p.payload = big;
  bytes out;
  auto r = encode(p, out);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(errc::payload_too_large));
  EXPECT_TRUE(out.empty());
  p.payload = bytes_view(big).first(max_payload);
  ASSERT_TRUE(encode(p, out));
  std::size_t used = 0;
  ASSERT_TRUE(decode_message(out, used));
  // Patch the payload length to one more than the limit: the decoder refuses it.
  bytes forged;
  forged.push_back(0x20);
  bytes fields = raw({0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0});
  fields.push_back(0x81);  // varint 512 KiB + 1 = 0x80001
  fields.push_back(0x80);
  fields.push_back(0x20);
  forged.push_back(static_cast<std::uint8_t>(fields.size()));
  append(forged, fields);
  std::size_t u2 = 0;
  auto m = decode_message(forged, u2);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error(), make_error_code(errc::field_too_large));
}

TEST(DataWire, FramesBatchMessagesAndSurviveAnySplit) {
  frame_writer w;
  bytes stream;
  for (int f = 0; f < 3; ++f) {
    w.begin();
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(encode(
          heartbeat{0, static_cast<std::uint64_t>(f), 1, static_cast<std::uint64_t>(i)}, w.body()));
    }
    ASSERT_TRUE(w.finish());
    append(stream, w.frame());
  }
  // A frame of 50 six-byte heartbeats: a 2-byte length (301), the flags byte, the body.
  EXPECT_EQ(stream.size(), 3u * (2 + 1 + 50 * 6));
  for (std::size_t split = 0; split <= stream.size(); split += 37) {
    frame_reader r;
    std::vector<heartbeat> got;
    auto drain = [&] {
      for (;;) {
        auto f = r.next_frame();
        ASSERT_TRUE(f);
        if (!*f) return;
        ASSERT_TRUE(for_each_message(
            **f, [&](const message& m) { got.push_back(std::get<heartbeat>(m)); }));
      }
    };
    r.feed(bytes_view(stream).first(split));
    drain();
    r.feed(bytes_view(stream).subspan(split));
    drain();
    ASSERT_EQ(got.size(), 150u);
    EXPECT_EQ(got[149].publisher, 2u);
    EXPECT_EQ(got[149].last_seq, 49u);
    EXPECT_EQ(r.buffered(), 0u);
  }
}

TEST(DataWire, BadFramesAreRefused) {
  auto first = [](const bytes& b) {
    frame_reader r;
    r.feed(b);
    return r.next_frame();
  };
  EXPECT_EQ(first(raw({0})).error(), make_error_code(errc::truncated));
  EXPECT_EQ(first(raw({1, 2})).error(), make_error_code(errc::reserved_flags));
  EXPECT_EQ(first(raw({1, 1})).error(), make_error_code(errc::compressed_frame));
  EXPECT_EQ(first(raw({0x80, 0x80, 0x80, 0x01})).error(), make_error_code(errc::frame_too_large));
  EXPECT_EQ(first(raw({0xff, 0xff, 0xff})).error(), make_error_code(errc::frame_too_large));
  EXPECT_EQ(first(raw({0x80, 0x00})).error(), make_error_code(errc::bad_varint));
  // Incomplete is not an error.
  auto partial = first(raw({5, 0, 1}));
  ASSERT_TRUE(partial);
  EXPECT_FALSE(partial->has_value());
}
