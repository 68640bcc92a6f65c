// Connection setups per second: full TCP + multistream + Noise XX + Yamux + identify, dialed
// one after another from this process to a `starling node` process on loopback.
// usage: conn_setup [--data-dir DIR] MULTIADDR [COUNT]
//   With --data-dir, the client takes the identity and the network membership of that data
//   directory (a node that joined the target's network, then stopped), so every handshake
//   carries its certificate chain and the target checks it (admission, issue 14).
//   Each round: dial, wait until the node's identify record arrived (peer_identified), close
//   gracefully and wait for the disconnect, then dial again. Prints one JSON line with the
//   setups per second over the whole run and the median / p99 latency from dial to identified.
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "node/data_dir.hpp"
#include "node/host.hpp"
#include "node/membership.hpp"
#include "node/services.hpp"

using namespace starling;
using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::string data_dir;
  if (argc > 2 && std::string(argv[1]) == "--data-dir") {
    data_dir = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: conn_setup [--data-dir DIR] MULTIADDR [COUNT]\n");
    return 2;
  }
  const int count = argc > 2 ? std::atoi(argv[2]) : 300;
  auto addr = multiformats::multiaddr::parse(argv[1]);
  if (!addr || !crypto::init()) {
    std::fprintf(stderr, "conn_setup: bad multiaddr or libsodium init failed\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  boost::asio::io_context ctx;
  crypto::system_rng rng;
  crypto::ed25519_keypair identity = crypto::ed25519_generate(rng);
  if (!data_dir.empty()) {
    auto id = node::load_or_create_identity(data_dir, rng);
    if (!id) {
      std::fprintf(stderr, "conn_setup: %s\n", id.error().message.c_str());
      return 2;
    }
    identity = *id;
  }
  node::host h(ctx, identity);
  node::register_ping_service(h);  // as `starling node` does (the host serves identify itself)
  std::unique_ptr<node::membership> member;
  if (!data_dir.empty()) {
    auto m = node::membership::start(h, data_dir, {});
    if (!m || !(*m)->has_network()) {
      std::fprintf(stderr, "conn_setup: %s has no network\n", data_dir.c_str());
      return 2;
    }
    member = std::move(*m);
  }

  std::vector<double> latency_ms;
  int done = 0;
  int failures = 0;
  clock_type::time_point t0;
  std::shared_ptr<node::connection> current;
  bool identified = false;
  std::function<void()> next;

  h.on_event([&](const node::host_event& e) {
    if (std::holds_alternative<node::peer_identified>(e)) {
      latency_ms.push_back(
          std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
      identified = true;
      if (current) current->close();
    } else if (std::holds_alternative<node::peer_disconnected>(e)) {
      current.reset();
      ++done;
      boost::asio::post(ctx, [&] { next(); });
    }
  });
  next = [&] {
    if (done >= count || failures > 10) return;
    t0 = clock_type::now();
    identified = false;
    h.dial(*addr, [&](result<std::shared_ptr<node::connection>> r) {
      if (!r) {
        std::fprintf(stderr, "conn_setup: dial failed: %s\n", r.error().message().c_str());
        ++failures;
        boost::asio::post(ctx, [&] { next(); });
        return;
      }
      current = *r;
      if (identified) current->close();  // identify finished before this callback ran
    });
  };
  const auto start = clock_type::now();
  next();
  ctx.run();
  const double secs = std::chrono::duration<double>(clock_type::now() - start).count();
  if (latency_ms.empty()) return 1;
  std::sort(latency_ms.begin(), latency_ms.end());
  std::printf(
      "{\"setups\":%d,\"seconds\":%.3f,\"setups_per_second\":%.1f,\"median_ms\":%.3f,\"p99_ms\":%."
      "3f}\n",
      done, secs, done / secs, latency_ms[latency_ms.size() / 2],
      latency_ms[latency_ms.size() * 99 / 100]);
  return failures > 10 ? 1 : 0;
}
