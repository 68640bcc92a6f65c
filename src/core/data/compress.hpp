#pragma once
/// zstd compression of `/starling/data/1` frames (docs/protocols/data.md, "Compression";
/// docs/decisions/0010-zstd-compression.md). Pure helpers: the engine decides when to
/// compress (both ends offered it, the frame is large enough, its samples are not already
/// compressed), these do the work with reusable zstd contexts and bounded output.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace starling::data {

/// Frame flag bit 0: the frame's body is one zstd frame.
inline constexpr std::uint8_t frame_compressed = 0x01;
/// `hello.features` bit 0: the sender takes compressed frames.
inline constexpr std::uint64_t feature_zstd = 0x01;
/// Frames whose compressible bytes (body minus payloads of already compressed encodings) are
/// at least this many are compressed (bench/compress_corpus.cpp measures why).
inline constexpr std::size_t compress_threshold = 512;
/// zstd level of our frames.
inline constexpr int compress_level = 1;

/// Whether `encoding` (a content type, parameters after ';' ignored, case-insensitive) names
/// content that is already compressed: image/*, video/* and audio/* (but image/svg+xml,
/// image/bmp and audio/wav), application/zstd, gzip, zip, x-xz, x-bzip2, x-7z-compressed,
/// x-brotli, and any type ending in +zstd, +gzip or +zip. Not application/octet-stream.
bool compressed_encoding(std::string_view encoding) noexcept;

/// A reusable zstd compression context (created on first use).
class zstd_compressor {
 public:
  explicit zstd_compressor(int level = compress_level) : m_level(level) {}
  ~zstd_compressor();
  zstd_compressor(const zstd_compressor&) = delete;
  zstd_compressor& operator=(const zstd_compressor&) = delete;

  /// Compresses `in` into one zstd frame (its content size in the header) appended to
  /// `out`. Returns false when zstd fails (out of memory); `out` is then unchanged.
  bool compress(bytes_view in, bytes& out);
  /// The frame `[uvarint(len)][0x01][zstd frame]` of `body`, as a view into `out` (whose
  /// contents it replaces). nullopt when compression fails or the result is not smaller than
  /// the raw frame would be.
  std::optional<bytes_view> compress_frame(bytes_view body, bytes& out);

 private:
  ZSTD_CCtx_s* m_ctx = nullptr;
  int m_level;
};

/// A reusable zstd decompression context (created on first use), bounded.
class zstd_decompressor {
 public:
  zstd_decompressor() = default;
  ~zstd_decompressor();
  zstd_decompressor(const zstd_decompressor&) = delete;
  zstd_decompressor& operator=(const zstd_decompressor&) = delete;

  /// Decompresses `in`, which must be exactly one zstd frame (standard magic number, no
  /// skippable or legacy frames) that declares its content size, into `out` (replacing its
  /// contents). Never writes more than `limit` bytes: a frame that declares more is refused
  /// before anything is allocated. Errors: errc::frame_too_large (content over `limit`),
  /// errc::bad_compressed_frame (anything else: corrupt, truncated, trailing bytes, no content
  /// size, a size that does not match, a window over 2 MiB); the caller refuses the frame.
  result<void> decompress(bytes_view in, bytes& out, std::size_t limit);

 private:
  ZSTD_DCtx_s* m_ctx = nullptr;
};

}  // namespace starling::data
