// libp2p ping round trips between two Starling hosts in ONE process: the like-for-like
// counterpart of `tcp_pingpong` (threads mode), which runs both ends of a raw TCP ping-pong as
// two threads of one process. `starling ping` against a `starling node` process also pays for
// switching address spaces on every hop; this program does not, so the two figures compare.
// usage: ping_latency [COUNT] [INTERVAL_MS]   (defaults 200 and 10)
//   Host A (io_context A, its own thread) serves the default protocols on 127.0.0.1, port 0.
//   Host B (io_context B, another thread) dials A's /p2p/ address over TCP + Noise + Yamux and
//   runs COUNT pings INTERVAL_MS apart on one /ipfs/ping/1.0.0 stream, exactly as
//   `starling ping` does. Each host is touched only by its own thread; the threads exchange
//   only immutable values (A's listen address as text, A's stop function) and B's results
//   after B's thread has been joined.
//   -> prints one JSON line: pings answered, median, p99 and min round trip in microseconds.
//   Exits 1 if any ping got no reply, or if the run takes longer than COUNT*INTERVAL + 30 s.
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "node/host.hpp"
#include "node/services.hpp"

using namespace starling;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

/// What host A's thread publishes once it listens: both immutable after publication.
struct server_side {
  std::string addr;                ///< A's listen address with /p2p/<id>, or empty on failure
  std::function<void()> shutdown;  ///< posts a graceful shutdown of A onto A's own thread
};

/// B's outcome, read by main only after B's thread has been joined.
struct client_result {
  std::vector<double> rtt_us;
  int failures = 0;
  bool ok = false;  ///< the dial worked and the ping stream finished
};

/// Host A: listens on loopback and serves until its shutdown function runs.
void run_server(asio::io_context& ctx, std::promise<server_side>& ready) {
  crypto::system_rng rng;
  node::host h(ctx, crypto::ed25519_generate(rng));
  node::register_ping_service(h);
  auto listen = multiformats::multiaddr::parse("/ip4/127.0.0.1/tcp/0");
  auto bound = listen ? h.listen(*listen) : result<multiformats::multiaddr>(listen.error());
  if (!bound) {
    std::fprintf(stderr, "ping_latency: host A cannot listen: %s\n",
                 bound.error().message().c_str());
    ready.set_value({});
    return;
  }
  ready.set_value({bound->to_string(), [&ctx, &h] {
                     asio::post(ctx, [&ctx, &h] { h.shutdown([&ctx] { ctx.stop(); }, 500ms); });
                   }});
  ctx.run();
}

/// Host B: dials `addr`, runs the pings, then shuts down gracefully.
void run_client(asio::io_context& ctx, const std::string& addr_text, int count, int interval_ms,
                client_result& out) {
  auto addr = multiformats::multiaddr::parse(addr_text);
  if (!addr) {
    std::fprintf(stderr, "ping_latency: bad listen address %s\n", addr_text.c_str());
    return;
  }
  crypto::system_rng rng;
  node::host_config cfg;
  cfg.keepalive = 0ms;  // as `starling ping`
  node::host h(ctx, crypto::ed25519_generate(rng), cfg);
  auto finish = [&h, &ctx] { h.shutdown([&ctx] { ctx.stop(); }, 500ms); };
  h.dial(*addr, [&](result<std::shared_ptr<node::connection>> c) {
    if (!c) {
      std::fprintf(stderr, "ping_latency: dial failed: %s\n", c.error().message().c_str());
      finish();
      return;
    }
    node::ping_options po;
    po.count = count;
    po.interval = std::chrono::milliseconds(interval_ms);
    po.timeout = 5s;
    (*c)->open_stream(
        {std::string(ping::protocol_id)},
        node::make_ping_client(
            h, po,
            [&out](int seq, result<clock_duration> r) {
              if (r) {
                out.rtt_us.push_back(std::chrono::duration<double, std::micro>(*r).count());
              } else {
                ++out.failures;
                std::fprintf(stderr, "ping_latency: no reply to ping %d: %s\n", seq,
                             r.error().message().c_str());
              }
            },
            [&out, finish] {
              out.ok = true;
              finish();
            }),
        [finish](std::error_code ec) {
          std::fprintf(stderr, "ping_latency: cannot open a ping stream: %s\n",
                       ec.message().c_str());
          finish();
        });
  });
  ctx.run();
}

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 200;
  const int interval_ms = argc > 2 ? std::atoi(argv[2]) : 10;
  if (count < 1 || interval_ms < 0) {
    std::fprintf(stderr, "usage: ping_latency [COUNT] [INTERVAL_MS]\n");
    return 2;
  }
  if (!crypto::init()) {
    std::fprintf(stderr, "ping_latency: libsodium init failed\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);  // keep stdout to the one JSON line
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(count) * interval_ms + 30s;
  std::thread([deadline] {
    std::this_thread::sleep_until(deadline);
    std::fprintf(stderr, "ping_latency: did not finish in time\n");
    std::fflush(stderr);
    std::_Exit(1);
  }).detach();  // watchdog: the process normally exits long before it wakes

  asio::io_context ctx_a(1);
  asio::io_context ctx_b(1);
  std::promise<server_side> ready;
  auto ready_f = ready.get_future();
  std::thread thread_a([&ctx_a, &ready] { run_server(ctx_a, ready); });
  const server_side a = ready_f.get();
  if (a.addr.empty()) {
    thread_a.join();
    return 1;
  }

  client_result res;
  std::thread thread_b([&] { run_client(ctx_b, a.addr, count, interval_ms, res); });
  thread_b.join();
  a.shutdown();
  thread_a.join();

  if (res.rtt_us.empty()) {
    std::fprintf(stderr, "ping_latency: no ping was answered\n");
    return 1;
  }
  auto& rtt = res.rtt_us;
  std::sort(rtt.begin(), rtt.end());
  std::printf(
      "{\"pings\":%d,\"replies\":%zu,\"interval_ms\":%d,\"mode\":\"starling-threads\",\"median_"
      "us\":%.1f,"
      "\"p99_us\":%.1f,\"min_us\":%.1f}\n",
      count, rtt.size(), interval_ms, rtt[rtt.size() / 2], rtt[rtt.size() * 99 / 100], rtt.front());
  return res.ok && res.failures == 0 && static_cast<int>(rtt.size()) == count ? 0 : 1;
}
