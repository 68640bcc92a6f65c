// Fuzz target: a data engine fed arbitrary bytes by a neighbour, after a valid hello that
// offers compression (so frames flagged compressed are decompressed, bounded, and what the
// engine sends back may be compressed). Whatever the neighbour sends (aliases, records,
// samples, zstd frames, garbage), the engine must refuse it with an error or take it, never
// crash, and stay usable: a local put afterwards still works. Byte 0 picks where the input is
// split between two on_bytes calls.
#include <cstdint>
#include <cstdlib>

#include "core/data/engine.hpp"

namespace {

using namespace starling;
using namespace starling::data;

peer_id make_id(std::uint8_t n) {
  bytes key(36, 0);
  key[0] = 0x08;
  key[1] = 0x01;
  key[2] = 0x12;
  key[3] = 0x20;
  key[4] = n;
  return *peer_id::from_encoded_public_key(key);
}

struct null_sink final : engine_sink {
  std::size_t n = 0;
  void on_sample(std::uint64_t, const sample& s) override {
    if (s.key.empty() || s.source == nullptr) std::abort();
    ++n;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const peer_id self = make_id(1);
  static const peer_id peer = make_id(2);
  static const peer_id other = make_id(3);
  null_sink sink;
  engine e(self, 1, sink);
  const time_point now{};
  const std::uint64_t ntp = std::uint64_t{3'900'000'000} << 32;
  e.link_up(peer, now);
  e.link_up(other, now);
  (void)e.declare_subscriber("**");
  (void)e.declare_queryable("**");
  (void)e.watch_liveliness("**");
  frame_writer w;
  w.begin();
  (void)encode(hello{1, peer.bytes(), feature_zstd, max_frame}, w.body());
  (void)w.finish();
  if (!e.on_bytes(peer, w.frame(), now, ntp)) std::abort();

  const bytes_view in(data + 1, size - 1);
  const std::size_t at = std::min<std::size_t>(data[0], in.size());
  bool ok = static_cast<bool>(e.on_bytes(peer, in.first(at), now, ntp));
  if (ok) ok = static_cast<bool>(e.on_bytes(peer, in.subspan(at), now, ntp));
  std::size_t out = 0;
  e.drain_transmit([&](const peer_id&, bytes_view b) { out += b.size(); });
  if (!ok) e.link_down(peer, now);
  // Still usable.
  if (!e.put("a/b", as_bytes("x"), "", now, ntp + 1)) std::abort();
  e.on_deadline(now + std::chrono::hours(1));
  return 0;
}
