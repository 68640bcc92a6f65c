// Data-layer throughput, receiving side (the counterpart of pub_thr; in the spirit of Zenoh's
// z_sub_thr). One embedded node (host + data service, one io_context thread) listens,
// subscribes to one key and counts what arrives.
// usage: sub_thr [--listen MULTIADDR] --size N [-c SECONDS] [--key KEY] [--acl-rules N]
//   stdout, line 1: the listen address with /p2p/<peer id> (flushed), to give to pub_thr;
//   then once a second, from the first sample on: `<samples/s> msg/s <MB/s> MB/s`
//   (MB = 10^6 bytes of payload, counted from what arrived). With -c, exits 0 after that many
//   lines. Samples whose payload is not N bytes are counted and reported on stderr.
//   On exit, stderr says how many heap allocations the process made per sample received
//   after the first report line (the hot path's allocations; see alloc_count.hpp).
#include "alloc_count.hpp"
#include "data_bench.hpp"

using namespace starling;
using namespace starling::bench;

namespace {

constexpr const char* prog = "sub_thr";

struct counter {
  std::uint64_t samples = 0;
  std::uint64_t bytes = 0;
  std::uint64_t wrong_size = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sub_thr: subscribe to one key and print samples/s and MB/s once a second"};
  std::string listen_text = "/ip4/127.0.0.1/tcp/0";
  std::size_t size = 0;
  int seconds = 0;
  std::string key_text = "bench/thr";
  std::string log_level = "warn";
  app.add_option("--listen", listen_text, "listen multiaddr (default /ip4/127.0.0.1/tcp/0)");
  app.add_option("--size", size, "expected payload size in bytes (1 to 524288)")
      ->required()
      ->check(size_check());
  app.add_option("-c,--count", seconds, "exit after this many report lines (default: run on)")
      ->check(CLI::PositiveNumber);
  app.add_option("--key", key_text, "key to subscribe to (default bench/thr)");
  std::size_t acl_rules = 0;
  app.add_option("--acl-rules", acl_rules,
                 "check access rules: a policy of this many rules, the first allowing bench/** "
                 "(default 0: no checks, as a node without a network)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  parse_or_exit(app, argc, argv);
  const auto listen_addr = parse_tcp_addr(prog, "--listen", listen_text, false);
  check_key(prog, key_text);
  set_log_level(log_level);
  if (!crypto::init()) die(prog, "libsodium init failed", 1);

  asio::io_context ctx(1);
  embedded_node n(ctx, fresh_identity());
  if (acl_rules > 0) n.enforce_rules(acl_rules);
  const auto bound = listen_or_die(prog, n.h, listen_addr);

  counter total;
  counter window;
  // Allocations and samples from the end of the first report window (warm-up) on.
  std::uint64_t allocs_from = 0;
  std::uint64_t samples_from = 0;
  bool steady = false;
  std::uint64_t allocs_to = 0;  // taken when stopping, before the shutdown allocates
  std::uint64_t samples_to = 0;
  bool started = false;
  int lines = 0;
  bool stopping = false;
  asio::steady_timer tick(ctx);
  std::chrono::steady_clock::time_point window_start;

  auto stop = [&] {
    if (stopping) return;
    stopping = true;
    allocs_to = heap_allocations.load(std::memory_order_relaxed);
    samples_to = total.samples;
    tick.cancel();
    n.h.shutdown([&ctx] { ctx.stop(); }, 500ms);
  };

  std::function<void()> arm_tick = [&] {
    tick.expires_at(window_start + 1s);
    tick.async_wait([&](boost::system::error_code ec) {
      if (ec || stopping) return;
      const auto now = std::chrono::steady_clock::now();
      const double secs = std::chrono::duration<double>(now - window_start).count();
      std::printf("%.0f msg/s %.3f MB/s\n", static_cast<double>(window.samples) / secs,
                  static_cast<double>(window.bytes) / secs / 1e6);
      std::fflush(stdout);
      if (window.wrong_size > 0) {
        std::fprintf(stderr, "%s: %llu samples were not %zu bytes long\n", prog,
                     static_cast<unsigned long long>(window.wrong_size), size);
      }
      window = {};
      window_start = now;
      if (!steady) {
        steady = true;
        allocs_from = heap_allocations.load(std::memory_order_relaxed);
        samples_from = total.samples;
      }
      if (seconds > 0 && ++lines >= seconds) return stop();
      arm_tick();
    });
  };

  auto sub = n.svc.subscribe(key_text, [&](const data::sample& s) {
    if (!started) {
      started = true;
      window_start = std::chrono::steady_clock::now();
      arm_tick();
    }
    ++window.samples;
    window.bytes += s.payload.size();
    if (s.payload.size() != size) ++window.wrong_size;
    ++total.samples;
    total.bytes += s.payload.size();
  });
  if (!sub) die(prog, "cannot subscribe to " + key_text + ": " + sub.error().message(), 1);

  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) stop();
  });

  std::printf("%s\n", bound.to_string().c_str());
  std::fflush(stdout);
  ctx.run();
  std::fprintf(stderr, "%s: %llu samples, %llu payload bytes in all\n", prog,
               static_cast<unsigned long long>(total.samples),
               static_cast<unsigned long long>(total.bytes));
  if (steady && samples_to > samples_from) {
    const auto allocs = allocs_to - allocs_from;
    const auto samples = samples_to - samples_from;
    std::fprintf(stderr, "%s: %.4f heap allocations per sample (%llu over %llu samples)\n", prog,
                 static_cast<double>(allocs) / static_cast<double>(samples),
                 static_cast<unsigned long long>(allocs), static_cast<unsigned long long>(samples));
  }
  return 0;
}
