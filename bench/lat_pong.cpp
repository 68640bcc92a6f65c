// Data-layer round trips, answering side (the counterpart of lat_ping). One embedded node
// (host + data service, one io_context thread) listens, subscribes to `bench/ping` and
// publishes every sample it gets back, unchanged, on `bench/pong`.
// usage: lat_pong [--listen MULTIADDR] [--no-express]
//   stdout, line 1: the listen address with /p2p/<peer id> (flushed), to give to lat_ping.
//   Runs until SIGINT/SIGTERM.
// The answer is put from inside the subscriber callback (data_service::put is safe there) on a
// declared express publisher, so it is written at once (as Zenoh's z_pong does); with
// --no-express it waits for the flush at the end of the io_context's turn, batched.
#include "data_bench.hpp"

using namespace starling;
using namespace starling::bench;

namespace {
constexpr const char* prog = "lat_pong";
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lat_pong: echo every sample on bench/ping back on bench/pong"};
  std::string listen_text = "/ip4/127.0.0.1/tcp/0";
  std::string log_level = "warn";
  bool no_express = false;
  app.add_flag("--no-express", no_express, "batch the echoes (flushed once per io turn)");
  app.add_option("--listen", listen_text, "listen multiaddr (default /ip4/127.0.0.1/tcp/0)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  parse_or_exit(app, argc, argv);
  const auto listen_addr = parse_tcp_addr(prog, "--listen", listen_text, false);
  set_log_level(log_level);
  if (!crypto::init()) die(prog, "libsodium init failed", 1);

  asio::io_context ctx(1);
  embedded_node n(ctx, fresh_identity());
  const auto bound = listen_or_die(prog, n.h, listen_addr);

  data::publisher_options opts;
  opts.express = !no_express;
  auto pub = n.svc.declare_publisher("bench/pong", opts);
  if (!pub) die(prog, "cannot declare the publisher: " + pub.error().message(), 1);
  std::uint64_t echoed = 0;
  auto sub = n.svc.subscribe("bench/ping", [&](const data::sample& s) {
    if (s.del) return;
    auto r = n.svc.put(*pub, s.payload);
    if (!r) {
      std::fprintf(stderr, "%s: put failed: %s\n", prog, r.error().message().c_str());
      return;
    }
    ++echoed;
  });
  if (!sub) die(prog, "cannot subscribe: " + sub.error().message(), 1);

  bool stopping = false;
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec || stopping) return;
    stopping = true;
    n.h.shutdown([&ctx] { ctx.stop(); }, 500ms);
  });

  std::printf("%s\n", bound.to_string().c_str());
  std::fflush(stdout);
  ctx.run();
  std::fprintf(stderr, "%s: echoed %llu samples\n", prog, static_cast<unsigned long long>(echoed));
  return 0;
}
