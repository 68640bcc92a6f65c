// Fuzz target: arbitrary bytes as the peer's handshake messages. The first input byte picks the
// role: even = we are the initiator and the rest is "message 2 and beyond"; odd = we are the
// responder, a real message 1 is fed first (when bit 1 is set) and the rest follows as
// "message 3 and beyond". Must never crash, hang or read out of bounds.
#include <cstdint>
#include <cstdlib>

#include "core/noise/libp2p_handshake.hpp"

using namespace starling;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ok = crypto::init();
  if (!ok || size == 0) return 0;
  const std::uint8_t mode = data[0];
  bytes_view rest(data + 1, size - 1);

  crypto::seeded_rng r1(1), r2(2);
  const auto id1 = crypto::ed25519_from_seed(crypto::ed25519_seed{1});
  const auto id2 = crypto::ed25519_from_seed(crypto::ed25519_seed{2});
  noise::libp2p_config cfg;
  if (mode & 0x04) cfg.muxers = {"/yamux/1.0.0"};

  if ((mode & 1) == 0) {
    noise::libp2p_handshake i(noise::role::initiator, id1, r1, cfg);
    bytes out;
    i.poll_transmit(out);
    // Feed in two pieces to exercise partial-frame buffering.
    const std::size_t cut = rest.empty() ? 0 : rest[0] % (rest.size() + 1);
    if (i.feed(rest.first(cut))) (void)i.feed(rest.subspan(cut));
    i.poll_transmit(out);
    if (i.is_complete()) {
      auto t = i.take_transport();
      if (!t) std::abort();
      bytes plain;
      (void)t->feed({}, plain);
    }
  } else {
    noise::libp2p_handshake r(noise::role::responder, id2, r2, cfg);
    if (mode & 0x02) {
      noise::libp2p_handshake i(noise::role::initiator, id1, r1, {});
      bytes m1;
      i.poll_transmit(m1);
      if (!r.feed(m1)) std::abort();
    }
    (void)r.feed(rest);
    bytes out;
    r.poll_transmit(out);
    if (r.is_complete() && !r.take_transport()) std::abort();
  }
  return 0;
}
