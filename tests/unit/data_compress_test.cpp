// zstd frames on data links (core/data/compress.hpp and the engine's use of them): round
// trips, what stays raw (small frames, compressed encodings, a peer that did not offer it),
// and compressed frames that are corrupt or too large, which are refused and counted.
#include <gtest/gtest.h>
#include <zstd.h>

#include <random>

#include "core/data/compress.hpp"
#include "core/data/engine.hpp"
#include "core/multiformats/varint.hpp"
#include "data_mesh.hpp"

using namespace starling;
using namespace starling::data;
using namespace starling::data::test_mesh;

namespace {

std::string reading(int i) {
  return R"({"sensor":"floor1/room)" + std::to_string(i % 20) + R"(/temp","value":21.)" +
         std::to_string(i % 100) + R"(,"unit":"C","ts":17950000)" + std::to_string(1000 + i) + "}";
}

/// A frame around `body` with the given flags.
bytes frame_of(bytes_view body, std::uint8_t flags) {
  bytes f;
  varint::encode(1 + body.size(), f);
  f.push_back(flags);
  append(f, body);
  return f;
}

/// The flags byte of every frame in `stream`.
std::vector<std::uint8_t> frame_flags(bytes_view stream) {
  frame_reader r;
  r.accept_compressed(true);
  r.feed(stream);
  std::vector<std::uint8_t> out;
  for (;;) {
    auto f = r.next_frame();
    EXPECT_TRUE(f);
    if (!f || !*f) break;
    out.push_back(r.last_flags());
  }
  return out;
}

/// Drains engine `from` of the mesh by hand: returns its bytes for `to` and delivers them.
bytes relay(mesh& m, std::size_t from, std::size_t to) {
  bytes out;
  m.engines[from]->drain_transmit([&](const peer_id& p, bytes_view b) {
    if (p == m.ids[to]) append(out, b);
  });
  auto r = m.engines[to]->on_bytes(m.ids[from], out, m.now, ntp);
  EXPECT_TRUE(r) << r.error().message();
  return out;
}

bytes zstd_of(bytes_view in) {
  zstd_compressor c;
  bytes z;
  EXPECT_TRUE(c.compress(in, z));
  return z;
}

}  // namespace

TEST(DataCompress, CompressedEncodingsAreRecognised) {
  for (const char* yes :
       {"image/png", "IMAGE/JPEG", "image/webp; q=1", "video/mp4", "audio/ogg", "application/zstd",
        "application/gzip", "application/zip", "application/vnd.acme.log+zstd"}) {
    EXPECT_TRUE(compressed_encoding(yes)) << yes;
  }
  for (const char* no : {"", "application/json", "text/plain", "application/octet-stream",
                         "image/svg+xml", "image/bmp", "audio/wav", "application/zstdx"}) {
    EXPECT_FALSE(compressed_encoding(no)) << no;
  }
}

TEST(DataCompress, FrameRoundTrip) {
  bytes body;
  for (int i = 0; i < 50; ++i) {
    push p;
    p.key = 1;
    p.seq = static_cast<std::uint64_t>(i + 1);
    const std::string json = reading(i);
    p.payload = as_bytes(json);
    ASSERT_TRUE(encode(p, body));
  }
  zstd_compressor c;
  bytes out;
  auto z = c.compress_frame(body, out);
  ASSERT_TRUE(z);
  EXPECT_LT(z->size() * 2, body.size());  // JSON readings compress well
  frame_reader r;
  r.accept_compressed(true);
  r.feed(*z);
  auto f = r.next_frame();
  ASSERT_TRUE(f && *f);
  EXPECT_EQ(r.last_flags(), frame_compressed);
  zstd_decompressor d;
  bytes back;
  ASSERT_TRUE(d.decompress(**f, back, max_frame - 1));
  EXPECT_EQ(back, body);
  // A reader that was not told to take compressed frames refuses it, as before.
  frame_reader old;
  old.feed(*z);
  auto g = old.next_frame();
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error(), make_error_code(errc::compressed_frame));
}

TEST(DataCompress, IncompressibleBodyIsNotKept) {
  std::mt19937_64 rng(7);
  bytes body(4096);
  for (auto& b : body)
    b = static_cast<std::uint8_t>(rng());
  zstd_compressor c;
  bytes out;
  EXPECT_FALSE(c.compress_frame(body, out));
}

TEST(DataCompress, DecompressionIsBoundedAndStrict) {
  zstd_decompressor d;
  bytes out;
  const bytes text = [] {
    bytes b;
    for (int i = 0; i < 40; ++i)
      append(b, as_bytes(reading(i)));
    return b;
  }();
  const bytes z = zstd_of(text);
  ASSERT_TRUE(d.decompress(z, out, 1 << 20));
  EXPECT_EQ(out, text);
  // Over the limit: refused from the header, nothing allocated.
  auto big = d.decompress(z, out, text.size() - 1);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error(), make_error_code(errc::frame_too_large));
  EXPECT_TRUE(out.empty());
  // A bomb: 2 MiB of zeros in a few dozen bytes.
  const bytes bomb = zstd_of(bytes(2 * 1024 * 1024, 0));
  EXPECT_LT(bomb.size(), 200u);
  EXPECT_EQ(d.decompress(bomb, out, max_frame - 1).error(), make_error_code(errc::frame_too_large));
  // Corrupt, truncated, trailing bytes, not zstd at all, a skippable frame.
  bytes corrupt = z;
  for (std::size_t i = 8; i < corrupt.size(); i += 3)
    corrupt[i] ^= 0x5a;
  EXPECT_FALSE(d.decompress(corrupt, out, 1 << 20));
  EXPECT_FALSE(d.decompress(bytes_view(z).first(z.size() - 3), out, 1 << 20));
  bytes trailing = z;
  trailing.push_back(0);
  EXPECT_EQ(d.decompress(trailing, out, 1 << 20).error(),
            make_error_code(errc::bad_compressed_frame));
  EXPECT_FALSE(d.decompress(as_bytes("not zstd at all"), out, 1 << 20));
  const bytes skippable = {0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0};
  EXPECT_FALSE(d.decompress(skippable, out, 1 << 20));
  // A frame without its content size (streamed) is refused: we cannot bound it up front.
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  bytes unsized(ZSTD_compressBound(text.size()));
  const std::size_t n =
      ZSTD_compress2(cctx, unsized.data(), unsized.size(), text.data(), text.size());
  ZSTD_freeCCtx(cctx);
  ASSERT_FALSE(ZSTD_isError(n));
  unsized.resize(n);
  EXPECT_EQ(d.decompress(unsized, out, 1 << 20).error(),
            make_error_code(errc::bad_compressed_frame));
  // Still usable after refusals.
  ASSERT_TRUE(d.decompress(z, out, 1 << 20));
  EXPECT_EQ(out, text);
}

// A burst of JSON readings leaves as one compressed frame and arrives in order, once.
TEST(DataCompress, BurstIsCompressedAndDelivered) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("b/**"));
  m.pump();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(m.engines[0]->put("b/" + std::to_string(i % 10), as_bytes(reading(i)),
                                  "application/json", m.now, ntp));
  }
  const bytes sent = relay(m, 0, 1);
  EXPECT_EQ(frame_flags(sent), (std::vector<std::uint8_t>{frame_compressed}));
  ASSERT_EQ(m.sinks[1].samples.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(m.sinks[1].samples[static_cast<std::size_t>(i)].payload, reading(i));
  }
  const auto& tx = m.engines[0]->stats();
  const auto& rx = m.engines[1]->stats();
  EXPECT_EQ(tx.frames_compressed, 1u);
  EXPECT_EQ(tx.compress_bytes_out, sent.size());
  EXPECT_GT(tx.compress_bytes_in, 3 * tx.compress_bytes_out);
  EXPECT_EQ(rx.frames_decompressed, 1u);
  EXPECT_EQ(rx.decompress_refused, 0u);
}

// One small sample (an idle link sends each at once) is not worth compressing.
TEST(DataCompress, SmallFrameStaysRaw) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("b/**"));
  m.pump();
  ASSERT_TRUE(m.engines[0]->put("b/x", as_bytes(reading(1)), "application/json", m.now, ntp));
  const bytes sent = relay(m, 0, 1);
  EXPECT_EQ(frame_flags(sent), (std::vector<std::uint8_t>{0}));
  EXPECT_EQ(m.sinks[1].samples.size(), 1u);
  EXPECT_EQ(m.engines[0]->stats().frames_compressed, 0u);
  EXPECT_EQ(m.engines[0]->stats().frames_left_raw, 0u);
}

// Samples whose encoding is already compressed are not compressed again, however large.
TEST(DataCompress, CompressedEncodingsStayRaw) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("cam/**"));
  m.pump();
  for (int i = 0; i < 100; ++i) {
    // (Compressible bytes here: only the encoding keeps them raw.)
    ASSERT_TRUE(m.engines[0]->put("cam/" + std::to_string(i % 4), as_bytes(reading(i)),
                                  "image/jpeg", m.now, ntp));
  }
  const bytes sent = relay(m, 0, 1);
  EXPECT_EQ(frame_flags(sent), (std::vector<std::uint8_t>{0}));
  EXPECT_EQ(m.sinks[1].samples.size(), 100u);
  EXPECT_EQ(m.engines[0]->stats().frames_compressed, 0u);
  EXPECT_EQ(m.engines[0]->stats().frames_left_raw, 1u);
}

// A peer of the version before compression (it does not offer it) gets raw frames both ways,
// and everything arrives.
TEST(DataCompress, PeerWithoutSupportGetsRawFrames) {
  engine_options old;
  old.compression = false;
  mesh m(2, {engine_options{}, old});
  m.link(0, 1);
  ASSERT_TRUE(m.engines[0]->declare_subscriber("b/**"));
  ASSERT_TRUE(m.engines[1]->declare_subscriber("b/**"));
  m.pump();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(m.engines[0]->put("b/0", as_bytes(reading(i)), "", m.now, ntp));
    ASSERT_TRUE(m.engines[1]->put("b/1", as_bytes(reading(i)), "", m.now, ntp));
  }
  for (auto f : frame_flags(relay(m, 0, 1)))
    EXPECT_EQ(f, 0);
  for (auto f : frame_flags(relay(m, 1, 0)))
    EXPECT_EQ(f, 0);
  EXPECT_EQ(m.sinks[0].samples.size(), 200u);  // its own 100 and the peer's 100
  EXPECT_EQ(m.sinks[1].samples.size(), 200u);
  EXPECT_EQ(m.engines[0]->stats().frames_compressed, 0u);
  EXPECT_EQ(m.engines[1]->stats().frames_compressed, 0u);
}

// A corrupt compressed frame and a decompression bomb are refused (the link is reset by the
// caller), counted, and never delivered.
TEST(DataCompress, CorruptOrOversizedCompressedFramesAreRefused) {
  const bytes good = [] {
    bytes b;
    for (int i = 0; i < 20; ++i)
      append(b, as_bytes(reading(i)));
    return zstd_of(b);
  }();
  bytes corrupt = good;
  corrupt[good.size() / 2] ^= 0xff;
  corrupt[good.size() / 2 + 1] ^= 0xff;
  const bytes bomb = zstd_of(bytes(4 * 1024 * 1024, 0x20));
  for (const auto& [body, code] :
       {std::pair{corrupt, make_error_code(errc::bad_compressed_frame)},
        std::pair{bomb, make_error_code(errc::frame_too_large)},
        std::pair{bytes{1, 2, 3}, make_error_code(errc::bad_compressed_frame)}}) {
    mesh m(2);
    m.link(0, 1);
    auto r = m.engines[1]->on_bytes(m.ids[0], frame_of(body, frame_compressed), m.now, ntp);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), code);
    EXPECT_EQ(m.engines[1]->stats().decompress_refused, 1u);
    EXPECT_EQ(m.engines[1]->stats().frames_decompressed, 0u);
    EXPECT_EQ(m.engines[1]->stats().protocol_errors, 1u);
  }
  // A node that did not offer compression refuses any compressed frame, as before.
  engine_options off;
  off.compression = false;
  mesh m(2, {engine_options{}, off});
  m.link(0, 1);
  auto r = m.engines[1]->on_bytes(m.ids[0], frame_of(good, frame_compressed), m.now, ntp);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(errc::compressed_frame));
}

// Frames that do not compress (random bytes without an encoding that says so) pause the
// lane's trials: after a failed trial the next 1, 2, 4 ... 64 frames go raw untried, and a
// frame that compresses again ends the pause. Each relay() below drains one frame.
TEST(DataCompress, IncompressibleFramesPauseTheTrials) {
  mesh m(2);
  m.link(0, 1);
  ASSERT_TRUE(m.engines[1]->declare_subscriber("r/**"));
  m.pump();
  std::mt19937 rng(7);
  auto random_payload = [&] {
    bytes b(2048);
    for (auto& x : b)
      x = static_cast<std::uint8_t>(rng());
    return b;
  };
  auto send = [&](bool compressible) {
    const bytes p = compressible ? bytes(2048, std::uint8_t{'a'}) : random_payload();
    ASSERT_TRUE(m.engines[0]->put("r/x", p, "", m.now, ntp));
    (void)relay(m, 0, 1);
  };
  const auto& tx = m.engines[0]->stats();
  // Trials at frames 1, 3, 6, 11, 20, 37, 70, 135, 200 (pauses 1, 2, 4, 8, 16, 32, 64, 64).
  for (int i = 0; i < 200; ++i)
    send(false);
  EXPECT_EQ(tx.frames_compressed, 0u);
  EXPECT_EQ(tx.frames_left_raw, 200u);
  // Frame 201 is inside a pause: raw although it would compress.
  send(true);
  EXPECT_EQ(tx.frames_compressed, 0u);
  // By frame 265 a trial has come and compressed: from then on every frame is tried.
  for (int i = 0; i < 64; ++i)
    send(true);
  EXPECT_GE(tx.frames_compressed, 1u);
  const auto before = tx.frames_compressed;
  for (int i = 0; i < 10; ++i)
    send(true);
  EXPECT_EQ(tx.frames_compressed, before + 10);
  EXPECT_EQ(m.sinks[1].samples.size(), 275u);
}
