// Data-layer throughput, sending side (the counterpart of sub_thr; in the spirit of Zenoh's
// z_pub_thr). One embedded node (host + data service, one io_context thread) dials a peer,
// waits until a subscription on the key is known (the data link is up and the subscriber's
// node record arrived), then publishes reliably, as fast as it can, N-byte samples on one key.
// usage: pub_thr --connect MULTIADDR --size N [-d SECONDS] [--key KEY] [--acl-rules N]
//   MULTIADDR must end in /p2p/<peer id> (sub_thr, lat_pong and `starling node` print theirs).
//   Runs until SIGINT/SIGTERM or, with -d, for that many seconds; then prints on stderr how many
//   samples it published, and how many heap allocations the process made per sample published
//   after the first second (the hot path's allocations; see alloc_count.hpp).
//
// Flow control. data_service::put never refuses: what the link cannot take yet waits in the
// data streams' queues (data_service::buffered()). This program publishes in bursts from a
// posted handler, at most `burst` samples or until buffered() reaches `high_water`, and
// yields to the io_context between bursts (so sockets make progress and the data service
// flushes each burst as shared frames); when the queue is full it waits for the data
// service's writable handler (or a 1 ms timer). What is in flight below the stream (Yamux,
// the socket driver) is bounded by the Yamux window.
#include <random>

#include "alloc_count.hpp"
#include "data_bench.hpp"

using namespace starling;
using namespace starling::bench;

namespace {

constexpr const char* prog = "pub_thr";
constexpr std::size_t high_water = 1024 * 1024;  ///< stream-queued bytes before we wait
constexpr std::size_t burst_bytes = 256 * 1024;  ///< payload bytes per burst at most
constexpr std::size_t burst_max = 1024;          ///< samples per burst at most

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"pub_thr: publish N-byte samples on one key as fast as the link takes them"};
  std::string connect_text;
  std::size_t size = 0;
  int duration = 0;
  std::string key_text = "bench/thr";
  std::string log_level = "warn";
  app.add_option("--connect", connect_text, "the subscriber's multiaddr, with /p2p/<peer id>")
      ->required();
  app.add_option("--size", size, "payload size in bytes (1 to 524288)")
      ->required()
      ->check(size_check());
  app.add_option("-d,--duration", duration, "stop after this many seconds (default: run on)")
      ->check(CLI::PositiveNumber);
  app.add_option("--key", key_text, "key to publish on (default bench/thr)");
  std::size_t acl_rules = 0;
  app.add_option("--acl-rules", acl_rules,
                 "check access rules: a policy of this many rules, the first allowing bench/** "
                 "(default 0: no checks, as a node without a network)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  parse_or_exit(app, argc, argv);
  const auto target = parse_tcp_addr(prog, "--connect", connect_text, true);
  check_key(prog, key_text);
  auto key = keyexpr::key::parse(key_text);
  set_log_level(log_level);
  if (!crypto::init()) die(prog, "libsodium init failed", 1);

  asio::io_context ctx(1);
  embedded_node n(ctx, fresh_identity());
  if (acl_rules > 0) n.enforce_rules(acl_rules);

  // Random bytes (a fixed seed): links compress frames with zstd, and a repeated byte would
  // measure the compressor, not the path. Random payloads are tried and sent raw.
  bytes payload(size);
  std::mt19937 rng(1);
  for (auto& b : payload)
    b = static_cast<std::uint8_t>(rng());
  const std::size_t burst = std::max<std::size_t>(1, std::min(burst_max, burst_bytes / size));
  std::uint64_t published = 0;
  int exit_code = 0;
  bool stopping = false;
  bool running = false;
  bool posted = false;   // a burst is posted
  bool waiting = false;  // the wake-up timer is armed (the queue was full or the link down)
  std::chrono::steady_clock::time_point t_start;
  asio::steady_timer wake(ctx);
  asio::steady_timer end_timer(ctx);
  asio::steady_timer warm_timer(ctx);  // the first second is warm-up for the allocation count
  std::uint64_t allocs_from = 0;
  std::uint64_t published_from = 0;
  bool steady = false;
  std::uint64_t allocs_to = 0;  // taken when stopping, before the shutdown allocates

  auto stop = [&](int code) {
    if (stopping) return;
    stopping = true;
    exit_code = code;
    allocs_to = heap_allocations.load(std::memory_order_relaxed);
    wake.cancel();
    end_timer.cancel();
    warm_timer.cancel();
    n.h.shutdown([&ctx] { ctx.stop(); }, 1s);
  };

  std::function<void()> burst_fn;
  auto schedule = [&] {
    if (posted || stopping) return;
    posted = true;
    asio::post(ctx, [&] {
      posted = false;
      burst_fn();
    });
  };
  burst_fn = [&] {
    if (stopping) return;
    const bool linked = !n.svc.links().empty();
    if (linked) {
      for (std::size_t i = 0; i < burst && n.svc.buffered() < high_water; ++i) {
        auto r = n.svc.put(key_text, payload, "");
        if (!r && r.error() == make_error_code(data::engine_errc::would_block)) break;
        if (!r) {
          std::fprintf(stderr, "%s: put failed: %s\n", prog, r.error().message().c_str());
          return stop(1);
        }
        ++published;
      }
      if (n.svc.buffered() < high_water) return schedule();
    }
    // Queue full (the writable handler wakes us sooner) or link down for now: look again in
    // 1 ms.
    if (waiting) return;
    waiting = true;
    wake.expires_after(1ms);
    wake.async_wait([&](boost::system::error_code ec) {
      if (ec) return;  // cancelled: whoever cancelled took over
      waiting = false;
      burst_fn();
    });
  };
  n.svc.set_writable_handler([&] {
    if (waiting && n.svc.buffered() < high_water) {
      waiting = false;
      wake.cancel();
      schedule();
    }
  });

  n.on_disconnect = [&](const multiformats::peer_id& p, std::error_code ec) {
    if (stopping || p != *target.peer()) return;
    std::fprintf(stderr, "%s: the peer went away%s%s\n", prog, ec ? ": " : "",
                 ec ? ec.message().c_str() : "");
    stop(1);
  };

  auto waiter = std::make_shared<subscriber_wait>(
      ctx, n.svc.engine(), *key, 15s,
      [&] {
        running = true;
        t_start = std::chrono::steady_clock::now();
        warm_timer.expires_after(1s);
        warm_timer.async_wait([&](boost::system::error_code ec) {
          if (ec) return;
          steady = true;
          allocs_from = heap_allocations.load(std::memory_order_relaxed);
          published_from = published;
        });
        if (duration > 0) {
          end_timer.expires_after(std::chrono::seconds(duration));
          end_timer.async_wait([&](boost::system::error_code ec) {
            if (!ec) stop(0);
          });
        }
        schedule();
      },
      [&] {
        std::fprintf(stderr, "%s: no subscriber for %s became known within 15 s\n", prog,
                     key_text.c_str());
        stop(1);
      });

  n.h.dial(target, [&](result<std::shared_ptr<node::connection>> c) {
    if (!c) {
      std::fprintf(stderr, "%s: cannot connect to %s: %s\n", prog, connect_text.c_str(),
                   c.error().message().c_str());
      return stop(1);
    }
    waiter->start();
  });

  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) stop(0);
  });
  ctx.run();
  if (running) {
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::fprintf(stderr, "%s: published %llu samples of %zu bytes in %.1f s (%.0f msg/s)\n", prog,
                 static_cast<unsigned long long>(published), size, secs,
                 static_cast<double>(published) / secs);
  }
  if (steady && published > published_from) {
    const auto allocs = allocs_to - allocs_from;
    const auto samples = published - published_from;
    std::fprintf(stderr, "%s: %.4f heap allocations per sample (%llu over %llu samples)\n", prog,
                 static_cast<double>(allocs) / static_cast<double>(samples),
                 static_cast<unsigned long long>(allocs), static_cast<unsigned long long>(samples));
  }
  return exit_code;
}
