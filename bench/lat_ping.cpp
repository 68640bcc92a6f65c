// Data-layer round trips, asking side (the counterpart of lat_pong; in the spirit of Zenoh's
// z_ping). One embedded node (host + data service, one io_context thread) dials a peer,
// subscribes to `bench/pong`, waits until a subscription on `bench/ping` is known, then
// publishes N-byte samples on `bench/ping` one at a time: the next goes out once the echo of
// the previous one arrived (after INTERVAL_MS, default 0).
// usage: lat_ping --connect MULTIADDR --size N -c COUNT [-i INTERVAL_MS] [--warmup W]
//                 [--no-express]
//   Pings go out on a declared express publisher, written at once (as Zenoh's z_ping does);
//   with --no-express they wait for the flush at the end of the io_context's turn.
//   Before the COUNT timed pings, W untimed ones (default 100; the first is repeated every
//   100 ms until the echo side knows our subscription, at most 10 s).
//   stdout: one round trip in microseconds per line, then `median M us p99 P us`.
//   Exits 1 if an echo takes longer than 2 s or the peer goes away.
// A round trip is timed from just before put() to the subscriber callback of the echo. Each
// payload starts with the ping's sequence number (as many bytes of it as fit), so a late echo
// of an earlier ping is not taken for the current one.
#include <algorithm>
#include <cstring>
#include <vector>

#include "data_bench.hpp"

using namespace starling;
using namespace starling::bench;

namespace {
constexpr const char* prog = "lat_ping";
using steady = std::chrono::steady_clock;
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lat_ping: round trips of N-byte samples through lat_pong"};
  std::string connect_text;
  std::size_t size = 0;
  int count = 0;
  int interval_ms = 0;
  int warmup = 100;
  std::string log_level = "warn";
  bool no_express = false;
  app.add_flag("--no-express", no_express, "batch the pings (flushed once per io turn)");
  app.add_option("--connect", connect_text, "lat_pong's multiaddr (with /p2p/<peer id>)")
      ->required();
  app.add_option("--size", size, "payload size in bytes (1 to 524288)")
      ->required()
      ->check(size_check());
  app.add_option("-c,--count", count, "timed pings")->required()->check(CLI::Range(1, 10000000));
  app.add_option("-i,--interval", interval_ms, "milliseconds between an echo and the next ping")
      ->check(CLI::Range(0, 60000));
  app.add_option("--warmup", warmup, "untimed pings first (default 100)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  parse_or_exit(app, argc, argv);
  const auto target = parse_tcp_addr(prog, "--connect", connect_text, false);
  set_log_level(log_level);
  if (!crypto::init()) die(prog, "libsodium init failed", 1);

  asio::io_context ctx(1);
  embedded_node n(ctx, fresh_identity());
  data::publisher_options opts;
  opts.express = !no_express;
  auto declared = n.svc.declare_publisher("bench/ping", opts);
  if (!declared) die(prog, "cannot declare the publisher: " + declared.error().message(), 1);
  const std::uint64_t ping_pub = *declared;

  bytes payload(size, std::uint8_t{0x5a});
  const std::size_t seq_bytes = std::min<std::size_t>(size, 8);
  std::uint64_t seq = 0;  // of the ping in flight
  std::uint64_t first_timed = static_cast<std::uint64_t>(warmup) + 1;
  std::vector<double> rtt_us;
  rtt_us.reserve(static_cast<std::size_t>(count));
  steady::time_point t_sent;
  steady::time_point warm_deadline;
  bool in_flight = false;
  bool warming = true;  // the first ping is retried until an echo comes
  bool stopping = false;
  int exit_code = 0;
  asio::steady_timer timeout(ctx);
  asio::steady_timer pause(ctx);

  auto stop = [&](int code) {
    if (stopping) return;
    stopping = true;
    exit_code = code;
    timeout.cancel();
    pause.cancel();
    n.h.shutdown([&ctx] { ctx.stop(); }, 500ms);
  };

  std::function<void()> send_ping;
  send_ping = [&] {
    if (stopping) return;
    std::uint64_t v = seq;
    for (std::size_t i = 0; i < seq_bytes; ++i, v >>= 8)
      payload[i] = static_cast<std::uint8_t>(v);
    in_flight = true;
    t_sent = steady::now();
    auto r = n.svc.put(ping_pub, payload);
    if (!r) {
      std::fprintf(stderr, "%s: put failed: %s\n", prog, r.error().message().c_str());
      return stop(1);
    }
    // The first ping may go before the echo side knows our subscription: resend it.
    timeout.expires_after(warming ? 100ms : 2s);
    timeout.async_wait([&, sent = seq](boost::system::error_code ec) {
      if (ec || stopping || seq != sent) return;
      if (warming && steady::now() < warm_deadline) return send_ping();
      std::fprintf(stderr, "%s: no echo of ping %llu\n", prog,
                   static_cast<unsigned long long>(sent));
      stop(1);
    });
  };

  auto sub = n.svc.subscribe("bench/pong", [&](const data::sample& s) {
    const auto now = steady::now();
    if (!in_flight || s.payload.size() != size) return;
    std::uint64_t v = 0;
    for (std::size_t i = seq_bytes; i-- > 0;)
      v = (v << 8) | s.payload[i];
    const std::uint64_t mask = seq_bytes >= 8 ? ~0ULL : ((1ULL << (8 * seq_bytes)) - 1);
    if (v != (seq & mask)) return;  // a late echo of an earlier ping
    in_flight = false;
    timeout.cancel();
    if (warming) warming = false;
    if (seq >= first_timed) {
      const double us = std::chrono::duration<double, std::micro>(now - t_sent).count();
      rtt_us.push_back(us);
      std::printf("%.1f\n", us);
    }
    if (rtt_us.size() >= static_cast<std::size_t>(count)) return stop(0);
    ++seq;
    if (interval_ms > 0) {
      pause.expires_after(std::chrono::milliseconds(interval_ms));
      pause.async_wait([&](boost::system::error_code ec) {
        if (!ec) send_ping();
      });
    } else {
      asio::post(ctx, [&] { send_ping(); });  // not from inside the engine's callback
    }
  });
  if (!sub) die(prog, "cannot subscribe: " + sub.error().message(), 1);

  auto waiter = std::make_shared<subscriber_wait>(
      ctx, n.svc.engine(), *keyexpr::key::parse("bench/ping"), 15s,
      [&] {
        seq = 1;
        warm_deadline = steady::now() + 10s;
        send_ping();
      },
      [&] {
        std::fprintf(stderr, "%s: no subscriber for bench/ping became known within 15 s\n", prog);
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
  n.on_disconnect = [&](const multiformats::peer_id& p, std::error_code ec) {
    if (stopping || (target.peer() && p != *target.peer())) return;
    std::fprintf(stderr, "%s: the peer went away%s%s\n", prog, ec ? ": " : "",
                 ec ? ec.message().c_str() : "");
    stop(1);
  };
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec) stop(1);
  });

  ctx.run();
  if (rtt_us.empty()) return exit_code != 0 ? exit_code : 1;
  std::sort(rtt_us.begin(), rtt_us.end());
  const double median = rtt_us[rtt_us.size() / 2];
  const double p99 = rtt_us[std::min(rtt_us.size() - 1, rtt_us.size() * 99 / 100)];
  std::printf("median %.1f us p99 %.1f us\n", median, p99);
  return exit_code;
}
