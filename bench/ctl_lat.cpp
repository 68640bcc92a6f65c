// The control plane under load: how long a declaration (a liveliness token, which travels in
// the node record like every subscription and queryable) takes to cross a link that is
// saturated with data, against the same link idle.
//
// Two embedded nodes in this process, each with its own io_context on its own thread, joined
// by one TCP connection on 127.0.0.1 (Noise, Yamux, the data stream: the real path):
//   S listens, subscribes to bench/thr (and counts what arrives) and watches probe/**;
//   P dials S and, with --load, publishes N-byte samples on bench/thr reliably as fast as the
//   link takes them (pub_thr's loop); every INTERVAL ms it declares the token probe/<i> and
//   undeclares the one before.
// A probe's latency is from just before P's declare_token() to S's liveliness callback for
// it (one steady clock: same process). Prints, per run: probes, median, p99 and max in
// microseconds, and the samples/s S received meanwhile.
// usage: ctl_lat [--size N] [-n PROBES] [-i INTERVAL_MS] [--load] [--prio background|data]
#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "data_bench.hpp"

using namespace starling;
using namespace starling::bench;

namespace {

constexpr const char* prog = "ctl_lat";
using steady = std::chrono::steady_clock;
constexpr std::size_t high_water = 1024 * 1024;  ///< as pub_thr

struct shared_state {
  std::mutex mu;
  std::vector<steady::time_point> declared;  ///< by probe number
  std::vector<double> latencies_us;
  std::atomic<std::uint64_t> received{0};
  std::atomic<bool> s_subscribed_known{false};
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ctl_lat: declaration latency across a link saturated with data"};
  std::size_t size = 1024;
  int probes = 200;
  int interval_ms = 20;
  bool load = false;
  std::string prio = "data";
  app.add_option("--size", size, "payload size of the load, bytes (default 1024)")
      ->check(size_check());
  app.add_option("-n,--probes", probes, "declarations to time (default 200)")
      ->check(CLI::Range(1, 100000));
  app.add_option("-i,--interval", interval_ms, "ms between declarations (default 20)")
      ->check(CLI::Range(1, 10000));
  app.add_flag("--load", load, "saturate the link with samples meanwhile");
  app.add_option("--prio", prio, "priority class of the load: data (default) or background")
      ->check(CLI::IsMember({"data", "background"}));
  parse_or_exit(app, argc, argv);
  set_log_level("warn");
  if (!crypto::init()) die(prog, "libsodium init failed", 1);

  shared_state st;
  st.declared.resize(static_cast<std::size_t>(probes));

  // ---- S: listens, subscribes, watches ----
  asio::io_context s_ctx(1);
  embedded_node s(s_ctx, fresh_identity());
  const auto s_addr =
      listen_or_die(prog, s.h, *multiformats::multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
  auto sub = s.svc.subscribe("bench/thr", [&](const data::sample&) {
    st.received.fetch_add(1, std::memory_order_relaxed);
  });
  if (!sub) die(prog, "subscribe failed: " + sub.error().message(), 1);
  auto watch = s.svc.watch_liveliness("probe/**", [&](std::string_view key, const data::peer_id&,
                                                      bool alive) {
    const auto t = steady::now();
    if (!alive) return;
    const auto slash = key.rfind('/');
    const std::size_t i = std::strtoull(std::string(key.substr(slash + 1)).c_str(), nullptr, 10);
    std::lock_guard lock(st.mu);
    if (i >= st.declared.size()) return;
    st.latencies_us.push_back(
        std::chrono::duration<double, std::micro>(t - st.declared[i]).count());
  });
  if (!watch) die(prog, "watch failed: " + watch.error().message(), 1);
  std::thread s_thread([&] { s_ctx.run(); });

  // ---- P: dials S, loads the link, declares probes ----
  asio::io_context p_ctx(1);
  embedded_node p(p_ctx, fresh_identity());
  data::publisher_options opts;
  opts.prio = prio == "background" ? data::priority::background : data::priority::data;
  auto pub = p.svc.declare_publisher("bench/thr", opts);
  if (!pub) die(prog, "declare_publisher failed", 1);
  bytes payload(size);  // random, as pub_thr's: incompressible
  std::mt19937 rng(1);
  for (auto& b : payload)
    b = static_cast<std::uint8_t>(rng());
  const std::size_t burst =
      std::max<std::size_t>(1, std::min<std::size_t>(1024, 256 * 1024 / size));
  bool stopping = false;
  bool posted = false;
  bool waiting = false;
  asio::steady_timer wake(p_ctx), probe_timer(p_ctx);
  std::uint64_t token = 0;
  int next_probe = 0;
  int exit_code = 0;
  steady::time_point load_start, load_end;
  std::uint64_t received_at_start = 0, received_at_end = 0;

  auto stop = [&](int code) {
    if (stopping) return;
    stopping = true;
    exit_code = code;
    load_end = steady::now();
    received_at_end = st.received.load();
    wake.cancel();
    probe_timer.cancel();
    p.h.shutdown([&] { p_ctx.stop(); }, 1s);
  };

  std::function<void()> burst_fn;
  auto schedule = [&] {
    if (posted || stopping) return;
    posted = true;
    asio::post(p_ctx, [&] {
      posted = false;
      burst_fn();
    });
  };
  burst_fn = [&] {
    if (stopping) return;
    for (std::size_t i = 0; i < burst && p.svc.buffered() < high_water; ++i) {
      auto r = p.svc.put(*pub, payload);
      if (!r) break;
    }
    if (p.svc.buffered() < high_water) return schedule();
    if (waiting) return;
    waiting = true;
    wake.expires_after(1ms);
    wake.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      waiting = false;
      burst_fn();
    });
  };
  p.svc.set_writable_handler([&] {
    if (waiting && p.svc.buffered() < high_water) {
      waiting = false;
      wake.cancel();
      schedule();
    }
  });

  std::function<void()> probe_fn = [&] {
    if (stopping) return;
    if (next_probe >= probes) {
      // Give the last one time to arrive, then stop.
      probe_timer.expires_after(500ms);
      probe_timer.async_wait([&](boost::system::error_code ec) {
        if (!ec) stop(0);
      });
      return;
    }
    if (token != 0) p.svc.undeclare_token(token);
    {
      std::lock_guard lock(st.mu);
      st.declared[static_cast<std::size_t>(next_probe)] = steady::now();
    }
    auto t = p.svc.declare_token("probe/" + std::to_string(next_probe));
    if (!t) {
      std::fprintf(stderr, "%s: declare_token failed: %s\n", prog, t.error().message().c_str());
      return stop(1);
    }
    token = *t;
    ++next_probe;
    probe_timer.expires_after(std::chrono::milliseconds(interval_ms));
    probe_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) probe_fn();
    });
  };

  auto waiter = std::make_shared<subscriber_wait>(
      p_ctx, p.svc.engine(), *keyexpr::key::parse("bench/thr"), 15s,
      [&] {
        load_start = steady::now();
        received_at_start = st.received.load();
        if (load) schedule();
        // Let the load fill the pipe first.
        probe_timer.expires_after(load ? 500ms : 50ms);
        probe_timer.async_wait([&](boost::system::error_code ec) {
          if (!ec) probe_fn();
        });
      },
      [&] {
        std::fprintf(stderr, "%s: S's subscription did not become known within 15 s\n", prog);
        stop(1);
      });
  p.h.dial(s_addr, [&](result<std::shared_ptr<node::connection>> c) {
    if (!c) {
      std::fprintf(stderr, "%s: cannot connect: %s\n", prog, c.error().message().c_str());
      return stop(1);
    }
    waiter->start();
  });
  p_ctx.run();
  asio::post(s_ctx, [&] { s.h.shutdown([&] { s_ctx.stop(); }, 1s); });  // S's own thread
  s_thread.join();
  if (exit_code != 0) return exit_code;

  std::vector<double> l;
  {
    std::lock_guard lock(st.mu);
    l = st.latencies_us;
  }
  if (l.empty()) die(prog, "no declaration arrived", 1);
  std::sort(l.begin(), l.end());
  auto pct = [&](double q) {
    return l[std::min(l.size() - 1, static_cast<std::size_t>(q * static_cast<double>(l.size())))];
  };
  const double secs = std::chrono::duration<double>(load_end - load_start).count();
  const double rate = static_cast<double>(received_at_end - received_at_start) / secs;
  std::printf(
      "%s: %zu of %d declarations arrived; median %.0f us p99 %.0f us max %.0f us; "
      "load %.0f msg/s of %zu B (%.0f MB/s)\n",
      load ? "saturated" : "idle", l.size(), probes, pct(0.5), pct(0.99), l.back(), rate, size,
      rate * static_cast<double>(size) / 1e6);
  return l.size() == static_cast<std::size_t>(probes) ? 0 : 1;
}
