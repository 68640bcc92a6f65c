#pragma once
// What the data-layer benchmarks (pub_thr, sub_thr, lat_ping, lat_pong) share: one embedded
// Starling node in the program's own process (a node::host plus a node::data_service, run by
// one io_context on the main thread, wired as `starling node` wires them: the data service
// hears of every identified peer), checked command-line values, and the wait until a remote
// subscription is known.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/access/policy.hpp"
#include "core/data/guard.hpp"
#include "core/data/wire.hpp"
#include "core/keyexpr/keyexpr.hpp"
#include "node/data_service.hpp"
#include "node/host.hpp"
#include "node/services.hpp"

namespace starling::bench {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// The largest payload the data layer carries (data::max_payload, 512 KiB).
inline constexpr std::size_t max_size = data::max_payload;

/// Prints "<prog>: <msg>" on stderr and exits with status 2 (bad input) or `code`.
[[noreturn]] inline void die(const char* prog, const std::string& msg, int code = 2) {
  std::fprintf(stderr, "%s: %s\n", prog, msg.c_str());
  std::fflush(stderr);
  std::exit(code);
}

/// Parses a TCP multiaddr (/ip4|ip6/A/tcp/P[/p2p/ID]); dies with a clear message otherwise.
/// `need_p2p`: the address must end in /p2p/<peer id>.
inline multiformats::multiaddr parse_tcp_addr(const char* prog, const char* what,
                                              const std::string& text, bool need_p2p) {
  auto a = multiformats::multiaddr::parse(text);
  if (!a)
    die(prog, std::string(what) + ": '" + text + "' is not a multiaddr: " + a.error().message());
  if (!a->tcp_endpoint()) {
    die(prog, std::string(what) + ": '" + text + "' is not a /ip4|ip6/ADDRESS/tcp/PORT address");
  }
  if (need_p2p && !a->peer()) {
    die(prog, std::string(what) + ": '" + text +
                  "' has no /p2p/<peer id> (use the address the other program printed)");
  }
  return *a;
}

/// Checks a key (no wildcards); dies with the parser's message otherwise.
inline void check_key(const char* prog, const std::string& text) {
  auto k = keyexpr::key::parse(text);
  if (!k) die(prog, "bad key '" + text + "': " + k.error().message());
}

/// A CLI11 check for payload sizes: 1 to 512 KiB.
inline CLI::Validator size_check() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        char* end = nullptr;
        const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || s[0] == '-' || v < 1 || v > max_size) {
          return "size must be 1 to " + std::to_string(max_size) + " bytes (512 KiB), got " + s;
        }
        return {};
      },
      "1.." + std::to_string(max_size));
}

/// Parses the command line; on an error prints it (or the help) and exits (2 on errors).
inline void parse_or_exit(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    std::exit(rc == 0 ? 0 : 2);
  }
}

/// A fresh Ed25519 identity. With `above`, one whose peer id orders after it (a few draws:
/// each is a coin toss), so that the other node is the one that opens the data stream.
inline crypto::ed25519_keypair fresh_identity(
    const std::optional<multiformats::peer_id>& above = std::nullopt) {
  crypto::system_rng rng;
  for (;;) {
    auto kp = crypto::ed25519_generate(rng);
    if (!above || multiformats::peer_id::from_public_key(kp.pub) > *above) return kp;
  }
}

/// One embedded node: host + data service on `ctx`, wired like `starling node`.
struct embedded_node {
  embedded_node(asio::io_context& ctx, crypto::ed25519_keypair id) : h(ctx, id), svc(h) {
    node::register_ping_service(h);  // as `starling node` does
    h.on_event([this](const node::host_event& e) {
      if (auto* ev = std::get_if<node::peer_identified>(&e)) {
        for (auto& c : h.connections()) {
          if (c->established() && !c->closing() && c->peer() == ev->peer)
            svc.on_identified(c, ev->info);
        }
      } else if (auto* d = std::get_if<node::peer_disconnected>(&e)) {
        if (on_disconnect) on_disconnect(d->peer, d->reason);
      }
    });
  }
  /// Checks every data operation against a policy of `rules` rules (bench_policy()), every
  /// node holding the role "bench", as a node of a network with access rules does.
  void enforce_rules(std::size_t rules) {
    guard = std::make_unique<data::policy_guard>(
        [](const multiformats::peer_id&) { return std::vector<std::string>{"bench"}; });
    if (auto ok = guard->set_policy(bench_policy(rules)); !ok) {
      die("bench", "the benchmark policy does not compile: " + ok.error().message());
    }
    svc.set_access(guard.get());
  }
  /// A policy like a real one: the first rule lets role "bench" publish and subscribe under
  /// bench/**, the others are allow and deny rules of other roles and keys (zones, devices,
  /// wildcards) that the check must step past.
  static access::policy bench_policy(std::size_t rules) {
    access::policy p;
    p.version = 1;
    auto add = [&](access::effect e, std::string role, access::op_set ops, std::string key) {
      access::rule r;
      r.effect = e;
      r.roles = {std::move(role)};
      r.ops = ops;
      r.keys = {keyexpr::keyexpr::parse(key).value()};
      p.rules.push_back(std::move(r));
    };
    add(access::effect::allow, "bench", access::op_set::data(), "bench/**");
    for (std::size_t i = 1; i < rules; ++i) {
      const std::string n = std::to_string(i);
      switch (i % 4) {
        case 0:
          add(access::effect::allow, "sensor" + n, access::op_set::data(), "zone" + n + "/*/temp");
          break;
        case 1:
          add(access::effect::deny, "bench", access::op_set::data(), "bench/private" + n + "/**");
          break;
        case 2:
          add(access::effect::allow, "viewer", access::op_set::data(), "zone" + n + "/**");
          break;
        default:
          add(access::effect::deny, "*", access::op_set::data(), "secret" + n + "/**");
          break;
      }
    }
    return p;
  }
  /// Called when a peer goes away (optional).
  std::function<void(const multiformats::peer_id&, std::error_code)> on_disconnect;
  std::unique_ptr<data::policy_guard> guard;  ///< enforce_rules(); destroyed after svc
  node::host h;
  node::data_service svc;
};

/// True when a reachable node other than us has a subscription matching `key`.
inline bool remote_subscriber_known(const data::engine& e, const keyexpr::key& key) {
  const auto& routes = e.routes();
  for (const auto* r : routes.records()) {
    if (!r || r->origin == e.self() || !routes.reachable(r->origin)) continue;
    for (const auto& d : r->decls) {
      if (d.k != data::declaration::kind::subscriber) continue;
      auto expr = keyexpr::keyexpr::parse(d.expr);
      if (expr && keyexpr::matches(*expr, key)) return true;
    }
  }
  return false;
}

/// Polls every 5 ms until a remote subscription on `key` is known, then calls `ready`; after
/// `limit` calls `timed_out` instead.
class subscriber_wait : public std::enable_shared_from_this<subscriber_wait> {
 public:
  subscriber_wait(asio::io_context& ctx, const data::engine& e, keyexpr::key key,
                  std::chrono::milliseconds limit, std::function<void()> ready,
                  std::function<void()> timed_out)
      : m_timer(ctx),
        m_engine(e),
        m_key(std::move(key)),
        m_deadline(std::chrono::steady_clock::now() + limit),
        m_ready(std::move(ready)),
        m_timed_out(std::move(timed_out)) {}
  void start() { check(); }

 private:
  void check() {
    if (remote_subscriber_known(m_engine, m_key)) return m_ready();
    if (std::chrono::steady_clock::now() >= m_deadline) return m_timed_out();
    m_timer.expires_after(5ms);
    m_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->check();
    });
  }
  asio::steady_timer m_timer;
  const data::engine& m_engine;
  keyexpr::key m_key;
  std::chrono::steady_clock::time_point m_deadline;
  std::function<void()> m_ready;
  std::function<void()> m_timed_out;
};

/// The address a listening benchmark prints first: the bound address with /p2p/<id>.
inline multiformats::multiaddr listen_or_die(const char* prog, node::host& h,
                                             const multiformats::multiaddr& a) {
  auto bound = h.listen(a);
  if (!bound) die(prog, "cannot listen on " + a.to_string() + ": " + bound.error().message(), 1);
  return *bound;
}

/// Quiet logs (warnings and errors on stderr) unless the caller asked for more.
inline void set_log_level(const std::string& level) {
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace starling::bench
