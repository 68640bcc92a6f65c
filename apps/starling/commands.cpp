#include "commands.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "core/keyexpr/keyexpr.hpp"
#include "core/multiformats/multiaddr.hpp"
#include "core/noise/errc.hpp"
#include "node/config.hpp"
#include "node/daemon.hpp"
#include "node/data_dir.hpp"
#include "node/host.hpp"
#include "node/services.hpp"

namespace starling::app {

namespace asio = boost::asio;
using multiformats::multiaddr;

void print_error(const std::string& msg) {
  std::fprintf(stderr, "starling: %s\n", msg.c_str());
}

namespace {

bool init_crypto() {
  if (crypto::init()) return true;
  print_error("libsodium failed to initialise");
  return false;
}

/// Parses a multiaddr given by the user, printing one clear line on failure.
std::optional<multiaddr> parse_addr(const std::string& text) {
  auto a = multiaddr::parse(text);
  if (!a) {
    print_error(multiformats::describe_parse_error(text));
    return std::nullopt;
  }
  return *a;
}

/// Explains why a dial failed, in words a user can act on.
std::string dial_error(const multiaddr& addr, std::error_code ec) {
  if (ec == noise::errc::peer_id_mismatch) {
    return "the peer at " + addr.without_peer().to_string() + " is not " +
           (addr.peer() ? addr.peer()->to_string() : std::string("the expected peer")) +
           " (peer id mismatch)";
  }
  return "cannot connect to " + addr.to_string() + ": " + ec.message();
}

/// Dials `addr` with a throwaway identity and runs `use` on the connection. Returns the exit
/// code `use` sets, or 1 if the dial fails.
template <class Use>
int with_connection(const multiaddr& addr, Use use) {
  asio::io_context ctx;
  crypto::system_rng rng;
  node::host_config cfg;
  cfg.keepalive = std::chrono::milliseconds(0);
  node::host h(ctx, crypto::ed25519_generate(rng), cfg);
  int code = 1;
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  bool interrupted = false;
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    interrupted = true;
    h.shutdown([&] { ctx.stop(); }, std::chrono::milliseconds(500));
  });
  h.dial(addr, [&](result<std::shared_ptr<node::connection>> c) {
    if (!c) {
      print_error(dial_error(addr, c.error()));
      signals.cancel();
      return;
    }
    use(h, *c, [&](int result_code) {
      code = result_code;
      signals.cancel();
      h.shutdown([&] { ctx.stop(); }, std::chrono::milliseconds(500));
    });
  });
  ctx.run();
  return interrupted && code == 1 ? 130 : code;
}

/// Merges the config file into the options and the daemon's settings: a flag wins over the
/// file, the file over the defaults. Only what a flag can also set is looked up in `o`.
void apply_config(const node::config_file& file, node_options& o, node::daemon_config& dc) {
  if (o.data_dir.empty() && file.data_dir) o.data_dir = *file.data_dir;
  if (o.listen.empty() && file.listen) o.listen = *file.listen;
  if (o.bootstrap.empty() && file.bootstrap) o.bootstrap = *file.bootstrap;
  dc.host.early_muxer = !o.no_early_muxer && file.early_muxer.value_or(true);
  dc.mdns = !o.no_mdns && file.mdns.enabled.value_or(true);
  if (!o.interfaces.empty()) {
    dc.mdns_opts.interfaces = o.interfaces;
  } else if (file.mdns.interfaces) {
    dc.mdns_opts.interfaces = *file.mdns.interfaces;
  }
  if (file.mdns.deny) dc.mdns_opts.deny = *file.mdns.deny;
  dc.mesh.target_connections =
      o.max_connections ? *o.max_connections
                        : file.mesh.target_connections.value_or(dc.mesh.target_connections);
  dc.dead_peer_timeout = o.dead_peer_timeout_ms
                             ? std::chrono::milliseconds(*o.dead_peer_timeout_ms)
                             : file.mesh.dead_peer_timeout.value_or(dc.dead_peer_timeout);
  auto& h = dc.host;
  const auto& lim = file.limits;
  h.max_connections = lim.max_connections.value_or(h.max_connections);
  h.max_pending_handshakes = lim.max_pending_handshakes.value_or(h.max_pending_handshakes);
  h.max_pending_per_ip = lim.max_pending_per_ip.value_or(h.max_pending_per_ip);
  h.max_per_peer = lim.max_per_peer.value_or(h.max_per_peer);
  h.max_inbound_streams = lim.max_inbound_streams.value_or(h.max_inbound_streams);
  if (file.storage) {
    for (const auto& t : *file.storage) {
      node::storage_config sc;
      sc.expr = t.expr;
      sc.keep = t.keep.value_or(1);
      sc.backend = t.backend.value_or("memory") == "sqlite" ? node::storage_backend::sqlite
                                                            : node::storage_backend::memory;
      dc.storages.push_back(std::move(sc));
    }
  }
  // --storage adds memory storages; an expression the file already has keeps its settings.
  for (const auto& expr : o.storage) {
    auto x = keyexpr::keyexpr::parse(expr);
    const std::string canonical = x ? x->str() : expr;  // a bad one fails at start, with why
    const bool known = std::any_of(dc.storages.begin(), dc.storages.end(),
                                   [&](const auto& sc) { return sc.expr == canonical; });
    if (!known) dc.storages.push_back(node::storage_config{canonical});
  }
}

std::string format_ms(clock_duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", std::chrono::duration<double, std::milli>(d).count());
  return buf;
}

}  // namespace

int run_id(const std::string& data_dir) {
  if (!init_crypto()) return 1;
  crypto::system_rng rng;
  auto dir = data_dir.empty() ? node::default_data_dir() : std::filesystem::path(data_dir);
  auto kp = node::load_or_create_identity(dir, rng);
  if (!kp) {
    print_error(kp.error().message);
    return 1;
  }
  std::printf("%s\n", multiformats::peer_id::from_public_key(kp->pub).to_string().c_str());
  return 0;
}

int run_node(const node_options& opts) {
  if (!init_crypto()) return 1;
  node_options o = opts;
  node::config_file file;
  if (!o.config_file.empty()) {
    auto loaded = node::load_config(o.config_file);
    if (!loaded) {
      print_error(loaded.error().message);
      return 1;
    }
    file = std::move(*loaded);
  }
  node::daemon_config dc;
  apply_config(file, o, dc);
  dc.serve_perf = o.serve_perf;
  node::apply_dead_peer_timeout(dc.host, dc.dead_peer_timeout);
  dc.host.handshake_timeout = std::chrono::milliseconds(5000);
  if (o.listen.empty()) o.listen = {"/ip4/0.0.0.0/tcp/4001"};

  for (auto& text : o.listen) {
    auto a = parse_addr(text);
    if (!a) return 1;
    dc.listen.push_back(*a);
  }
  for (auto& text : o.bootstrap) {
    if (!parse_addr(text)) return 1;
    dc.bootstrap.push_back(text);
  }
  crypto::system_rng rng;
  auto dir = o.data_dir.empty() ? node::default_data_dir() : std::filesystem::path(o.data_dir);
  auto kp = node::load_or_create_identity(dir, rng);
  if (!kp) {
    print_error(kp.error().message);
    return 1;
  }
  dc.data_dir = dir;

  asio::io_context ctx;
  // Signals are caught before anything is printed: a script may send SIGTERM as soon as it
  // has read our addresses, and that must be a clean shutdown.
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  auto d = node::daemon::start(ctx, *kp, std::move(dc));
  if (!d) {
    print_error(d.error().message);
    return 1;
  }
  auto& daemon = **d;
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: leaving the mesh", sig);
    daemon.shutdown([&] { ctx.stop(); });
  });
  std::printf("%s\n", daemon.get_host().id().to_string().c_str());
  for (auto& a : daemon.get_host().listen_addrs())
    std::printf("%s\n", a.to_string().c_str());
  std::fflush(stdout);

  ctx.run();
  return 0;
}

int run_ping(const ping_options& o) {
  if (!init_crypto()) return 1;
  auto addr = parse_addr(o.target);
  if (!addr) return 1;
  std::vector<double> rtts;
  int sent = 0;
  return with_connection(*addr, [&](node::host& h, std::shared_ptr<node::connection> c,
                                    auto finish) {
    std::printf("PING %s: %zu data bytes\n", addr->to_string().c_str(), ping::payload_size);
    std::fflush(stdout);
    node::ping_options po;
    po.count = o.count;
    po.interval = std::chrono::milliseconds(static_cast<long>(o.interval * 1000));
    po.timeout = std::chrono::milliseconds(static_cast<long>(o.timeout * 1000));
    const std::string peer = c->peer().to_string();
    auto summary = [&, peer, finish] {
      const int received = static_cast<int>(rtts.size());
      std::printf("\n--- %s ping statistics ---\n", peer.c_str());
      std::printf("%d transmitted, %d received, %.0f%% loss\n", sent, received,
                  sent ? 100.0 * (sent - received) / sent : 0.0);
      if (received > 0) {
        const double mn = *std::min_element(rtts.begin(), rtts.end());
        const double mx = *std::max_element(rtts.begin(), rtts.end());
        const double avg = std::accumulate(rtts.begin(), rtts.end(), 0.0) / received;
        double var = 0;
        for (double r : rtts)
          var += (r - avg) * (r - avg);
        std::printf("rtt min/avg/max/mdev = %.3f/%.3f/%.3f/%.3f ms\n", mn, avg, mx,
                    std::sqrt(var / received));
      }
      std::fflush(stdout);
      finish(received > 0 ? 0 : 1);
    };
    c->open_stream({std::string(ping::protocol_id)},
                   node::make_ping_client(
                       h, po,
                       [&, peer](int seq, result<clock_duration> r) {
                         sent = std::max(sent, seq);
                         if (r) {
                           rtts.push_back(std::chrono::duration<double, std::milli>(*r).count());
                           std::printf("%zu bytes from %s: seq=%d time=%s ms\n", ping::payload_size,
                                       peer.c_str(), seq, format_ms(*r).c_str());
                         } else {
                           std::printf("no reply from %s: seq=%d: %s\n", peer.c_str(), seq,
                                       r.error().message().c_str());
                         }
                         std::fflush(stdout);
                       },
                       summary),
                   [finish, peer](std::error_code ec) {
                     print_error("peer " + peer + " does not serve ping: " + ec.message());
                     finish(1);
                   });
  });
}

int run_perf(const perf_options& o) {
  if (!init_crypto()) return 1;
  auto addr = parse_addr(o.target);
  if (!addr) return 1;
  return with_connection(*addr, [&](node::host& h, std::shared_ptr<node::connection> c,
                                    auto finish) {
    c->open_stream(
        {std::string(perf::protocol_id)},
        node::make_perf_client(
            h, o.upload, o.download,
            [&](const perf::report& r) {
              if (o.json) {
                std::printf("%s\n", perf::to_json(r).c_str());
              } else if (r.type == perf::report::kind::final) {
                auto rate = [&](std::uint64_t n) {
                  return r.time_seconds > 0 ? n * 8 / r.time_seconds / 1e6 : 0.0;
                };
                std::printf(
                    "uploaded %llu bytes, downloaded %llu bytes in %.3f s (up %.1f Mbit/s, down "
                    "%.1f Mbit/s)\n",
                    static_cast<unsigned long long>(r.upload_bytes),
                    static_cast<unsigned long long>(r.download_bytes), r.time_seconds,
                    rate(r.upload_bytes), rate(r.download_bytes));
              }
              std::fflush(stdout);
            },
            [&o, finish](std::error_code ec) {
              // A perf server refuses a request above its limit by resetting the stream.
              const bool maybe_refused =
                  ec == node::host_errc::stream_reset_by_peer && o.download > 0;
              if (ec) {
                print_error("perf failed: " + ec.message() +
                            (maybe_refused
                                 ? " (the download may be above the node's limit: 1 GiB by default)"
                                 : ""));
              }
              finish(ec ? 1 : 0);
            }),
        [finish](std::error_code ec) {
          print_error("peer does not serve /perf/1.0.0: " + ec.message() +
                      " (a starling node serves it only when run with --serve-perf)");
          finish(1);
        });
  });
}

}  // namespace starling::app
