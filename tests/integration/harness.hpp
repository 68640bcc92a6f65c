#pragma once
// Shared pieces of the in-process integration tests: hosts on 127.0.0.1 with ephemeral ports,
// one io_context run in the test thread until a condition holds (bounded by a watchdog),
// test stream handlers, and a hand-driven "raw" peer built on the pure connection core that
// can misbehave on purpose.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/conn/connection.hpp"
#include "io/clock.hpp"
#include "io/tcp_driver.hpp"
#include "node/host.hpp"
#include "node/services.hpp"

namespace starling::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;

inline constexpr const char* echo_protocol = "/starling/test/echo/1.0.0";
inline constexpr const char* sink_protocol = "/starling/test/sink/1.0.0";

/// Runs `ctx` until `pred()` holds or `limit` passes (a steady_timer is the watchdog).
/// Returns pred().
template <class Pred>
bool run_until(asio::io_context& ctx, Pred pred, std::chrono::milliseconds limit = 10s) {
  bool expired = false;
  asio::steady_timer watchdog(ctx, limit);
  watchdog.async_wait([&](boost::system::error_code ec) {
    if (!ec) expired = true;
  });
  while (!pred() && !expired) {
    if (ctx.stopped()) ctx.restart();
    if (ctx.run_one_for(limit) == 0) break;  // out of work: nothing will change
  }
  watchdog.cancel();  // its handler only reads `ec` when it runs later
  return pred();
}

/// Echoes everything; answers EOF with EOF.
class echo_handler final : public node::stream_handler {
 public:
  void on_data(node::stream& s, bytes_view data) override { s.write(data); }
  void on_read_closed(node::stream& s) override { s.close_write(); }
};

/// Reads and drops everything; never writes; keeps the stream open.
class sink_handler final : public node::stream_handler {
 public:
  void on_data(node::stream&, bytes_view) override {}
};

/// A client-side handler that records everything it sees.
struct recorder_state {
  bool opened = false;
  bool read_closed = false;
  bool closed = false;
  std::error_code close_ec;
  std::string data;
  node::stream* s = nullptr;
};
class recorder final : public node::stream_handler {
 public:
  explicit recorder(std::shared_ptr<recorder_state> st, std::string first_write = {},
                    bool close_after = false)
      : m_st(std::move(st)), m_first(std::move(first_write)), m_close_after(close_after) {}
  void on_open(node::stream& s) override {
    m_st->opened = true;
    m_st->s = &s;
    if (!m_first.empty()) s.write(as_bytes(m_first));
    if (m_close_after) s.close_write();
  }
  void on_data(node::stream&, bytes_view d) override { m_st->data.append(as_chars(d)); }
  void on_read_closed(node::stream&) override { m_st->read_closed = true; }
  void on_closed(node::stream&, std::error_code ec) override {
    m_st->closed = true;
    m_st->close_ec = ec;
    m_st->s = nullptr;
  }

 private:
  std::shared_ptr<recorder_state> m_st;
  std::string m_first;
  bool m_close_after;
};

/// One host plus what it reported. It serves ping, perf, echo and sink besides identify.
struct test_node {
  test_node(asio::io_context& ctx, node::host_config cfg = quiet_config(), std::uint64_t seed = 0)
      : events(), h(ctx, make_identity(seed), cfg) {
    node::register_ping_service(h);
    node::register_perf_service(h);
    h.set_handler(echo_protocol, [] { return std::make_unique<echo_handler>(); });
    h.set_handler(sink_protocol, [] { return std::make_unique<sink_handler>(); });
    h.on_event([this](const node::host_event& e) { events.push_back(e); });
  }
  static node::host_config quiet_config() {
    node::host_config c;
    c.keepalive = 0ms;
    c.close_linger = 500ms;
    return c;
  }
  static crypto::ed25519_keypair make_identity(std::uint64_t seed) {
    if (seed == 0) {
      crypto::system_rng r;
      return crypto::ed25519_generate(r);
    }
    crypto::seeded_rng r(seed);
    return crypto::ed25519_generate(r);
  }
  /// Listens on 127.0.0.1, port 0; returns the full address with /p2p/.
  multiformats::multiaddr listen() {
    auto a = h.listen(*multiformats::multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
    EXPECT_TRUE(a);
    return *a;
  }
  template <class T>
  std::vector<T> of() const {
    std::vector<T> out;
    for (auto& e : events) {
      if (auto* p = std::get_if<T>(&e)) out.push_back(*p);
    }
    return out;
  }
  std::size_t established_count() const {
    std::size_t n = 0;
    for (auto& c : h.connections())
      n += c->established() && !c->closing() ? 1 : 0;
    return n;
  }

  std::vector<node::host_event> events;  // before h: the host may report while it dies
  node::host h;
};

/// The outcome of a dial.
struct dial_result {
  bool done = false;
  std::shared_ptr<node::connection> conn;
  std::error_code ec;
};
inline std::shared_ptr<dial_result> dial(node::host& h, const multiformats::multiaddr& a) {
  auto r = std::make_shared<dial_result>();
  h.dial(a, [r](result<std::shared_ptr<node::connection>> c) {
    r->done = true;
    if (c)
      r->conn = *c;
    else
      r->ec = c.error();
  });
  return r;
}

/// A peer driven by hand: the pure connection core over a real socket, which can send
/// arbitrary bytes before or after the handshake, open Yamux streams and leave them silent,
/// and never reacts to GoAway.
class raw_peer : public std::enable_shared_from_this<raw_peer>, private io::byte_core {
 public:
  struct options {
    bool handshake = true;      ///< run the Noise handshake (else: send only `preamble`)
    bytes preamble;             ///< raw bytes sent as soon as TCP connects
    bytes after_handshake;      ///< plaintext injected into the secure channel once established
    bytes raw_after_handshake;  ///< raw (unencrypted) socket bytes once established
    int silent_streams = 0;     ///< Yamux streams opened (and left without a byte) once established
    std::optional<crypto::ed25519_keypair> identity;
    std::string source_ip;  ///< bind to this local address first (e.g. 127.0.0.2), if set
  };

  raw_peer(asio::io_context& ctx, options o)
      : m_ctx(ctx),
        m_opts(std::move(o)),
        m_rng(42),
        m_id(m_opts.identity ? *m_opts.identity : crypto::ed25519_generate(m_rng)),
        m_core(make_cfg(), m_id, m_rng, io::now()) {}

  void connect(const multiformats::multiaddr& a) {
    auto ep = *a.tcp_endpoint();
    auto sock = std::make_shared<io::tcp::socket>(m_ctx);
    auto self = shared_from_this();
    if (!m_opts.source_ip.empty()) {
      const auto src = asio::ip::make_address(m_opts.source_ip);
      sock->open(src.is_v4() ? io::tcp::v4() : io::tcp::v6());
      sock->bind(io::tcp::endpoint(src, 0));
    }
    sock->async_connect(io::tcp::endpoint(asio::ip::make_address(ep.ip_string()), ep.port),
                        [this, self, sock](boost::system::error_code ec) {
                          if (ec) {
                            closed = true;
                            close_ec = ec;
                            return;
                          }
                          m_driver.emplace(std::move(*sock), static_cast<io::byte_core&>(*this),
                                           io::tcp_driver::callbacks{[this] { on_progress(); },
                                                                     [this](std::error_code e) {
                                                                       closed = true;
                                                                       close_ec = e;
                                                                     }});
                          m_driver->set_linger(0ms);
                          connected = true;
                          m_driver->start(shared_from_this());
                        });
  }
  void abort() {
    if (m_driver) m_driver->abort({});
  }

  bool connected = false;
  bool established = false;
  bool closed = false;
  std::error_code close_ec;
  std::optional<std::uint32_t> go_away;
  int streams_reset = 0;
  std::uint64_t bytes_received = 0;
  const crypto::ed25519_keypair& identity() const { return m_id; }

 private:
  conn::config make_cfg() const {
    conn::config c;
    c.dir = conn::direction::outbound;
    c.handshake_timeout = 30s;
    c.mux.keepalive_interval = 0s;
    c.mux.ping_on_start = false;
    return c;
  }
  result<void> feed(bytes_view in, time_point now) override {
    bytes_received += in.size();
    if (!m_opts.handshake) return {};
    return m_core.feed(in, now);
  }
  void poll_transmit(bytes& out) override {
    if (!m_preamble_sent) {
      m_preamble_sent = true;
      append(out, m_opts.preamble);
      if (!m_opts.handshake) return;
    }
    if (!m_opts.handshake) return;
    m_core.poll_transmit(out);
    if (m_raw_pending) {
      m_raw_pending = false;
      append(out, m_opts.raw_after_handshake);
    }
  }
  time_point next_deadline() const override {
    return m_opts.handshake ? m_core.next_deadline() : no_deadline;
  }
  result<void> on_deadline(time_point now) override {
    return m_opts.handshake ? m_core.on_deadline(now) : result<void>{};
  }
  bool finished() const override { return m_opts.handshake && m_core.finished(); }

  void on_progress() {
    while (auto e = m_core.poll_event()) {
      if (std::holds_alternative<conn::established>(*e)) {
        established = true;
        if (!m_opts.after_handshake.empty()) (void)m_core.inject_plaintext(m_opts.after_handshake);
        if (!m_opts.raw_after_handshake.empty()) m_raw_pending = true;
        for (int i = 0; i < m_opts.silent_streams; ++i) {
          if (!m_core.mux()->open_stream()) break;
        }
        continue;
      }
      const auto& ye = std::get<yamux::event>(*e);
      if (auto* g = std::get_if<yamux::go_away_received>(&ye)) go_away = g->code;
      if (std::holds_alternative<yamux::stream_reset>(ye)) ++streams_reset;
      if (auto* d = std::get_if<yamux::stream_data>(&ye))
        (void)m_core.mux()->consume(d->id, d->bytes.size());
    }
  }

  asio::io_context& m_ctx;
  options m_opts;
  crypto::seeded_rng m_rng;
  crypto::ed25519_keypair m_id;
  conn::connection m_core;
  std::optional<io::tcp_driver> m_driver;
  bool m_preamble_sent = false;
  bool m_raw_pending = false;
};

inline std::shared_ptr<raw_peer> make_raw_peer(asio::io_context& ctx, raw_peer::options o) {
  return std::make_shared<raw_peer>(ctx, std::move(o));
}

}  // namespace starling::test
