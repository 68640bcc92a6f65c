#include <gtest/gtest.h>

#include "core/perf/perf.hpp"

using namespace starling;
using namespace std::chrono_literals;

namespace {
const time_point t0 = time_point(500s);

bytes drain(perf::client& c, std::size_t chunk) {
  bytes all;
  for (int guard = 0; guard < 100000; ++guard) {
    bytes out;
    const std::size_t n = c.poll_transmit(out, chunk);
    EXPECT_EQ(n, out.size());
    EXPECT_LE(n, chunk);
    if (n == 0) break;
    append(all, out);
  }
  return all;
}
}  // namespace

TEST(Perf, ClientWritesHeaderThenUpload) {
  perf::client c(10, 0x0102030405060708, t0);
  EXPECT_FALSE(c.should_close_write());
  const bytes all = drain(c, 3);
  bytes expect = {1, 2, 3, 4, 5, 6, 7, 8};
  expect.resize(18, 0);
  EXPECT_EQ(all, expect);
  EXPECT_TRUE(c.should_close_write());
  EXPECT_EQ(c.uploaded(), 10u);
}

TEST(Perf, ServerEveryHeaderSplit) {
  bytes in = {0, 0, 0, 0, 0, 0, 0x01, 0x2c};  // 300
  in.resize(8 + 17, 0xaa);
  for (std::size_t at = 0; at <= in.size(); ++at) {
    perf::server s;
    ASSERT_TRUE(s.feed(bytes_view(in).first(at)));
    bytes none;
    EXPECT_EQ(s.poll_transmit(none), 0u) << "nothing before EOF";
    ASSERT_TRUE(s.feed(bytes_view(in).subspan(at)));
    EXPECT_EQ(s.requested(), 300u);
    EXPECT_EQ(s.uploaded(), 17u);
    ASSERT_TRUE(s.on_eof());
    std::uint64_t total = 0;
    bytes out;
    while (std::size_t n = s.poll_transmit(out, 128)) {
      EXPECT_LE(n, 128u);
      total += n;
    }
    EXPECT_EQ(total, 300u);
    EXPECT_EQ(out, bytes(300, 0));
    EXPECT_TRUE(s.is_done());
  }
}

TEST(Perf, ServerErrors) {
  perf::server s1;
  ASSERT_TRUE(s1.feed(bytes{0, 0, 0}));
  EXPECT_EQ(s1.on_eof().error(), perf::errc::header_truncated);
  EXPECT_FALSE(s1.is_done());
  perf::server s2(1000);
  EXPECT_EQ(s2.feed(bytes{0, 0, 0, 0, 0, 0, 0x03, 0xe9}).error(), perf::errc::request_too_large);
  perf::server s3;
  EXPECT_EQ(s3.feed(bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}).error(),
            perf::errc::request_too_large)
      << "u64 max is above the default 1 TiB cap";
  perf::server s4;
  ASSERT_TRUE(s4.feed(bytes(8, 0)));
  ASSERT_TRUE(s4.on_eof());
  EXPECT_TRUE(s4.is_done()) << "zero bytes requested";
  EXPECT_EQ(s4.feed(bytes{1}).error(), perf::errc::data_after_eof);
}

TEST(Perf, ServerHugeRequestIsLazy) {
  perf::server s;
  ASSERT_TRUE(s.feed(bytes{0, 0, 0x01, 0, 0, 0, 0, 0}));  // 1 TiB exactly: allowed
  ASSERT_TRUE(s.on_eof());
  bytes out;
  EXPECT_EQ(s.poll_transmit(out), perf::default_chunk);
  EXPECT_EQ(out.size(), perf::default_chunk);
  EXPECT_FALSE(s.is_done());
}

TEST(Perf, ClientServerRunWithReports) {
  perf::client c(1000, 2500, t0);
  perf::server s;
  ASSERT_TRUE(s.feed(drain(c, 300)));
  ASSERT_TRUE(c.should_close_write());
  EXPECT_EQ(c.next_deadline(), t0 + 1s);
  c.on_deadline(t0 + 500ms);
  EXPECT_FALSE(c.poll_event()) << "not due yet";
  ASSERT_TRUE(s.on_eof());
  bytes down;
  ASSERT_EQ(s.poll_transmit(down, 1000), 1000u);
  ASSERT_TRUE(c.feed(down, t0 + 1s));
  c.on_deadline(t0 + 1s);
  auto r1 = c.poll_event();
  ASSERT_TRUE(r1);
  EXPECT_EQ(perf::to_json(*r1),
            R"({"type":"intermediary","timeSeconds":1,"uploadBytes":1000,"downloadBytes":1000})");
  down.clear();
  while (s.poll_transmit(down, 700) > 0) {
  }
  ASSERT_TRUE(c.feed(down, t0 + 2500ms));
  c.on_deadline(t0 + 2500ms);
  auto r2 = c.poll_event();
  ASSERT_TRUE(r2);
  EXPECT_EQ(perf::to_json(*r2),
            R"({"type":"intermediary","timeSeconds":1.5,"uploadBytes":0,"downloadBytes":1500})");
  EXPECT_TRUE(s.is_done());
  ASSERT_TRUE(c.on_eof(t0 + 2750ms));
  EXPECT_TRUE(c.is_done());
  EXPECT_EQ(c.next_deadline(), no_deadline);
  auto fin = c.poll_event();
  ASSERT_TRUE(fin);
  EXPECT_EQ(perf::to_json(*fin),
            R"({"type":"final","timeSeconds":2.75,"uploadBytes":1000,"downloadBytes":2500})");
  EXPECT_FALSE(c.poll_event());
}

TEST(Perf, ClientErrors) {
  perf::client c1(0, 4, t0);
  (void)drain(c1, 64);
  EXPECT_EQ(c1.feed(bytes(5, 0), t0).error(), perf::errc::too_much_data);
  perf::client c2(0, 4, t0);
  (void)drain(c2, 64);
  ASSERT_TRUE(c2.feed(bytes(3, 0), t0));
  EXPECT_EQ(c2.on_eof(t0).error(), perf::errc::too_little_data);
  EXPECT_FALSE(c2.is_done());
  perf::client c3(100, 0, t0);
  bytes some;
  (void)c3.poll_transmit(some, 50);
  EXPECT_EQ(c3.on_eof(t0).error(), perf::errc::early_eof);
  EXPECT_EQ(c3.feed(bytes{0}, t0).error(), perf::errc::data_after_eof);
}

TEST(PerfTake, CountsZeroBytesWithoutWritingThem) {
  starling::perf::client c(100, 0, t0);
  EXPECT_EQ(c.take_upload(64), 0u) << "nothing before the header is out";
  starling::bytes hdr;
  ASSERT_EQ(c.poll_transmit(hdr, starling::perf::header_size), starling::perf::header_size);
  EXPECT_EQ(c.take_upload(64), 64u);
  EXPECT_EQ(c.take_upload(64), 36u);
  EXPECT_EQ(c.take_upload(64), 0u);
  EXPECT_TRUE(c.should_close_write());

  starling::perf::server s;
  starling::bytes req{0, 0, 0, 0, 0, 0, 0, 10};
  ASSERT_TRUE(s.feed(req));
  EXPECT_EQ(s.take(4), 0u) << "nothing before the client's EOF";
  ASSERT_TRUE(s.on_eof());
  EXPECT_EQ(s.take(4), 4u);
  EXPECT_EQ(s.take(100), 6u);
  EXPECT_EQ(s.take(100), 0u);
  EXPECT_TRUE(s.is_done());
}
