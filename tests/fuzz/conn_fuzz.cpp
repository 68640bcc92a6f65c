// Fuzz target: the composed connection core (mss -> Noise -> [mss] -> Yamux).
// First byte selects the mode:
//   even: the rest is raw socket bytes fed to a fresh inbound connection (pre-handshake
//         parsing: multistream-select, Noise messages), in chunks of (byte 1 % 64 + 1);
//   odd:  two cores complete a deterministic handshake in memory (bit 1: early muxer,
//         bit 2: lazy dialer), then the rest is injected as plaintext by the dialer into the
//         secure channel (malformed Yamux frames, mss for the muxer when not early) and fed
//         to the listener, with a Yamux stream opened and written first (bit 3).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>

#include "core/conn/connection.hpp"

using namespace starling;

namespace {

conn::config make_cfg(conn::direction dir, bool early, bool lazy) {
  conn::config c;
  c.dir = dir;
  c.early_muxer = early;
  c.lazy_security = lazy;
  c.mux.keepalive_interval = std::chrono::seconds(0);
  c.mux.ping_on_start = false;
  c.mux_hold = std::chrono::seconds(0);  // the dialer's Yamux bytes must reach the listener
  return c;
}

void drain(conn::connection& c) {
  while (auto e = c.poll_event()) {
    if (auto* y = std::get_if<yamux::event>(&*e)) {
      if (auto* d = std::get_if<yamux::stream_data>(y)) {
        if (c.mux()) (void)c.mux()->consume(d->id, d->bytes.size());
      }
    }
  }
}

struct fixture {
  fixture() { crypto::init(); }
  crypto::seeded_rng rng{1};
  crypto::ed25519_keypair a = crypto::ed25519_generate(rng);
  crypto::ed25519_keypair b = crypto::ed25519_generate(rng);
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fixture fx;
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  const time_point now{std::chrono::seconds(100)};
  bytes_view rest(data + 2, size - 2);

  if ((mode & 1) == 0) {
    crypto::seeded_rng rng(2);
    conn::connection l(make_cfg(conn::direction::inbound, true, false), fx.b, rng, now);
    const std::size_t chunk = data[1] % 64 + 1;
    bytes out;
    for (std::size_t off = 0; off < rest.size(); off += chunk) {
      auto r = l.feed(rest.subspan(off, std::min(chunk, rest.size() - off)), now);
      l.poll_transmit(out);
      drain(l);
      if (!r) {
        if (!l.finished()) std::abort();  // an error always ends the connection
        break;
      }
    }
    (void)l.on_deadline(now + std::chrono::seconds(60));
    // The handshake timer always fires in the end (a real handshake cannot come from here).
    if (!l.finished() && !l.is_established()) std::abort();
    return 0;
  }

  const bool early = mode & 2, lazy = mode & 4, open_first = mode & 8;
  crypto::seeded_rng r1(3), r2(4);
  conn::connection d(make_cfg(conn::direction::outbound, early, lazy), fx.a, r1, now);
  conn::connection l(make_cfg(conn::direction::inbound, early, false), fx.b, r2, now);
  for (int i = 0; i < 10; ++i) {
    bytes ab, ba;
    d.poll_transmit(ab);
    l.poll_transmit(ba);
    if (ab.empty() && ba.empty()) break;
    if (!ab.empty() && !l.feed(ab, now)) std::abort();
    if (!ba.empty() && !d.feed(ba, now)) std::abort();
    drain(d);
    drain(l);
  }
  if (!d.is_established() || !l.is_established()) std::abort();
  if (open_first) {
    auto id = d.mux()->open_stream();
    if (id) (void)d.mux()->write(*id, bytes_view(data, std::min<std::size_t>(size, 100)));
  }
  (void)d.inject_plaintext(rest);
  bytes ab;
  d.poll_transmit(ab);
  const std::size_t chunk = data[1] % 200 + 1;
  for (std::size_t off = 0; off < ab.size(); off += chunk) {
    auto r = l.feed(bytes_view(ab).subspan(off, std::min(chunk, ab.size() - off)), now);
    bytes out;
    l.poll_transmit(out);
    drain(l);
    if (!r) {
      if (!l.finished()) std::abort();
      break;
    }
  }
  return 0;
}
