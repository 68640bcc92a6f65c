#include "core/data/compress.hpp"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "core/data/wire.hpp"
#include "core/multiformats/varint.hpp"

namespace starling::data {

namespace {

/// Room before a compressed body for its frame header: a 3-byte varint (< 2^21) and flags.
constexpr std::size_t header_room = 4;
/// Our frames are at most max_frame: a window over 2^21 is never needed.
constexpr int max_window_log = 21;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

bool istarts(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool iends(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

std::size_t raw_frame_size(std::size_t body) {
  return varint::encoded_size(1 + body) + 1 + body;
}

}  // namespace

bool compressed_encoding(std::string_view encoding) noexcept {
  std::string_view t = encoding.substr(0, encoding.find(';'));
  while (!t.empty() && t.back() == ' ')
    t.remove_suffix(1);
  if (istarts(t, "image/")) return !iequals(t, "image/svg+xml") && !iequals(t, "image/bmp");
  if (istarts(t, "audio/")) return !iequals(t, "audio/wav") && !iequals(t, "audio/x-wav");
  if (istarts(t, "video/")) return true;
  static constexpr std::array<std::string_view, 8> archives = {
      "application/zstd",   "application/gzip",    "application/zip",
      "application/x-xz",   "application/x-bzip2", "application/x-7z-compressed",
      "application/x-gzip", "application/x-brotli"};
  for (auto a : archives) {
    if (iequals(t, a)) return true;
  }
  return iends(t, "+zstd") || iends(t, "+gzip") || iends(t, "+zip");
}

zstd_compressor::~zstd_compressor() {
  ZSTD_freeCCtx(m_ctx);
}

bool zstd_compressor::compress(bytes_view in, bytes& out) {
  if (!m_ctx) {
    m_ctx = ZSTD_createCCtx();
    if (!m_ctx) return false;
  }
  const std::size_t start = out.size();
  const std::size_t bound = ZSTD_compressBound(in.size());
  out.resize(start + bound);
  const std::size_t n =
      ZSTD_compressCCtx(m_ctx, out.data() + start, bound, in.data(), in.size(), m_level);
  if (ZSTD_isError(n)) {
    out.resize(start);
    return false;
  }
  out.resize(start + n);
  return true;
}

std::optional<bytes_view> zstd_compressor::compress_frame(bytes_view body, bytes& out) {
  out.resize(header_room);
  if (!compress(body, out)) return std::nullopt;
  const std::size_t zlen = out.size() - header_room;
  if (1 + zlen > max_frame || raw_frame_size(zlen) >= raw_frame_size(body.size())) {
    return std::nullopt;
  }
  // The header sits right before the zstd frame: [pad][varint][flags][zstd frame].
  bytes len;
  len.reserve(varint::max_bytes);
  varint::encode(1 + zlen, len);
  const std::size_t begin = header_room - 1 - len.size();
  std::memcpy(out.data() + begin, len.data(), len.size());
  out[header_room - 1] = frame_compressed;
  return bytes_view(out).subspan(begin);
}

zstd_decompressor::~zstd_decompressor() {
  ZSTD_freeDCtx(m_ctx);
}

result<void> zstd_decompressor::decompress(bytes_view in, bytes& out, std::size_t limit) {
  out.clear();
  // Only the standard frame format: no skippable frames, no legacy formats.
  if (in.size() < 4 || in[0] != 0x28 || in[1] != 0xB5 || in[2] != 0x2F || in[3] != 0xFD) {
    return errc::bad_compressed_frame;
  }
  const std::size_t frame_size = ZSTD_findFrameCompressedSize(in.data(), in.size());
  if (ZSTD_isError(frame_size) || frame_size != in.size()) return errc::bad_compressed_frame;
  const unsigned long long size = ZSTD_getFrameContentSize(in.data(), in.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR) {
    return errc::bad_compressed_frame;
  }
  if (size > limit) return errc::frame_too_large;
  if (!m_ctx) {
    m_ctx = ZSTD_createDCtx();
    if (!m_ctx) return errc::bad_compressed_frame;
    ZSTD_DCtx_setParameter(m_ctx, ZSTD_d_windowLogMax, max_window_log);
  }
  out.resize(static_cast<std::size_t>(size));
  const std::size_t n = ZSTD_decompressDCtx(m_ctx, out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n) || n != out.size()) {
    out.clear();
    return errc::bad_compressed_frame;
  }
  return {};
}

}  // namespace starling::data
