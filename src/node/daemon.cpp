#include "node/daemon.hpp"

#include "node/data_control.hpp"

#include <sodium.h>

#include <cstring>

#include <net/if.h>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/mesh/addr_filter.hpp"
#include "io/clock.hpp"
#include "node/control.hpp"
#include "node/peer_store.hpp"
#include "node/pex_service.hpp"

namespace starling::node {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using json = nlohmann::json;

void apply_dead_peer_timeout(host_config& cfg, std::chrono::milliseconds dead_peer_timeout) {
  if (dead_peer_timeout.count() <= 0) {
    cfg.keepalive = 0ms;
    return;
  }
  // A ping every quarter of the time, and a reply later than half of it means dead: a peer
  // that goes silent right after a reply is noticed after three quarters of the time (the
  // next ping, then its timeout), one that goes silent just before a ping after half of it;
  // the last quarter is slack for a busy machine.
  cfg.keepalive = std::max<std::chrono::milliseconds>(dead_peer_timeout / 4, 50ms);
  cfg.keepalive_timeout = std::max<std::chrono::milliseconds>(dead_peer_timeout / 2, 50ms);
}

namespace {

std::string interface_name(std::uint32_t index) {
  char buf[IF_NAMESIZE] = {};
  if (::if_indextoname(index, buf) == nullptr) return "if" + std::to_string(index);
  return buf;
}

double seconds(clock_duration d) {
  return std::chrono::duration<double>(d).count();
}

const char* source_name(mesh::source s) {
  switch (s) {
    case mesh::source::mdns:
      return "mdns";
    case mesh::source::bootstrap:
      return "bootstrap";
    case mesh::source::pex:
      return "pex";
    case mesh::source::store:
      return "store";
    case mesh::source::identify:
      return "identify";
    case mesh::source::inbound:
      return "inbound";
  }
  return "?";
}

const char* state_name(mesh::peer_state s) {
  switch (s) {
    case mesh::peer_state::idle:
      return "idle";
    case mesh::peer_state::dialing:
      return "dialing";
    case mesh::peer_state::connected:
      return "connected";
    case mesh::peer_state::backoff:
      return "backoff";
  }
  return "?";
}

bool serves_pex(const identify::info& info) {
  return std::find(info.protocols.begin(), info.protocols.end(), pex::protocol_id) !=
         info.protocols.end();
}

}  // namespace

daemon::daemon(asio::io_context& ctx, const crypto::ed25519_keypair& id, daemon_config cfg)
    : m_ctx(ctx),
      m_cfg(std::move(cfg)),
      m_host(std::make_unique<host>(ctx, id, m_cfg.host)),
      m_mesh(m_cfg.mesh, m_host->id().to_string(), m_rng),
      m_timer(ctx),
      m_pex_timer(ctx),
      m_flush_timer(ctx),
      m_started_wall(std::chrono::system_clock::now()),
      m_started(io::now()) {}

daemon::~daemon() {
  *m_alive = false;
  if (m_membership) m_membership->on_access_changed({});
  m_data_control.reset();
  m_timer.cancel();
  m_pex_timer.cancel();
  m_flush_timer.cancel();
  m_host->on_event(nullptr);
  if (m_mdns) m_mdns->shutdown();
  if (m_control) m_control->stop();
}

detailed_result<std::unique_ptr<daemon>> daemon::start(asio::io_context& ctx,
                                                       const crypto::ed25519_keypair& id,
                                                       daemon_config cfg) {
  std::unique_ptr<daemon> d(new daemon(ctx, id, std::move(cfg)));
  if (auto r = d->init(); !r) return r.error();
  return d;
}

detailed_result<void> daemon::init() {
  const auto now = io::now();
  if (m_cfg.use_control_socket) {
    const auto path = control_socket_path(m_cfg.data_dir);
    auto c =
        control_server::start(m_ctx, path, [this](const json& req) { return handle_control(req); });
    if (!c) return detailed_error{c.error(), describe_control_error(c.error(), path)};
    m_control = std::move(*c);
  }
  for (auto& a : m_cfg.listen) {
    auto r = m_host->listen(a);
    if (!r)
      return detailed_error{r.error(),
                            "cannot listen on " + a.to_string() + ": " + r.error().message()};
  }
  // Before any connection can come (none is accepted until init returns to the loop).
  {
    auto m = membership::start(*m_host, m_cfg.data_dir, m_cfg.membership, [this] {
      std::vector<join_candidate> out;
      for (auto& k : m_mesh.peers())
        out.push_back({k.peer_id, k.addrs});
      return out;
    });
    if (!m) return m.error();
    m_membership = std::move(*m);
  }
  register_ping_service(*m_host);
  if (m_cfg.serve_perf) register_perf_service(*m_host, m_cfg.perf_limits);
  m_data = std::make_unique<data_service>(*m_host);
  // The network's access rules apply to every data operation, and changes apply at once.
  m_data->set_access(m_membership->access());
  m_membership->on_access_changed([d = m_data.get()] { d->access_changed(); });
  if (m_control) {
    m_data_control = std::make_unique<data_control>(*m_data, *m_control);
    // After data_control, which registers every session command: join is ours.
    m_control->set_session_handler(
        std::string(api::join_request::command),
        [this, alive = m_alive](const json& req, std::shared_ptr<control_session> s) {
          if (*alive) start_join(req, std::move(s));
        });
  }
  for (const auto& sc : m_cfg.storages) {
    auto st = storage::start(*m_data, m_ctx, sc, m_cfg.data_dir);
    if (!st)
      return detailed_error{make_error_code(std::errc::invalid_argument), st.error().message};
    spdlog::info("storage '{}': keep {} per key, {}", (*st)->expr(), sc.keep,
                 sc.backend == storage_backend::sqlite ? "sqlite" : "memory");
    m_storages.push_back(std::move(*st));
  }
  m_host->set_handler(
      std::string(pex::protocol_id),
      make_pex_server([this](const std::string& asker) { return pex_list(asker); }));
  m_host->on_event([this](const host_event& e) { on_host_event(e); });

  if (m_cfg.use_peer_store) {
    const auto path = m_cfg.data_dir / "peers.db";
    auto s = peer_store::open(path);
    if (!s) {
      // The node works without memory; say so once and carry on (the file is left alone).
      spdlog::warn("{}; running without a peer store", s.error().message);
    } else {
      m_store = std::move(*s);
      const auto unix_now =
          std::chrono::duration_cast<std::chrono::seconds>(m_started_wall.time_since_epoch())
              .count();
      if (auto p = m_store->prune(m_cfg.mesh.max_known_peers, unix_now, 30 * 24 * 3600); !p) {
        spdlog::warn("{}", p.error().message);
      }
      if (auto peers = m_store->load(m_cfg.mesh.max_known_peers)) {
        for (auto& sp : *peers) {
          if (sp.peer_id == m_host->id().to_string() || sp.addrs.empty()) continue;
          m_mesh.discovered(sp.peer_id, sp.addrs, mesh::source::store, now);
        }
        if (!peers->empty()) spdlog::info("peer store: {} known peers", peers->size());
      } else {
        spdlog::warn("{}", peers.error().message);
      }
    }
  }
  for (auto& b : m_cfg.bootstrap) {
    if (auto r = m_mesh.add_bootstrap(b, now); !r)
      return detailed_error{r.error(), "bad bootstrap address " + b + ": " + r.error().message()};
  }
  if (m_cfg.mdns && mesh::loopback_only(m_cfg.listen) && m_cfg.mdns_opts.interfaces.empty()) {
    // Nothing to announce that a LAN could reach, and a loopback-only node is usually a test
    // or a local tool: stay off the LAN unless interfaces are named.
    spdlog::info("mdns: off (listening on loopback only; name an --interface to discover anyway)");
  } else if (m_cfg.mdns) {
    mdns_service::callbacks cb;
    cb.discovered = [this](const mdns::peer_discovered& ev) {
      if (log_discovery(io::now())) {
        spdlog::info("discovered {} via mdns on {}: {} addresses", ev.peer_id,
                     interface_name(ev.interface_index), ev.addrs.size());
      } else {
        spdlog::debug("discovered {} via mdns on {}: {} addresses", ev.peer_id,
                      interface_name(ev.interface_index), ev.addrs.size());
      }
      m_mesh.discovered(ev.peer_id, ev.addrs, mesh::source::mdns, io::now());
      pump();
    };
    cb.expired = [this](const mdns::peer_expired& ev) {
      spdlog::debug("mdns: {} gone from {}", ev.peer_id, interface_name(ev.interface_index));
      m_mesh.lost(ev.peer_id, mesh::source::mdns, io::now());
      pump();
    };
    cb.seen = [this](const std::string& peer, std::uint32_t) {
      m_mesh.discovered(peer, {}, mesh::source::mdns, io::now());
      pump();
    };
    auto m = mdns_service::start(*m_host, m_cfg.mdns_opts, std::move(cb));
    if (!m) {
      return detailed_error{m.error(), "cannot start mDNS: " + m.error().message() +
                                           " (use --no-mdns to run without it)"};
    }
    m_mdns = std::move(*m);
    auto names = m_mdns->interfaces();
    std::string joined;
    for (auto& n : names)
      joined += (joined.empty() ? "" : ",") + n;
    spdlog::info("mdns: running on {}", joined.empty() ? "no interface yet" : joined);
  } else {
    spdlog::info("mdns: off");
  }
  if (!m_cfg.pex_initial.empty()) {
    schedule_pex(m_cfg.pex_initial.front());
  } else {
    schedule_pex(m_cfg.pex_interval);
  }
  schedule_flush();
  pump();
  return {};
}

bool daemon::log_discovery(time_point now) {
  // A LAN has a handful of new peers at a time; a flood of fake announcements must not turn
  // into a flood of log lines. Past the budget, one summary line per window.
  constexpr auto window = std::chrono::seconds(10);
  constexpr std::size_t budget = 16;
  if (now - m_discovery_window_start >= window) {
    if (m_discoveries_unlogged > 0) {
      spdlog::info(
          "mdns: {} more peers discovered in the last {} s (not logged one by one)",
          m_discoveries_unlogged,
          std::chrono::duration_cast<std::chrono::seconds>(now - m_discovery_window_start).count());
    }
    m_discovery_window_start = now;
    m_discoveries_logged = 0;
    m_discoveries_unlogged = 0;
  }
  if (m_discoveries_logged < budget) {
    ++m_discoveries_logged;
    return true;
  }
  ++m_discoveries_unlogged;
  return false;
}

std::vector<std::string> daemon::mdns_interfaces() const {
  return m_mdns ? m_mdns->interfaces() : std::vector<std::string>{};
}

// --- the mesh manager's clock and dials ---------------------------------------------------

void daemon::pump() {
  if (m_shutting_down) return;
  const auto now = io::now();
  if (m_mesh.next_deadline() <= now) m_mesh.on_deadline(now);
  while (auto req = m_mesh.poll_dial(now))
    start_dial(std::move(*req));
  arm_timer();
}

void daemon::arm_timer() {
  const auto at = m_mesh.next_deadline();
  if (at == m_timer_at) return;
  m_timer_at = at;
  if (at == no_deadline) {
    m_timer.cancel();
    return;
  }
  m_timer.schedule_at(at, [this] {
    m_timer_at = no_deadline;
    pump();
  });
}

void daemon::start_dial(mesh::dial_request req) {
  std::optional<multiformats::peer_id> expected;
  if (!req.peer_id.empty()) {
    auto p = multiformats::peer_id::parse(req.peer_id);
    if (!p) {
      m_mesh.dial_finished(req.dial_id, result<std::string>(p.error()), io::now());
      return;
    }
    expected = *p;
  }
  std::vector<multiformats::multiaddr> addrs;
  for (auto& text : req.addrs) {
    if (auto a = multiformats::multiaddr::parse(text)) {
      if (!expected) expected = a->peer();  // a bootstrap address may carry the id
      addrs.push_back(a->without_peer());
    }
  }
  spdlog::debug("dialling {} at {} addresses",
                req.peer_id.empty() ? req.addrs.front() : req.peer_id, addrs.size());
  m_host->dial_any(expected, std::move(addrs), m_cfg.dial_attempt_timeout,
                   [this, alive = m_alive, id = req.dial_id,
                    peer = req.peer_id](result<std::shared_ptr<connection>> r) {
                     if (!*alive) return;
                     // dial_any may answer at once (reused connection): never re-enter pump().
                     asio::post(m_ctx, [this, alive, id, peer, r = std::move(r)] {
                       if (!*alive || m_shutting_down) return;
                       if (r && (*r)->peer() == m_host->id()) {
                         // A bootstrap address without an id that turned out to be us.
                         (*r)->close();
                         m_mesh.dial_finished(id, (*r)->peer().to_string(), io::now());
                       } else if (r && (*r)->closed()) {
                         // Gone before this ran: the manager must not think it connected.
                         m_mesh.dial_finished(
                             id, result<std::string>(make_error_code(host_errc::connection_closed)),
                             io::now());
                       } else if (r) {
                         m_mesh.dial_finished(id, (*r)->peer().to_string(), io::now());
                       } else {
                         spdlog::debug("dial {} failed: {}", peer, r.error().message());
                         m_mesh.dial_finished(id, result<std::string>(r.error()), io::now());
                       }
                       if (!peer.empty()) mark_dirty(peer);
                       pump();
                     });
                   });
}

// --- host events ------------------------------------------------------------------------

std::shared_ptr<connection> daemon::connection_to(const std::string& peer_id) const {
  for (auto& c : m_host->connections()) {
    if (c->established() && !c->closing() && c->peer().to_string() == peer_id) return c;
  }
  return nullptr;
}

std::vector<std::string> daemon::useful_addrs(const connection& c,
                                              const identify::info& info) const {
  std::vector<multiformats::multiaddr> advertised;
  for (auto& raw : info.listen_addrs) {
    if (auto a = multiformats::multiaddr::from_bytes(raw)) advertised.push_back(std::move(*a));
  }
  std::optional<multiformats::multiaddr> dialled;
  if (c.dir() == conn::direction::outbound) dialled = c.remote_addr();
  return mesh::useful_peer_addrs(dialled, advertised, c.remote_addr().is_loopback());
}

void daemon::on_host_event(const host_event& e) {
  const auto now = io::now();
  std::visit(
      [&](const auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, peer_connected>) {
          spdlog::info("connected {} {} via {}{}",
                       ev.dir == conn::direction::inbound ? "from" : "to", ev.peer.to_string(),
                       ev.addr.to_string(), ev.early_muxer ? " (early muxer)" : "");
          m_mesh.connected(ev.peer.to_string(), now);
          mark_dirty(ev.peer.to_string());
        } else if constexpr (std::is_same_v<T, peer_identified>) {
          spdlog::info("identified {}: agent '{}', {} protocols, {} addresses", ev.peer.to_string(),
                       ev.info.agent_version, ev.info.protocols.size(),
                       ev.info.listen_addrs.size());
          const auto id = ev.peer.to_string();
          if (auto c = connection_to(id)) {
            auto addrs = useful_addrs(*c, ev.info);
            if (!addrs.empty()) m_mesh.discovered(id, addrs, mesh::source::identify, now);
            // Ask once per connection, when identify first shows pex (a push repeats it).
            if (serves_pex(ev.info) && first_pex_ask(c)) ask_pex(c);
            if (m_data) m_data->on_identified(c, ev.info);
          }
          mark_dirty(id);
        } else if constexpr (std::is_same_v<T, peer_disconnected>) {
          spdlog::info("disconnected {}{}", ev.peer.to_string(),
                       ev.reason ? ": " + ev.reason.message() : std::string());
          m_mesh.disconnected(ev.peer.to_string(), now);
          mark_dirty(ev.peer.to_string());
        } else {
          spdlog::debug("connection to {} failed: {}", ev.addr.to_string(), ev.reason.message());
        }
      },
      e);
  pump();
}

// --- peer exchange ------------------------------------------------------------------------

bool daemon::first_pex_ask(const std::shared_ptr<connection>& c) {
  std::erase_if(m_pex_asked, [](const std::weak_ptr<connection>& w) { return w.expired(); });
  for (auto& w : m_pex_asked) {
    if (w.lock() == c) return false;
  }
  m_pex_asked.push_back(c);
  return true;
}

void daemon::ask_pex(const std::shared_ptr<connection>& c) {
  const std::string from = c->peer().to_string();
  c->open_stream(
      {std::string(pex::protocol_id)},
      make_pex_client(*m_host, pex::answer_timeout,
                      [this, alive = m_alive, from](result<std::vector<pex::peer_record>> r) {
                        if (!*alive || m_shutting_down) return;
                        if (!r) {
                          spdlog::debug("peer exchange with {} failed: {}", from,
                                        r.error().message());
                          return;
                        }
                        const auto now = io::now();
                        const auto self = m_host->id().to_string();
                        std::size_t fresh = 0;
                        for (auto& rec : *r) {
                          if (rec.peer_id == self || rec.addrs.empty()) continue;
                          if (!m_mesh.find(rec.peer_id)) ++fresh;
                          m_mesh.discovered(rec.peer_id, rec.addrs, mesh::source::pex, now);
                        }
                        if (fresh > 0)
                          spdlog::info("learned {} new peers from {} (peer exchange)", fresh, from);
                        pump();
                      }),
      [from](std::error_code ec) {
        spdlog::debug("peer exchange stream to {} failed: {}", from, ec.message());
      });
}

std::vector<pex::peer_record> daemon::pex_list(const std::string& asker) const {
  // Every connected peer with the addresses we know for it; the pex server removes the asker
  // and loopback addresses (unless the asker is on loopback) itself.
  std::vector<pex::peer_record> out;
  std::set<std::string> listed;
  for (auto& c : m_host->connections()) {
    if (!c->established() || c->closing()) continue;
    auto id = c->peer().to_string();
    if (id == asker || !listed.insert(id).second) continue;
    if (const auto* k = m_mesh.find(id); k && !k->addrs.empty()) out.push_back({id, k->addrs});
  }
  return out;
}

void daemon::schedule_pex(std::chrono::milliseconds after) {
  m_pex_timer.schedule(after, [this] { pex_round(); });
}

void daemon::pex_round() {
  if (m_shutting_down) return;
  for (auto& c : m_host->connections()) {
    if (!c->established() || c->closing() || !c->identify_info() ||
        !serves_pex(*c->identify_info()))
      continue;
    ask_pex(c);
  }
  ++m_pex_step;
  if (m_pex_step < m_cfg.pex_initial.size()) {
    schedule_pex(m_cfg.pex_initial[m_pex_step] - m_cfg.pex_initial[m_pex_step - 1]);
  } else {
    schedule_pex(m_cfg.pex_interval);
  }
}

// --- the peer store -----------------------------------------------------------------------

void daemon::mark_dirty(const std::string& peer_id) {
  if (m_store) m_dirty.insert(peer_id);
}

void daemon::schedule_flush() {
  if (!m_store) return;
  m_flush_timer.schedule(m_cfg.store_flush_interval, [this] {
    flush_store();
    schedule_flush();
  });
}

void daemon::flush_store() {
  if (!m_store || m_dirty.empty()) return;
  const auto now = io::now();
  const auto wall = std::chrono::system_clock::now();
  auto unix_at = [&](time_point tp) -> std::int64_t {
    if (tp == time_point{}) return 0;
    const auto at =
        wall - std::chrono::duration_cast<std::chrono::system_clock::duration>(now - tp);
    return std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count();
  };
  std::vector<stored_peer> batch;
  for (auto& id : m_dirty) {
    const auto* k = m_mesh.find(id);
    if (!k) {
      if (auto r = m_store->forget(id); !r) spdlog::debug("{}", r.error().message);
      continue;
    }
    if (k->addrs.empty()) continue;
    stored_peer sp;
    sp.peer_id = k->peer_id;
    sp.addrs = k->addrs;
    sp.last_seen = unix_at(k->last_seen);
    sp.last_connected = unix_at(k->last_connected);
    sp.failures = k->failures;
    sp.sources = k->sources;
    batch.push_back(std::move(sp));
  }
  m_dirty.clear();
  if (batch.empty()) return;
  if (auto r = m_store->save(batch); !r) spdlog::warn("{}", r.error().message);
}

// --- shutdown -----------------------------------------------------------------------------

void daemon::shutdown(std::function<void()> done) {
  if (m_shutting_down) return;
  m_shutting_down = true;
  m_timer.cancel();
  m_pex_timer.cancel();
  m_flush_timer.cancel();
  if (m_mdns) m_mdns->shutdown();  // goodbye: peers forget us at once
  // Everyone still connected was seen just now.
  for (auto& c : m_host->connections()) {
    if (c->established()) mark_dirty(c->peer().to_string());
  }
  flush_store();
  for (auto& st : m_storages)
    st->flush();
  m_host->shutdown([this, alive = m_alive, done = std::move(done)] {
    if (*alive) {
      flush_store();
      if (m_control) m_control->stop();
    }
    done();
  });
}

// --- the control socket ----------------------------------------------------------------------

json daemon::handle_control(const json& request) {
  auto req = api::parse_request(request);
  if (!req) return api::to_json(api::refusal{std::move(req.error().message)});
  return std::visit(
      [this](const auto& r) -> json {
        using T = std::decay_t<decltype(r)>;
        if constexpr (T::opens_session) {
          // control_server hands session commands to data_control; one arrives here only
          // when nothing registered them.
          return api::to_json(api::refusal{"the data layer is not running"});
        } else {
          return api::to_json(answer(r));
        }
      },
      *req);
}

api::ack daemon::answer(const api::put_request& r) {
  if (!m_data_control) return api::refusal{"the data layer is not running"};
  return m_data_control->put(r);
}

api::ack daemon::answer(const api::del_request& r) {
  if (!m_data_control) return api::refusal{"the data layer is not running"};
  return m_data_control->del(r);
}

api::peers_response daemon::answer(const api::peers_request&) const {
  const auto now = io::now();
  const auto wall = std::chrono::system_clock::now();
  api::peers_response out;
  std::set<std::string> seen;
  for (auto& c : m_host->connections()) {
    if (!c->established() || c->closing()) continue;
    auto id = c->peer().to_string();
    if (!seen.insert(id).second) continue;
    const auto age = now - c->since();
    api::peer_info p;
    p.id = std::move(id);
    p.addr = c->remote_addr().to_string();
    p.inbound = c->dir() == conn::direction::inbound;
    if (c->rtt().count() > 0)
      p.rtt_ms = std::chrono::duration<double, std::milli>(c->rtt()).count();
    p.since = std::chrono::duration<double>(wall.time_since_epoch()).count() - seconds(age);
    p.connected_seconds = seconds(age);
    p.bytes_in = c->bytes_in();
    p.bytes_out = c->bytes_out();
    p.agent = c->identify_info() ? c->identify_info()->agent_version : std::string();
    out.peers.push_back(std::move(p));
  }
  return out;
}

api::known_response daemon::answer(const api::known_request&) const {
  const auto now = io::now();
  api::known_response out;
  for (auto& k : m_mesh.peers()) {
    api::known_peer_info p;
    p.id = k.peer_id;
    p.addrs = k.addrs;
    for (auto s : {mesh::source::bootstrap, mesh::source::mdns, mesh::source::pex,
                   mesh::source::store, mesh::source::identify, mesh::source::inbound}) {
      if (k.sources & mesh::bit(s)) p.sources.push_back(source_name(s));
    }
    p.state = state_name(k.state);
    p.failures = k.failures;
    if (k.last_seen != time_point{}) p.last_seen_seconds_ago = seconds(now - k.last_seen);
    if (k.state == mesh::peer_state::backoff || k.state == mesh::peer_state::idle) {
      p.next_dial_in_ms = std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(k.next_attempt - now).count());
    }
    out.known.push_back(std::move(p));
  }
  return out;
}

namespace {
api::network_response to_api(const network_view& v) {
  return api::network_response{v.network_id, v.name, v.roles, v.owner, v.log_height};
}
}  // namespace

api::network_answer daemon::answer(const api::network_create_request& r) {
  auto n = m_membership->create_network(r.name);
  if (!n) return api::refusal{n.error().message};
  return to_api(*n);
}

api::invite_answer daemon::answer(const api::invite_request& r) {
  auto code = m_membership->invite(r.role, std::chrono::seconds(r.expires_s));
  if (!code) return api::refusal{code.error().message};
  return api::invite_response{*code, r.role, r.expires_s};
}

api::members_response daemon::answer(const api::members_request&) const {
  api::members_response out;
  if (auto n = m_membership->network()) out.network = to_api(*n);
  for (auto& m : m_membership->members()) {
    out.members.push_back(
        api::member_info{m.peer_id, m.roles, m.admin, m.owner, m.revoked, m.connected, m.self});
  }
  return out;
}

api::ack daemon::answer(const api::revoke_request& r) {
  if (auto ok = m_membership->revoke(r.peer); !ok) return api::refusal{ok.error().message};
  return api::ok_response{};
}

api::ack daemon::answer(const api::role_request& r) {
  if (auto ok = m_membership->set_roles(r.peer, r.roles); !ok)
    return api::refusal{ok.error().message};
  return api::ok_response{};
}

api::acl_answer daemon::answer(const api::acl_show_request&) const {
  if (!m_membership->has_network()) {
    return api::refusal{"this node belongs to no network: it admits every peer, with no rules"};
  }
  api::acl_response out;
  if (const bytes* t = m_membership->policy_text()) {
    out.is_default = false;
    out.version = m_membership->log()->state().policy_version;
    out.text.assign(t->begin(), t->end());
  }
  return out;
}

api::acl_answer daemon::answer(const api::acl_set_request& r) {
  auto v = m_membership->set_policy(r.text);
  if (!v) return api::refusal{v.error().message};
  return answer(api::acl_show_request{});
}

api::explain_answer daemon::answer(const api::acl_explain_request& r) const {
  auto e = m_membership->explain(r.peer, r.op, r.key);
  if (!e) return api::refusal{e.error().message};
  return api::explain_response{*e};
}

void daemon::start_join(const json& request, std::shared_ptr<control_session> s) {
  auto req = api::parse_request(request);
  const auto* j = req ? std::get_if<api::join_request>(&*req) : nullptr;
  if (!j) {
    s->send(api::to_json(api::refusal{req ? "not a join request" : req.error().message}));
    s->close();
    return;
  }
  m_membership->join(j->code, j->peers, [s](detailed_result<network_view> r) {
    if (r)
      s->send(api::to_json(to_api(*r)));
    else
      s->send(api::to_json(api::refusal{r.error().message}));
    s->close();
  });
}

api::status_response daemon::answer(const api::status_request&) const {
  api::status_response out;
  if (auto n = m_membership->network()) out.network = to_api(*n);
  out.id = m_host->id().to_string();
  out.agent = m_host->config().agent_version;
  out.uptime_seconds = seconds(io::now() - m_started);
  out.data_dir = m_cfg.data_dir.string();
  for (auto& a : m_host->listen_addrs())
    out.listen.push_back(a.to_string());
  out.connected_peers = m_mesh.connected_count();
  out.known_peers = m_mesh.peers().size();
  for (auto& c : m_host->connections())
    out.connections += c->established() && !c->closing() ? 1 : 0;
  out.mdns.enabled = m_mdns != nullptr;
  out.mdns.interfaces = mdns_interfaces();
  if (m_mdns) out.mdns.stats = m_mdns->stats();
  const auto& engine = m_data->engine();
  out.data.links = m_data->links().size();
  out.data.nodes = engine.routes().size();
  out.data.samples_held = engine.held_samples();
  out.data.implicit_publishers = engine.usage().implicit_publishers;
  out.data.stats = engine.stats();
  for (const auto& st : m_storages) {
    const auto& c = st->contents();
    out.storages.push_back(api::storage_status{st->expr(), c.keys(), c.bytes_used(),
                                               c.stats().stored, c.stats().stale, c.stats().refused,
                                               c.stats().evicted_keys, st->queries()});
  }
  out.counters = m_host->metrics();
  return out;
}

}  // namespace starling::node
