// Fuzz target: DNS message parsing, and the mDNS core fed the same bytes as a packet.
// Any message that parses must rebuild (uncompressed) into bytes that parse to the same message;
// the core must survive anything and keep its bounds.
#include <cstdint>
#include <cstdlib>

#include "core/crypto/crypto.hpp"
#include "core/dns/message.hpp"
#include "core/mdns/mdns.hpp"
#include "core/multiformats/peer_id.hpp"

namespace {

starling::mdns::core& the_core() {
  static starling::mdns::core* c = [] {
    starling::crypto::init();
    static starling::crypto::seeded_rng rng(1);
    starling::mdns::config cfg;
    cfg.peer_id = starling::multiformats::peer_id::from_public_key(
                      starling::crypto::ed25519_generate(rng).pub)
                      .to_string();
    cfg.interfaces.push_back({1, {"/ip4/192.168.1.10/tcp/4001", "/ip6/fe80::1/tcp/4001"}});
    cfg.max_peers = 16;
    auto r = starling::mdns::core::create(cfg, rng);
    if (!r) std::abort();
    static starling::mdns::core core = std::move(*r);
    core.start(starling::time_point{});
    return &core;
  }();
  return *c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const starling::bytes_view in(data, size);
  if (auto m = starling::dns::parse(in)) {
    auto plain = starling::dns::build(*m, false);
    if (!plain) {
      // Names whose escaped text form reaches the builder's limits are the only allowed failure.
      if (plain.error() != starling::dns::errc::bad_name_text &&
          plain.error() != starling::dns::errc::message_too_long) {
        std::abort();
      }
    } else {
      auto again = starling::dns::parse(*plain);
      if (!again || !(*again == *m)) std::abort();
      auto packed = starling::dns::build(*m, true);
      if (!packed || packed->size() > plain->size()) std::abort();
      auto again2 = starling::dns::parse(*packed);
      if (!again2 || !(*again2 == *m)) std::abort();
    }
  }

  static std::int64_t clock_ms = 0;
  clock_ms += 700;
  const auto now = starling::time_point{} + std::chrono::milliseconds{clock_ms};
  auto& c = the_core();
  (void)c.feed(in, 1, "fuzz", now);
  c.on_deadline(now);
  while (auto o = c.poll_transmit()) {
    if (o->packet.size() > 1400 || !starling::dns::parse(o->packet)) std::abort();
  }
  while (c.poll_event()) {
  }
  if (c.peer_count() > 16) std::abort();
  return 0;
}
