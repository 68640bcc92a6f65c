// Matching cost and memory of a busy node: 10,000 subscriptions and 1,000 declared publishers
// (the data engine alone, sans I/O, one thread; no sockets, so this is the engine's own cost).
//
// Keys: building/f<0..9>/r<0..99>/temp (1,000 keys, one declared publisher each).
// Subscriptions (10,000): each key exactly, each room's `building/fF/rR/*`, each floor's
// `building/fF/**`, and 7,990 that match none of the keys (`site<i>/*/temp`, `site<i>/**`,
// `other/<i>/x`), so every sample matches 3 of 10,000.
//
// It prints, for 8-byte samples published round-robin on the 1,000 keys:
//   local:  the 10,000 subscriptions are on the publishing node: ns per put (matching and
//           delivery to the 3 subscribers);
//   remote: the subscriptions are on a neighbour: ns per sample for the publisher's put and
//           framing plus the subscriber's decode, ordering and delivery (both engines in this
//           thread, bytes handed over in memory);
//   naive:  a list walk over the 10,000 parsed expressions per sample (what the engine does
//           not do), for comparison;
//   memory: heap bytes held by the 10,000 subscriptions and by the 1,000 publishers
//           (mallinfo2, before and after).
// usage: match_cost [-n SAMPLES]   (default 2,000,000 per scenario)
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/data/engine.hpp"
#include "core/keyexpr/keyexpr.hpp"

using namespace starling;
using namespace starling::data;

namespace {

using clk = std::chrono::steady_clock;
constexpr std::uint64_t ntp = std::uint64_t{3'900'000'000} << 32;
constexpr int floors = 10;
constexpr int rooms = 100;

peer_id make_id(std::uint8_t n) {
  bytes key(36, 0);
  key[0] = 0x08;
  key[1] = 0x01;
  key[2] = 0x12;
  key[3] = 0x20;
  key[4] = n;
  return *peer_id::from_encoded_public_key(key);
}

struct counting_sink final : engine_sink {
  std::uint64_t delivered = 0;
  std::uint64_t bytes = 0;
  void on_sample(std::uint64_t, const sample& s) override {
    ++delivered;
    bytes += s.payload.size();
  }
};

std::size_t heap_in_use() {
  return mallinfo2().uordblks;
}

std::vector<std::string> make_keys() {
  std::vector<std::string> keys;
  for (int f = 0; f < floors; ++f)
    for (int r = 0; r < rooms; ++r)
      keys.push_back("building/f" + std::to_string(f) + "/r" + std::to_string(r) + "/temp");
  return keys;
}

std::vector<std::string> make_subscriptions() {
  std::vector<std::string> subs;
  for (int f = 0; f < floors; ++f) {
    subs.push_back("building/f" + std::to_string(f) + "/**");
    for (int r = 0; r < rooms; ++r) {
      const std::string room = "building/f" + std::to_string(f) + "/r" + std::to_string(r);
      subs.push_back(room + "/temp");
      subs.push_back(room + "/*");
    }
  }
  for (int i = 0; subs.size() < 10'000; ++i) {
    switch (i % 3) {
      case 0:
        subs.push_back("site" + std::to_string(i) + "/*/temp");
        break;
      case 1:
        subs.push_back("site" + std::to_string(i) + "/**");
        break;
      default:
        subs.push_back("other/" + std::to_string(i) + "/x");
        break;
    }
  }
  return subs;
}

void die(const char* what) {
  std::fprintf(stderr, "match_cost: %s\n", what);
  std::exit(1);
}

/// Hands every frame one engine has for the other over, until neither has anything left.
void pump(engine& a, engine& b, time_point now) {
  std::vector<bytes> to_b, to_a;
  for (int round = 0; round < 64; ++round) {
    to_b.clear();
    to_a.clear();
    a.drain_transmit([&](const peer_id&, bytes_view v) { to_b.emplace_back(v.begin(), v.end()); });
    b.drain_transmit([&](const peer_id&, bytes_view v) { to_a.emplace_back(v.begin(), v.end()); });
    if (to_a.empty() && to_b.empty()) return;
    for (auto& f : to_b)
      if (!b.on_bytes(a.self(), f, now, ntp)) die("the subscriber refused a frame");
    for (auto& f : to_a)
      if (!a.on_bytes(b.self(), f, now, ntp)) die("the publisher refused a frame");
  }
}

double ns_per(clk::duration d, std::uint64_t n) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()) /
         static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 2'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
      n = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: match_cost [-n SAMPLES]\n");
      return 2;
    }
  }
  if (n == 0) die("-n must be positive");
  const auto keys = make_keys();
  const auto subs = make_subscriptions();
  const bytes payload(8, std::uint8_t{0x5a});
  time_point now{};

  // ---- local: subscriptions and publishers on one engine ----
  {
    counting_sink sink;
    engine e(make_id(1), 1, sink);
    const std::size_t h0 = heap_in_use();
    const auto t_subs = clk::now();
    for (const auto& s : subs)
      if (!e.declare_subscriber(s)) die("declare_subscriber failed");
    const auto subs_time = clk::now() - t_subs;
    const std::size_t h1 = heap_in_use();
    std::vector<std::uint64_t> pubs;
    const auto t_decl = clk::now();
    for (const auto& k : keys) {
      auto p = e.declare_publisher(k);
      if (!p) die("declare_publisher failed");
      pubs.push_back(*p);
    }
    const auto decl_time = clk::now() - t_decl;
    const std::size_t h2 = heap_in_use();
    // Warm-up: one put per publisher.
    for (auto p : pubs)
      if (!e.put(p, payload, now, ntp)) die("put failed");
    sink.delivered = 0;
    const auto t0 = clk::now();
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!e.put(pubs[i % pubs.size()], payload, now, ntp + i)) die("put failed");
    }
    const auto dt = clk::now() - t0;
    std::printf(
        "local:  %.0f ns per put, %.2f deliveries per put (10,000 subscriptions, "
        "1,000 publishers, %llu puts)\n",
        ns_per(dt, n), static_cast<double>(sink.delivered) / static_cast<double>(n),
        static_cast<unsigned long long>(n));
    std::printf("declare: %.0f ms for the 10,000 subscriptions, one at a time\n",
                ns_per(subs_time, 1'000'000));
    std::printf(
        "declare: %.1f us per publisher (its key resolved against 10,000 "
        "subscriptions once)\n",
        ns_per(decl_time, pubs.size()) / 1000.0);
    std::printf(
        "memory: 10,000 subscriptions %.0f KiB (%.0f B each); 1,000 publishers "
        "%.0f KiB (%.0f B each)\n",
        static_cast<double>(h1 - h0) / 1024.0,
        static_cast<double>(h1 - h0) / static_cast<double>(subs.size()),
        static_cast<double>(h2 - h1) / 1024.0,
        static_cast<double>(h2 - h1) / static_cast<double>(pubs.size()));
  }

  // ---- remote: the subscriptions are on a neighbour ----
  {
    counting_sink pub_sink, sub_sink;
    engine a(make_id(1), 1, pub_sink);
    engine b(make_id(2), 1, sub_sink);
    a.link_up(b.self(), now);
    b.link_up(a.self(), now);
    for (const auto& s : subs)
      if (!b.declare_subscriber(s)) die("declare_subscriber failed");
    pump(a, b, now);
    std::vector<std::uint64_t> pubs;
    for (const auto& k : keys) {
      auto p = a.declare_publisher(k);
      if (!p) die("declare_publisher failed");
      pubs.push_back(*p);
    }
    for (auto p : pubs)
      if (!a.put(p, payload, now, ntp)) die("put failed");
    pump(a, b, now);
    if (sub_sink.delivered != 3 * pubs.size()) die("the remote subscriber missed samples");
    sub_sink.delivered = 0;
    constexpr std::uint64_t batch = 256;  // puts between two hand-overs, as a busy link batches
    const auto t0 = clk::now();
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!a.put(pubs[i % pubs.size()], payload, now, ntp + i + 1)) die("put failed");
      if (i % batch == batch - 1) pump(a, b, now);
    }
    pump(a, b, now);
    const auto dt = clk::now() - t0;
    if (sub_sink.delivered != 3 * n) die("the remote subscriber missed samples");
    std::printf(
        "remote: %.0f ns per sample, publisher and subscriber together (10,000 "
        "subscriptions on the neighbour, 3 deliveries per sample)\n",
        ns_per(dt, n));
  }

  // ---- naive: a list walk per sample ----
  {
    std::vector<keyexpr::keyexpr> exprs;
    for (const auto& s : subs)
      exprs.push_back(*keyexpr::keyexpr::parse(s));
    std::vector<keyexpr::key> parsed;
    for (const auto& k : keys)
      parsed.push_back(*keyexpr::key::parse(k));
    const std::uint64_t m = std::max<std::uint64_t>(1, n / 100);  // it is slow
    std::uint64_t matched = 0;
    const auto t0 = clk::now();
    for (std::uint64_t i = 0; i < m; ++i) {
      const auto& k = parsed[i % parsed.size()];
      for (const auto& e : exprs)
        matched += keyexpr::matches(e, k) ? 1 : 0;
    }
    const auto dt = clk::now() - t0;
    std::printf(
        "naive:  %.0f ns per sample to walk 10,000 expressions (%.2f matches per "
        "sample)\n",
        ns_per(dt, m), static_cast<double>(matched) / static_cast<double>(m));
  }
  return 0;
}
