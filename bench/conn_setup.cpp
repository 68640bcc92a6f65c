// Connection setups per second: full TCP + multistream + Noise XX + Yamux + identify, dialed
// one after another from this process to a `starling node` process on loopback.
// usage: conn_setup MULTIADDR [COUNT]
//   Each round: dial, wait until the node's identify record arrived (peer_identified), close
//   gracefully and wait for the disconnect, then dial again. Prints one JSON line with the
//   setups per second over the whole run and the median / p99 latency from dial to identified.
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "node/host.hpp"
#include "node/services.hpp"

using namespace starling;
using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: conn_setup MULTIADDR [COUNT]\n");
    return 2;
  }
  const int count = argc > 2 ? std::atoi(argv[2]) : 300;
  auto addr = multiformats::multiaddr::parse(argv[1]);
  if (!addr || !crypto::init()) {
    std::fprintf(stderr, "conn_setup: bad multiaddr or libsodium init failed\n");
    return 2;
  }
  boost::asio::io_context ctx;
  crypto::system_rng rng;
  node::host h(ctx, crypto::ed25519_generate(rng));
  node::register_ping_service(h);  // as `starling node` does (the host serves identify itself)

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
