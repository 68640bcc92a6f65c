// Fuzz target: the /starling/data/1 frame reader, the zstd frame decompressor and the message
// decoder. Byte 0 picks where the input is split between two feeds of the frame reader (which
// takes compressed frames: their bodies are decompressed, bounded, then decoded); the rest is
// also decoded directly as a frame body and decompressed as a zstd frame. Every message that
// decodes must re-encode and decode to the same message, every length must respect the
// limits, and no decompressed body may exceed its bound.
#include <cstdint>
#include <cstdlib>
#include <variant>

#include "core/data/compress.hpp"
#include "core/data/wire.hpp"

namespace {

using namespace starling;
using namespace starling::data;

void check_limits(const message& m) {
  if (auto* p = std::get_if<push>(&m)) {
    if (p->payload.size() > max_payload || p->encoding.size() > max_encoding) std::abort();
  }
  if (auto* r = std::get_if<record_message>(&m)) {
    if (r->links.size() > max_links || r->decls.size() > max_decls) std::abort();
  }
}

/// Re-encodes a decoded message and decodes it again: the bytes must be identical to the
/// original message (the format has one encoding per message).
void check_round_trip(const message& m, bytes_view original) {
  bytes out;
  bool encoded = std::visit(
      [&](const auto& v) {
        if constexpr (std::is_same_v<std::decay_t<decltype(v)>, unknown>) {
          return false;
        } else {
          if (!encode(v, out)) std::abort();  // what decoded must encode
          return true;
        }
      },
      m);
  if (!encoded) return;
  if (out.size() != original.size() || !std::equal(out.begin(), out.end(), original.begin())) {
    std::abort();
  }
}

void decode_body(bytes_view body) {
  while (!body.empty()) {
    std::size_t used = 0;
    auto m = decode_message(body, used);
    if (!m) return;
    if (used == 0 || used > body.size()) std::abort();
    check_limits(*m);
    check_round_trip(*m, body.first(used));
    body = body.subspan(used);
  }
}

/// Decompresses a compressed frame's body within the frame limit and decodes what comes out.
void decode_compressed(zstd_decompressor& d, bytes_view z) {
  bytes body;
  if (!d.decompress(z, body, max_frame - 1)) {
    if (!body.empty()) std::abort();  // a refusal leaves nothing behind
    return;
  }
  if (body.size() > max_frame - 1) std::abort();
  decode_body(body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bytes_view in(data + 1, size - 1);
  decode_body(in);
  static zstd_decompressor d;  // reused like the engine's: refusals must leave it usable
  decode_compressed(d, in);

  const std::size_t at = std::min<std::size_t>(data[0], in.size());
  frame_reader r;
  r.accept_compressed(true);
  r.feed(in.first(at));
  for (int round = 0; round < 2; ++round) {
    for (;;) {
      auto f = r.next_frame();
      if (!f) return 0;
      if (!*f) break;
      if ((*f)->size() + 1 > max_frame) std::abort();
      if (r.last_flags() & frame_compressed) {
        decode_compressed(d, **f);
      } else {
        decode_body(**f);
      }
    }
    if (round == 0) r.feed(in.subspan(at));
  }
  return 0;
}
