// Per-connection memory of a `starling node`: opens COUNT connections to it, each from its
// own in-process host (own identity: the node allows few connections per peer), waits until
// every one is identified and idle, and reads the node's VmRSS before and after.
// usage: conn_memory MULTIADDR NODE_PID [COUNT]
//   Prints one JSON line: rss_before_kib, rss_after_kib, connections, kib_per_connection.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "node/host.hpp"
#include "node/services.hpp"

using namespace starling;

namespace {
long vm_rss_kib(const std::string& pid) {
  std::ifstream f("/proc/" + pid + "/status");
  std::string key;
  while (f >> key) {
    if (key == "VmRSS:") {
      long v = 0;
      f >> v;
      return v;
    }
    f.ignore(4096, '\n');
  }
  return -1;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: conn_memory MULTIADDR NODE_PID [COUNT]\n");
    return 2;
  }
  const std::string pid = argv[2];
  const int count = argc > 3 ? std::atoi(argv[3]) : 500;
  // All dials come from 127.0.0.1: stay within the node's pending handshakes per IP address.
  constexpr int in_flight_max = 8;
  auto addr = multiformats::multiaddr::parse(argv[1]);
  if (!addr || !crypto::init()) {
    std::fprintf(stderr, "conn_memory: bad multiaddr or libsodium init failed\n");
    return 2;
  }
  const long before = vm_rss_kib(pid);
  if (before < 0) {
    std::fprintf(stderr, "conn_memory: cannot read /proc/%s/status\n", pid.c_str());
    return 2;
  }

  boost::asio::io_context ctx;
  crypto::system_rng rng;
  node::host_config cfg;
  cfg.keepalive = std::chrono::milliseconds(0);  // idle connections: no traffic while measuring
  std::vector<std::unique_ptr<node::host>> hosts;
  std::vector<std::shared_ptr<node::connection>> conns;
  int started = 0, identified = 0, failed = 0;
  bool measuring = false;
  std::function<void()> dial_more = [&] {
    while (started < count && started - identified - failed < in_flight_max) {
      auto& h = *hosts.emplace_back(
          std::make_unique<node::host>(ctx, crypto::ed25519_generate(rng), cfg));
      node::register_ping_service(h);  // as `starling node` does (the host serves identify itself)
      h.on_event([&](const node::host_event& e) {
        if (std::holds_alternative<node::peer_identified>(e)) {
          ++identified;
          boost::asio::post(ctx, [&] { dial_more(); });
        }
      });
      ++started;
      h.dial(*addr, [&](result<std::shared_ptr<node::connection>> r) {
        if (!r) {
          std::fprintf(stderr, "conn_memory: dial failed: %s\n", r.error().message().c_str());
          ++failed;
          boost::asio::post(ctx, [&] { dial_more(); });
          return;
        }
        conns.push_back(*r);
      });
    }
    if (identified + failed == count && !measuring) {
      measuring = true;
      // Let the node settle (identify streams closed, buffers released), then measure.
      auto t = std::make_shared<boost::asio::steady_timer>(ctx, std::chrono::seconds(1));
      t->async_wait([&, t](boost::system::error_code) {
        const long after = vm_rss_kib(pid);
        std::printf(
            "{\"connections\":%d,\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,\"kib_per_"
            "connection\":%.1f}\n",
            identified, before, after,
            identified > 0 ? static_cast<double>(after - before) / identified : 0.0);
        std::fflush(stdout);
        std::exit(failed > 0 ? 1 : 0);  // the node sees 500 resets; that is fine
      });
    }
  };
  dial_more();
  ctx.run();
  return 1;
}
