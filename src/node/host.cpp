#include "node/host.hpp"

#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>

#include "core/dial/multi_dial.hpp"
#include "core/multiformats/keys.hpp"
#include "core/ping/ping.hpp"
#include "io/interfaces.hpp"
#include "node/services.hpp"

namespace starling::node {

namespace asio = boost::asio;

namespace {
class host_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "host"; }
  std::string message(int c) const override {
    switch (static_cast<host_errc>(c)) {
      case host_errc::not_tcp:
        return "not a TCP address (expected /ip4|ip6/.../tcp/PORT)";
      case host_errc::too_many_connections:
        return "connection limit reached";
      case host_errc::connection_closed:
        return "connection closed";
      case host_errc::dial_timeout:
        return "timed out";
      case host_errc::identify_mismatch:
        return "identify public key does not match the peer id";
      case host_errc::shutting_down:
        return "node is shutting down";
      case host_errc::stream_reset_by_peer:
        return "stream reset by peer";
      case host_errc::stream_reset_locally:
        return "stream reset";
      case host_errc::negotiation_timeout:
        return "stream protocol negotiation timed out";
      case host_errc::banned:
        return "peer temporarily banned for misbehaviour";
    }
    return "host error";
  }
};

result<io::tcp::endpoint> to_endpoint(const multiformats::multiaddr& a) {
  auto ep = a.tcp_endpoint();
  if (!ep) return make_error_code(host_errc::not_tcp);
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(ep->ip_string(), ec);
  if (ec) return make_error_code(host_errc::not_tcp);
  return io::tcp::endpoint(ip, ep->port);
}
}  // namespace

const std::error_category& host_category() noexcept {
  static const host_category_impl c;
  return c;
}

struct host::listener {
  explicit listener(asio::io_context& ctx) : acceptor(ctx) {}
  io::tcp::acceptor acceptor;
};

host::host(asio::io_context& ctx, const crypto::ed25519_keypair& identity, host_config cfg,
           host_env env)
    : m_ctx(ctx),
      m_identity(identity),
      m_rng(env.rng ? *env.rng : m_own_rng),
      m_clock(env.clock ? *env.clock : steady_clock_source()),
      m_interfaces(env.interfaces ? std::move(env.interfaces) : io::list_interface_addresses),
      m_cfg(std::move(cfg)),
      m_id(multiformats::peer_id::from_public_key(identity.pub)),
      m_shutdown_timer(ctx) {
  m_guest_protocols = {std::string(identify::protocol_id), std::string(identify::push_protocol_id),
                       std::string(ping::protocol_id)};
  register_identify_services(*this);
}

host::~host() {
  *m_alive = false;
  for (auto& l : m_listeners) {
    boost::system::error_code ignored;
    l->acceptor.close(ignored);
  }
  // No callbacks into the application from here: it may be half torn down already.
  m_on_event = nullptr;
  m_shutdown_done = nullptr;
  m_dial_waiters.clear();
  for (auto& c : std::vector(m_conns))
    c->drop();
  m_conns.clear();
}

conn::config host::conn_config(conn::direction dir) const {
  conn::config c;
  c.dir = dir;
  c.early_muxer = m_cfg.early_muxer;
  c.handshake_timeout = m_cfg.handshake_timeout;
  c.mux.keepalive_interval = m_cfg.keepalive;
  c.mux.ping_timeout = m_cfg.keepalive_timeout;
  c.mux.max_inbound_streams = m_cfg.max_inbound_streams;
  c.mux.ack_on_open =
      true;  // read-only inbound streams (perf upload) must not stall the ACK backlog
  if (m_admission) c.membership = m_admission->handshake_proof();
  return c;
}

result<multiformats::multiaddr> host::listen(const multiformats::multiaddr& addr) {
  auto ep = STARLING_TRY(to_endpoint(addr));
  auto l = std::make_shared<listener>(m_ctx);
  boost::system::error_code ec;
  l->acceptor.open(ep.protocol(), ec);
  if (!ec) l->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) l->acceptor.bind(ep, ec);
  if (!ec) l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return std::error_code(ec);
  const auto bound = l->acceptor.local_endpoint(ec);
  multiformats::ip_endpoint ip = *addr.tcp_endpoint();
  ip.port = bound.port();
  auto full = STARLING_TRY(multiformats::multiaddr::from_tcp_endpoint(ip).with_peer(m_id));
  m_listeners.push_back(l);
  m_bound_addrs.push_back(multiformats::multiaddr::from_tcp_endpoint(ip));
  if (ep.address().is_unspecified()) {
    // A wildcard listener is reachable on every address of its family: announce those.
    for (const auto& ia : m_interfaces()) {
      if (ia.address.is_v4() != ep.address().is_v4()) continue;
      if (ia.address.is_v6() && ia.address.to_v6().is_link_local()) continue;  // needs a zone
      auto m = to_multiaddr(io::tcp::endpoint(ia.address, bound.port())).with_peer(m_id);
      if (m) m_listen_addrs.push_back(*m);
    }
  } else {
    m_listen_addrs.push_back(full);
  }
  accept_next(l);
  push_identify();  // peers already connected learn the new address
  return full;
}

namespace {
/// What the per-IP handshake limit counts by: an IPv4 address (also when it arrives mapped
/// into IPv6 on a dual-stack listener), or an IPv6 /64, which one host usually holds whole.
asio::ip::address address_bucket(const asio::ip::address& a) {
  if (!a.is_v6()) return a;
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6);
  auto b = v6.to_bytes();
  std::fill(b.begin() + 8, b.end(), std::uint8_t{0});
  return asio::ip::address_v6(b);
}
}  // namespace

void host::accept_next(const std::shared_ptr<listener>& l) {
  l->acceptor.async_accept([this, l](boost::system::error_code ec, io::tcp::socket s) {
    if (ec == asio::error::operation_aborted || m_shutting_down || !l->acceptor.is_open()) return;
    if (!ec) {
      boost::system::error_code ep_ec;
      const auto from = address_bucket(s.remote_endpoint(ep_ec).address());
      std::size_t pending = 0;
      std::size_t pending_from = 0;
      for (auto& c : m_conns) {
        if (c->established()) continue;
        ++pending;
        if (!ep_ec && c->dir() == conn::direction::inbound &&
            address_bucket(c->remote_ip()) == from)
          ++pending_from;
      }
      boost::system::error_code ignored;
      if (m_conns.size() >= m_cfg.max_connections || pending >= m_cfg.max_pending_handshakes) {
        ++m_metrics.inbound_refused_limit;
        spdlog::debug("refusing inbound connection: {} connections, {} handshaking", m_conns.size(),
                      pending);
        s.close(ignored);
      } else if (pending_from >= m_cfg.max_pending_per_ip) {
        ++m_metrics.inbound_refused_per_ip;
        spdlog::debug("refusing inbound connection from {}: {} handshakes from there already",
                      from.to_string(), pending_from);
        s.close(ignored);
      } else {
        add_connection(std::move(s), conn::direction::inbound, std::nullopt);
      }
    } else {
      spdlog::warn("accept failed: {}", ec.message());
    }
    accept_next(l);
  });
}

std::shared_ptr<connection> host::add_connection(io::tcp::socket s, conn::direction dir,
                                                 std::optional<multiformats::peer_id> expected) {
  auto cfg = conn_config(dir);
  if (expected) cfg.expected_remote = expected->ed25519_public_key();
  const connection_env env{*this,
                           *this,
                           m_identity,
                           m_rng,
                           m_clock,
                           {m_cfg.max_negotiating_streams, m_cfg.stream_negotiation_timeout},
                           m_cfg.close_linger};
  auto c = std::make_shared<connection>(env, std::move(s), cfg, expected, m_clock.now());
  ++(dir == conn::direction::inbound ? m_metrics.connections_opened_inbound
                                     : m_metrics.connections_opened_outbound);
  m_conns.push_back(c);
  c->start();
  return c;
}

void host::dial(const multiformats::multiaddr& addr, dial_fn done) {
  // One address is a dial_any() of one: the same reuse, limits, timeout and errors.
  dial_any(addr.peer(), {addr}, m_cfg.dial_timeout, std::move(done));
}

/// State of one dial_any(): the decisions (dial::multi_dial) and, per attempt, its address,
/// socket and connect timer.
struct host::multi_dial {
  multi_dial(std::size_t attempts, std::error_code no_address) : core(attempts, no_address) {}
  std::optional<multiformats::peer_id> expected;
  dial_fn done;
  dial::multi_dial core;
  std::vector<multiformats::multiaddr> addrs;
  std::vector<std::shared_ptr<io::tcp::socket>> sockets;  ///< moved out for the handshake
  std::vector<std::shared_ptr<asio::steady_timer>> timers;
  std::shared_ptr<connection> won;  ///< what the winning handshake handed out
};

void host::dial_any(std::optional<multiformats::peer_id> expected,
                    std::vector<multiformats::multiaddr> addrs,
                    std::chrono::milliseconds attempt_timeout, dial_fn done) {
  if (m_shutting_down) return done(make_error_code(host_errc::shutting_down));
  if (expected) {
    for (auto& c : m_conns) {
      if (c->established() && !c->closing() && c->peer() == *expected) return done(c);
    }
  }
  if (m_conns.size() >= m_cfg.max_connections)
    return done(make_error_code(host_errc::too_many_connections));
  std::vector<std::pair<io::tcp::endpoint, multiformats::multiaddr>> targets;
  for (auto& a : addrs) {
    auto ep = to_endpoint(a);
    if (!ep) continue;
    const bool dup =
        std::any_of(targets.begin(), targets.end(), [&](auto& t) { return t.first == *ep; });
    if (!dup) targets.emplace_back(*ep, a.without_peer());
  }
  auto d = std::make_shared<multi_dial>(targets.size(), make_error_code(host_errc::not_tcp));
  d->expected = std::move(expected);
  d->done = std::move(done);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    auto sock = std::make_shared<io::tcp::socket>(m_ctx);
    auto timer = std::make_shared<asio::steady_timer>(m_ctx, attempt_timeout);
    d->addrs.push_back(targets[i].second);
    d->sockets.push_back(sock);
    d->timers.push_back(timer);
  }
  for (std::size_t i = 0; i < targets.size(); ++i) {
    std::weak_ptr<io::tcp::socket> weak_sock = d->sockets[i];
    d->timers[i]->async_wait([weak_sock](boost::system::error_code ec) {
      auto s = weak_sock.lock();
      if (!ec && s) {
        boost::system::error_code ignored;
        s->close(ignored);
      }
    });
    d->sockets[i]->async_connect(targets[i].first, [this, d, i](boost::system::error_code ec) {
      d->timers[i]->cancel();
      if (ec) {
        const std::error_code e =
            ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor
                ? make_error_code(host_errc::dial_timeout)
                : std::error_code(ec);
        const bool report = !d->core.finished() && !m_shutting_down;
        d->core.on_connect_failed(i, e);
        if (report) emit(connection_failed{d->addrs[i], e});
      } else if (!d->core.on_connected(i)) {
        boost::system::error_code ignored;
        d->sockets[i]->close(ignored);
      }
      multi_dial_next(d);
    });
  }
  if (targets.empty()) multi_dial_next(d);
}

namespace {
/// Ends a dial_any(): closes what is left and hands the result out.
template <class D>
void finish_multi_dial(D& d, const dial::multi_dial::finish& f) {
  boost::system::error_code ignored;
  for (auto& s : d.sockets) {
    if (s->is_open()) s->close(ignored);
  }
  for (auto& t : d.timers)
    t->cancel();
  result<std::shared_ptr<connection>> r = make_error_code(host_errc::connection_closed);
  switch (f.reason) {
    case dial::multi_dial::end_reason::connected:
      if (d.won) r = std::move(d.won);
      break;
    case dial::multi_dial::end_reason::failed:
      r = f.error;
      break;
    case dial::multi_dial::end_reason::no_room:
      r = make_error_code(host_errc::too_many_connections);
      break;
    case dial::multi_dial::end_reason::shutting_down:
      r = make_error_code(host_errc::shutting_down);
      break;
  }
  auto fn = std::move(d.done);
  fn(std::move(r));
}
}  // namespace

void host::multi_dial_next(const std::shared_ptr<multi_dial>& d) {
  const auto step = d->core.next(m_conns.size() < m_cfg.max_connections, m_shutting_down);
  if (const auto* f = std::get_if<dial::multi_dial::finish>(&step))
    return finish_multi_dial(*d, *f);
  const auto* h = std::get_if<dial::multi_dial::start_handshake>(&step);
  if (!h) return;  // wait
  const std::size_t a = h->attempt;
  auto c = add_connection(std::move(*d->sockets[a]), conn::direction::outbound, d->expected);
  m_dial_waiters.emplace(c.get(), [this, d, a](result<std::shared_ptr<connection>> r) {
    if (r) {
      d->won = std::move(*r);
      d->core.on_handshake_done(a);
    } else {
      spdlog::debug("dial via {} failed in the handshake: {}", d->addrs[a].to_string(),
                    r.error().message());
      d->core.on_handshake_failed(a, r.error());
    }
    multi_dial_next(d);
  });
}

void host::set_handler(std::string protocol, handler_factory f) {
  const bool is_new = m_handlers.find(protocol) == m_handlers.end();
  m_handlers[std::move(protocol)] = std::move(f);
  if (is_new) push_identify();
}

void host::push_identify() {
  for (auto& c : m_conns) {
    if (!c->established() || c->closed() || c->closing()) continue;
    std::weak_ptr<connection> weak = c;
    c->open_stream({std::string(identify::push_protocol_id)}, make_identify_pusher(*this),
                   [weak](std::error_code ec) {
                     if (auto conn = weak.lock()) {
                       spdlog::debug("identify push to {} failed: {}", conn->peer().to_string(),
                                     ec.message());
                     }
                   });
  }
}

std::vector<std::string> host::protocols() const {
  std::vector<std::string> out;
  for (auto& [p, f] : m_handlers)
    out.push_back(p);
  return out;
}

bool host::serves(const connection& c, std::string_view protocol) const {
  if (c.admitted_as() == peer_class::guest &&
      std::find(m_guest_protocols.begin(), m_guest_protocols.end(), protocol) ==
          m_guest_protocols.end()) {
    return false;
  }
  return m_handlers.find(protocol) != m_handlers.end();
}

std::vector<std::string> host::protocols_for(const connection& c) const {
  std::vector<std::string> out;
  for (auto& [p, f] : m_handlers) {
    if (serves(c, p)) out.push_back(p);
  }
  return out;
}

std::unique_ptr<stream_handler> host::make_handler(const connection& c,
                                                   const std::string& protocol) const {
  if (!serves(c, protocol)) return nullptr;
  auto it = m_handlers.find(protocol);
  return it == m_handlers.end() ? nullptr : it->second();
}

std::vector<std::shared_ptr<connection>> host::connections() const {
  return m_conns;
}

node::metrics host::metrics() const {
  node::metrics m = m_metrics;
  for (auto& c : m_conns) {
    m.bytes_in += c->bytes_in();
    m.bytes_out += c->bytes_out();
  }
  return m;
}

void host::on_clock_advanced() {
  for (auto& c : std::vector(m_conns))
    c->check_deadlines();
}

std::vector<dial_fn> host::take_waiters(const connection* c) {
  auto range = m_dial_waiters.equal_range(c);
  std::vector<dial_fn> out;
  for (auto it = range.first; it != range.second; ++it)
    out.push_back(std::move(it->second));
  m_dial_waiters.erase(range.first, range.second);
  return out;
}

bool host::has_other_announced(const connection& c) const {
  for (auto& o : m_conns) {
    if (o.get() != &c && o->announced() && !o->closed() && o->peer() == c.peer()) return true;
  }
  return false;
}

void host::emit(host_event e) {
  if (m_on_event) m_on_event(e);
}

void host::connection_established(const std::shared_ptr<connection>& c,
                                  const conn::established& e) {
  ++m_metrics.connections_established;
  // Per-peer bound, counting connections still closing: a peer that reconnects in a loop
  // cannot make us hold more than max_per_peer sockets.
  std::size_t same_peer = 0;
  for (auto& other : m_conns) {
    if (other != c && other->established() && !other->closed() && other->peer() == c->peer())
      ++same_peer;
  }
  if (same_peer >= m_cfg.max_per_peer) {
    ++m_metrics.refused_per_peer;
    spdlog::debug("closing connection from {}: {} connections to that peer already",
                  c->peer().to_string(), same_peer);
    const auto why = make_error_code(host_errc::too_many_connections);
    for (auto& d : take_waiters(c.get()))
      d(why);
    c->abort(why);
    return;
  }
  if (auto until = m_scores.banned_until(c->peer(), m_clock.now())) {
    ++m_metrics.refused_banned;
    spdlog::debug("refused {}: banned for misbehaviour for {} s more", c->peer().to_string(),
                  std::chrono::duration_cast<std::chrono::seconds>(*until - m_clock.now()).count());
    const auto why = make_error_code(host_errc::banned);
    for (auto& d : take_waiters(c.get()))
      d(why);
    c->abort(why);
    return;
  }
  if (m_admission) {
    auto verdict = m_admission->admit(*c, e);
    if (!verdict) {
      ++m_metrics.refused_not_member;
      // One line per peer per minute: a refused peer that re-dials must not flood the log.
      const auto now = m_clock.now();
      auto [it, fresh] = m_refusals_logged.try_emplace(c->peer().to_string(), now);
      const bool log = fresh || now - it->second >= std::chrono::minutes(1);
      if (log) it->second = now;
      if (m_refusals_logged.size() > 1024) m_refusals_logged.clear();
      spdlog::log(log ? spdlog::level::info : spdlog::level::debug, "refused {} ({}): {}",
                  c->peer().to_string(), c->remote_addr().to_string(), verdict.error().message);
      for (auto& d : take_waiters(c.get()))
        d(verdict.error().code);
      c->abort(verdict.error().code);
      return;
    }
    c->set_admission(*verdict, e.remote_membership);
    if (*verdict == peer_class::guest) {
      // A guest is nobody's peer: no event, no identify from our side, no duplicate rule.
      ++m_metrics.guests_admitted;
      spdlog::debug("{} admitted as a guest (identify, ping and join only)", c->peer().to_string());
      for (auto& d : take_waiters(c.get()))
        d(c);
      return;
    }
  }
  // Two peers dialling each other at once end up with two connections; both sides close the
  // same one (dial::resolve_duplicate: the one dialled by the smaller id stays; of two dialled
  // by the same side, the older).
  bool peer_announced = false;
  for (auto& other : m_conns) {
    if (other == c || !other->established() || other->closing() || other->peer() != c->peer())
      continue;
    const bool keep_new =
        dial::resolve_duplicate(m_id, c->peer(), other->dir(), c->dir()) == dial::survivor::newer;
    std::shared_ptr<connection> loser = keep_new ? other : c;
    std::shared_ptr<connection> winner = keep_new ? c : other;
    spdlog::debug("duplicate connection to {}: closing the one dialled by {}",
                  c->peer().to_string(),
                  (loser->dir() == conn::direction::outbound ? m_id : loser->peer()).to_string());
    ++m_metrics.duplicates_closed;
    // Dials waiting on the loser get the winner.
    for (auto& d : take_waiters(loser.get()))
      d(winner);
    peer_announced = loser->announced();
    loser->close();
    if (loser == c) return;
    break;
  }
  // One peer_connected per peer: a winner replacing an announced loser is not news, nor is a
  // connection that comes up while an announced one is still closing. That happens when the
  // peer resolved a simultaneous dial first: its GoAway on the loser can be read here before
  // the winner's last handshake message, and the loser is then skipped above as closing.
  // When that one is gone, connection_closed sees this one announced: no peer_disconnected.
  c->set_announced();
  if (!peer_announced && !has_other_announced(*c)) {
    emit(peer_connected{c->peer(), c->remote_addr(), c->dir(), e.early_muxer});
  }
  for (auto& d : take_waiters(c.get()))
    d(c);
  run_identify(c);
}

void host::run_identify(const std::shared_ptr<connection>& c) {
  std::weak_ptr<connection> weak = c;
  c->open_stream(
      {std::string(identify::protocol_id)},
      make_identify_reader([this, weak](stream&, result<identify::info> r) {
        auto conn = weak.lock();
        if (!conn || conn->closed()) return;
        if (!r) {
          spdlog::debug("identify of {} failed: {}", conn->peer().to_string(), r.error().message());
          return;
        }
        identify_received(*conn, std::move(*r));
      }),
      [weak](std::error_code ec) {
        if (auto conn = weak.lock()) {
          spdlog::debug("identify stream to {} failed: {}", conn->peer().to_string(), ec.message());
        }
      });
}

void host::identify_received(connection& c, identify::info info) {
  if (!info.public_key.empty()) {
    auto key = multiformats::decode_public_key(info.public_key);
    if (!key || !c.peer().matches(*key)) {
      spdlog::warn("peer {} sent an identify record for another key; closing",
                   c.peer().to_string());
      c.abort(make_error_code(host_errc::identify_mismatch));
      return;
    }
  }
  c.set_identify_info(info);
  if (c.admitted_as() == peer_class::guest) return;  // a guest is nobody's peer
  emit(peer_identified{c.peer(), std::move(info)});
}

void host::connection_closed(const std::shared_ptr<connection>& c, std::error_code ec) {
  auto waiting = take_waiters(c.get());
  std::erase(m_conns, c);
  account_closed(*c, ec);
  // A member that broke a protocol (not one that merely went away) is scored for it.
  if (c->established() && ec && is_protocol_violation(ec)) {
    report_misbehaviour(c->peer(), abuse::offence::malformed);
  }
  for (auto& d : waiting)
    d(ec ? ec : make_error_code(host_errc::connection_closed));
  if (c->announced() && !has_other_announced(*c)) emit(peer_disconnected{c->peer(), ec});
  if (m_shutting_down && m_conns.empty() && m_shutdown_done) {
    auto f = std::move(m_shutdown_done);
    m_shutdown_done = nullptr;
    f();
  }
}

void host::report_misbehaviour(const multiformats::peer_id& peer, abuse::offence o,
                               std::uint32_t count) {
  if (peer == m_id || peer.empty()) return;
  ++m_metrics.misbehaviour_reports;
  const auto now = m_clock.now();
  const auto r = m_scores.report(peer, o, now, count);
  spdlog::debug("{} misbehaved ({}{}): score {:.0f}", peer.to_string(), abuse::name(o),
                count > 1 ? " x" + std::to_string(count) : std::string(), r.score);
  if (!r.banned_now) return;
  ++m_metrics.peers_banned;
  spdlog::warn("banned {} for {} s for misbehaviour (last: {}; ban {} in a day)", peer.to_string(),
               std::chrono::duration_cast<std::chrono::seconds>(r.banned_until - now).count(),
               abuse::name(o), r.bans);
  // Reporters call from inside their stream handlers: the connections close after they
  // return, not under their feet.
  boost::asio::post(m_ctx, [this, alive = m_alive, peer] {
    if (!*alive) return;
    const auto why = make_error_code(host_errc::banned);
    for (auto& c : std::vector(m_conns)) {
      if (c->established() && c->peer() == peer && !c->closed()) c->abort(why);
    }
  });
}

void host::account_closed(const connection& c, std::error_code ec) {
  const bool inbound = c.dir() == conn::direction::inbound;
  ++(inbound ? m_metrics.connections_closed_inbound : m_metrics.connections_closed_outbound);
  m_metrics.bytes_in += c.bytes_in();
  m_metrics.bytes_out += c.bytes_out();
  const bool violation = ec && is_protocol_violation(ec);
  if (violation) ++m_metrics.protocol_errors;
  const std::string who = c.established() ? c.peer().to_string() : c.remote_addr().to_string();
  if (!c.established()) {
    const auto cls = classify_handshake_failure(ec);
    m_metrics.count_handshake_failure(cls);
    spdlog::debug("{} handshake with {} failed ({}): {}", inbound ? "inbound" : "outbound", who,
                  to_string(cls), ec ? ec.message() : "closed by the peer");
    return;
  }
  if (!ec) {
    spdlog::debug("connection with {} closed", who);
    return;
  }
  ++m_metrics.connections_closed_by_error;
  if (violation) {
    spdlog::info("connection with {} closed: protocol error: {} ({})", who, ec.message(),
                 ec.category().name());
  } else {
    spdlog::info("connection with {} closed: {}", who, ec.message());
  }
}

void host::shutdown(std::function<void()> done, std::chrono::milliseconds grace) {
  m_shutting_down = true;
  for (auto& l : m_listeners) {
    boost::system::error_code ignored;
    l->acceptor.close(ignored);
  }
  if (m_conns.empty()) {
    done();
    return;
  }
  m_shutdown_done = std::move(done);
  for (auto& c : std::vector(m_conns))
    c->close();
  // A member timer, not a free-standing one capturing `this`: the host may be destroyed
  // before the grace period ends (every connection closed in time), and then nothing runs.
  m_shutdown_timer.schedule(grace, [this] {
    if (!m_shutdown_done) return;
    for (auto& c : std::vector(m_conns))
      c->abort({});
    if (m_shutdown_done) {
      auto f = std::move(m_shutdown_done);
      m_shutdown_done = nullptr;
      f();
    }
  });
}

identify::info make_identify_info(host& h, const connection& c) {
  identify::info i;
  i.public_key = multiformats::encode_public_key(h.identity().pub);
  for (auto& a : h.listen_addrs())
    i.listen_addrs.push_back(a.without_peer().to_bytes());
  i.protocols = h.protocols_for(c);
  i.observed_addr = c.remote_addr().to_bytes();
  i.protocol_version = "ipfs/0.1.0";
  i.agent_version = h.config().agent_version;
  return i;
}

}  // namespace starling::node
