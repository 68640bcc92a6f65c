#include "runtime.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>
#include <future>
#include <unordered_map>
#include <utility>

#include "node/data_dir.hpp"
#include "node/services.hpp"
#include "runtime_net.hpp"

namespace starling::lib {

using namespace detail;

// ---- sample_queue ----

void sample_queue::push(sample&& s) {
  {
    std::lock_guard lk(m_mu);
    if (m_closed) return;
    if (m_items.size() >= m_capacity) {
      m_items.pop_front();
      ++m_dropped;
    }
    m_items.push_back(std::move(s));
  }
  m_cv.notify_one();
}

std::optional<sample> sample_queue::try_pop() {
  std::lock_guard lk(m_mu);
  if (m_items.empty()) return std::nullopt;
  sample s = std::move(m_items.front());
  m_items.pop_front();
  return s;
}

status sample_queue::wait_pop(std::chrono::milliseconds timeout, std::optional<sample>& out) {
  std::unique_lock lk(m_mu);
  m_cv.wait_for(lk, timeout, [this] { return !m_items.empty() || m_closed; });
  if (!m_items.empty()) {
    out = std::move(m_items.front());
    m_items.pop_front();
    return std::nullopt;
  }
  if (m_closed) return runtime::closed_error();
  return error(errc::timeout, "no sample within " + std::to_string(timeout.count()) + " ms");
}

void sample_queue::close() {
  {
    std::lock_guard lk(m_mu);
    m_closed = true;
  }
  m_cv.notify_all();
}

std::uint64_t sample_queue::dropped() const {
  std::lock_guard lk(m_mu);
  return m_dropped;
}

namespace {

void setup_logging(const std::string& level) {
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::get("starling");
    if (!logger) logger = spdlog::stderr_color_mt("starling");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%H:%M:%S.%e starling %^%l%$ %v");
  });
  spdlog::set_level(spdlog::level::from_str(level));
}

status bad_multiaddr(std::string_view what, std::string_view text, const std::string& why) {
  return error(errc::invalid_argument,
               std::string(what) + " '" + std::string(text) + "' is not " + why);
}

/// Parses a TCP multiaddr for `what` ("listen address", "address").
status parse_tcp(std::string_view what, std::string_view text, multiformats::multiaddr& out) {
  auto a = multiformats::multiaddr::parse(text);
  if (!a) return bad_multiaddr(what, text, "a multiaddr: " + a.error().message());
  if (!a->tcp_endpoint()) return bad_multiaddr(what, text, "a /ip4|ip6/ADDRESS/tcp/PORT address");
  out = *a;
  return std::nullopt;
}

}  // namespace

// ---- runtime ----

runtime::runtime() : m_net(std::make_unique<net>()) {}

runtime::~runtime() {
  close();
}

error runtime::closed_error() {
  return error(errc::closed, "the session is closed");
}

error runtime::would_block_error(const char* what) {
  return error(errc::would_block, std::string(what) +
                                      " waits, and cannot be called on the network thread "
                                      "(from a handler)");
}

std::shared_ptr<runtime> runtime::start(const runtime_options& o, status& err) {
  err.reset();
  setup_logging(o.log_level);
  if (!crypto::init()) {
    err = error(errc::io, "libsodium cannot be initialised");
    return nullptr;
  }
  // Everything that can be checked before a thread starts.
  std::vector<multiformats::multiaddr> listen;
  for (const auto& text : o.listen) {
    multiformats::multiaddr a;
    if ((err = parse_tcp("listen address", text, a))) return nullptr;
    listen.push_back(a);
  }
  for (const auto& text : o.connect) {
    multiformats::multiaddr a;
    if ((err = parse_tcp("connect address", text, a))) return nullptr;
  }
  if (o.connect_timeout <= 0ms) {
    err = error(errc::invalid_argument, "connect_timeout must be positive");
    return nullptr;
  }
  crypto::system_rng rng;
  crypto::ed25519_keypair identity;
  if (!o.data_dir.empty()) {
    auto id = node::load_or_create_identity(o.data_dir, rng);
    if (!id) {
      err = error(errc::identity, id.error().message);
      return nullptr;
    }
    identity = *id;
  } else {
    identity = crypto::ed25519_generate(rng);
  }

  std::shared_ptr<runtime> rt(new runtime());
  rt->m_connect_timeout = o.connect_timeout;
  rt->m_peer_id = multiformats::peer_id::from_public_key(identity.pub).to_string();
  rt->m_thread = std::thread([raw = rt.get()] { raw->thread_main(); });
  rt->m_thread_id = rt->m_thread.get_id();

  rt->run([&] {
    net& n = *rt->m_net;
    node::host_config cfg;
    cfg.dial_timeout = o.connect_timeout;
    n.host = std::make_unique<node::host>(n.ctx, identity, cfg);
    n.svc = std::make_unique<node::data_service>(*n.host);
    n.svc->set_writable_handler([raw = rt.get()] {
      {
        std::lock_guard lk(raw->m_room_mu);
        ++raw->m_room_gen;
      }
      raw->m_room_cv.notify_all();
    });
    n.wire();
    for (const auto& a : listen) {
      auto bound = n.host->listen(a);
      if (!bound) {
        err = error(errc::io, "cannot listen on " + a.to_string() + ": " + bound.error().message());
        return;
      }
    }
    if (!o.data_dir.empty()) {
      auto m = node::membership::start(*n.host, o.data_dir, {});
      if (!m) {
        err = error(errc::io, m.error().message);
        return;
      }
      n.membership = std::move(*m);
      n.svc->set_access(n.membership->access());
      n.membership->on_access_changed([svc = n.svc.get()] { svc->access_changed(); });
    }
    if (o.mdns) {
      node::mdns_options mo;
      mo.interfaces = o.mdns_interfaces;
      node::mdns_service::callbacks cb;
      cb.discovered = [&n](const mdns::peer_discovered& d) { n.discovered(d); };
      auto m = node::mdns_service::start(*n.host, std::move(mo), std::move(cb));
      if (!m) {
        err = error(errc::io, "cannot start mDNS: " + m.error().message());
        return;
      }
      n.mdns = std::move(*m);
    }
  });
  for (const auto& text : o.connect) {
    if (err) break;
    err = rt->connect(text);
  }
  if (err) {
    rt->close();
    return nullptr;
  }
  return rt;
}

void runtime::thread_main() {
  net& n = *m_net;
  n.ctx.run();
  // The node is torn down on its own thread, after the io_context stopped (as the benchmarks
  // and `starling node` do): no handler of its runs any more.
  n.mdns.reset();
  n.svc.reset();         // it refers to the membership's access guard
  n.membership.reset();  // it refers to the host
  n.host.reset();
  // Gets still running end now (their handlers run here, on the network thread, as always).
  auto gets = std::move(n.gets);
  for (auto& entry : gets) {
    get_done d;
    d.reason = get_end::closed;
    auto& g = *entry.second;
    guarded("get", [&] { g.on_done(d); });
  }
  gets.clear();
  std::vector<std::weak_ptr<sample_queue>> queues;
  std::shared_ptr<runtime> keep;
  {
    std::lock_guard lk(m_mu);
    queues.swap(m_queues);
    keep = std::move(m_keep);
  }
  for (auto& w : queues) {
    if (auto q = w.lock()) q->close();
  }
  // `keep` (set when close() ran on this thread) may be the last owner: the runtime is then
  // destroyed here, with its thread already detached.
}

bool runtime::closed() const {
  std::lock_guard lk(m_mu);
  return m_closing;
}

void runtime::close() {
  {
    std::lock_guard lk(m_mu);
    if (m_closing) return;
    m_closing = true;
    if (!m_thread.joinable()) return;
    if (on_network_thread()) m_keep = shared_from_this();
  }
  {
    std::lock_guard lk(m_room_mu);
    ++m_room_gen;
  }
  m_room_cv.notify_all();
  // Posted after every call that run() posted before m_closing was set, so those run first.
  asio::post(m_net->ctx, [this] {
    net& n = *m_net;
    if (n.mdns) n.mdns->shutdown();
    if (!n.host) return n.ctx.stop();
    n.host->shutdown([this] { m_net->ctx.stop(); }, 500ms);
  });
  if (on_network_thread()) {
    m_thread.detach();
  } else {
    m_thread.join();
  }
}

bool runtime::run(const std::function<void()>& fn) {
  if (on_network_thread()) {
    if (!m_net->svc) return false;
    fn();
    return true;
  }
  std::promise<void> done;
  auto f = done.get_future();
  {
    std::lock_guard lk(m_mu);
    if (m_closing) return false;
    asio::post(m_net->ctx, [&] {
      fn();
      done.set_value();
    });
  }
  f.wait();
  return true;
}

std::vector<std::string> runtime::listen_addrs() {
  std::vector<std::string> out;
  run([&] {
    for (const auto& a : m_net->host->listen_addrs())
      out.push_back(a.to_string());
  });
  return out;
}

std::vector<std::string> runtime::peers() {
  std::vector<std::string> out;
  run([&] {
    for (const auto& c : m_net->host->connections()) {
      if (!c->established() || c->closing()) continue;
      auto id = c->peer().to_string();
      if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(std::move(id));
    }
  });
  return out;
}

status runtime::connect(std::string_view text) {
  multiformats::multiaddr a;
  if (auto e = parse_tcp("address", text, a)) return e;
  if (on_network_thread()) return would_block_error("connect()");
  auto outcome = std::make_shared<std::promise<status>>();
  auto f = outcome->get_future();
  const bool ran = run([&] {
    m_net->host->dial(a, [outcome, a](result<std::shared_ptr<node::connection>> r) {
      if (r) return outcome->set_value(std::nullopt);
      outcome->set_value(
          error(errc::io, "cannot connect to " + a.to_string() + ": " + r.error().message()));
    });
  });
  if (!ran) return closed_error();
  // The host bounds the dial by connect_timeout; the margin covers a dial that is cut short
  // by the session closing meanwhile.
  if (f.wait_for(m_connect_timeout + 1s) != std::future_status::ready) {
    return error(errc::timeout, "cannot connect to " + std::string(text) + ": no answer within " +
                                    std::to_string(m_connect_timeout.count()) + " ms");
  }
  return f.get();
}

status runtime::check_key(std::string_view key) {
  auto k = keyexpr::key::parse(key);
  if (!k) {
    return error(errc::invalid_argument,
                 "bad key '" + std::string(key) + "': " + k.error().message());
  }
  return std::nullopt;
}

status runtime::put(std::string_view key, std::span<const std::byte> payload,
                    std::string_view encoding, bool del) {
  if (auto e = check_key(key)) return e;
  if (auto e = payload_limit(payload.size())) return e;
  if (auto e = encoding_limit(encoding)) return e;
  status out;
  const bool ran = run([&] {
    bytes_view bytes(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
    auto r = m_net->svc->put(key, bytes, encoding, del);
    if (!r)
      out = error(errc::refused,
                  "cannot publish on " + std::string(key) + ": " + r.error().message());
  });
  if (!ran) return closed_error();
  return out;
}

status runtime::declare_publisher(std::string_view key, const publisher_options& o,
                                  std::uint64_t& id) {
  if (auto e = check_key(key)) return e;
  if (auto e = encoding_limit(o.encoding)) return e;
  data::publisher_options d;
  d.reliable = o.reliable;
  d.encoding = o.encoding;
  d.prio = static_cast<data::priority>(static_cast<int>(o.priority));
  d.congestion = o.congestion == congestion_control::drop ? data::congestion_control::drop
                                                          : data::congestion_control::block;
  d.express = o.express;
  status out;
  const bool ran = run([&] {
    auto r = m_net->svc->declare_publisher(key, d);
    if (!r) {
      out = data_error(r.error(), "cannot declare a publisher on " + std::string(key));
    } else {
      id = *r;
    }
  });
  if (!ran) return closed_error();
  return out;
}

void runtime::undeclare_publisher(std::uint64_t id) {
  run([&] { m_net->svc->undeclare_publisher(id); });
}

status runtime::put(std::uint64_t id, const std::string& key, std::span<const std::byte> payload,
                    bool del) {
  if (auto e = payload_limit(payload.size())) return e;
  const auto deadline = std::chrono::steady_clock::now() + max_block;
  for (;;) {
    std::uint64_t gen = 0;
    {
      std::lock_guard lk(m_room_mu);
      gen = m_room_gen;
    }
    status out;
    bool blocked = false;
    const bool ran = run([&] {
      auto r = m_net->svc->put(id, as_view(payload), del);
      if (!r && r.error() == data::engine_errc::would_block) {
        blocked = true;
      } else if (!r) {
        out = data_error(r.error(), "cannot publish on " + key);
      }
    });
    if (!ran) return closed_error();
    if (!blocked) return out;
    if (on_network_thread()) {
      return error(errc::would_block, "cannot publish on " + key +
                                          " now: a link is congested, and put() cannot wait "
                                          "for room on the network thread (from a handler)");
    }
    // Wait for a data stream to drain (the writable handler), re-checking now and then in
    // case room came without one.
    std::unique_lock lk(m_room_mu);
    const auto until = std::min(deadline, std::chrono::steady_clock::now() + 100ms);
    m_room_cv.wait_until(lk, until, [&] { return m_room_gen != gen; });
    if (std::chrono::steady_clock::now() >= deadline) {
      return error(errc::timeout, "cannot publish on " + key + ": a link stayed congested for " +
                                      std::to_string(max_block.count()) + " s");
    }
  }
}

status runtime::subscribe(std::string_view expr, std::function<void(const sample&)> fn,
                          std::uint64_t& id, std::string& canonical) {
  return subscribe_owned(
      expr, [fn = std::move(fn)](sample&& s) { fn(s); }, id, canonical);
}

status runtime::subscribe_owned(std::string_view expr, std::function<void(sample&&)> fn,
                                std::uint64_t& id, std::string& canonical) {
  if (auto e = parse_expr(expr, canonical)) return e;
  status out;
  const bool ran = run([&] {
    auto r = m_net->svc->subscribe(canonical, [this, fn = std::move(fn)](const data::sample& s) {
      sample owned = m_net->convert(s);
      try {
        fn(std::move(owned));
      } catch (const std::exception& ex) {
        spdlog::error("a subscriber handler threw (ignored): {}", ex.what());
      } catch (...) {
        spdlog::error("a subscriber handler threw (ignored)");
      }
    });
    if (!r) {
      out = error(errc::refused, "cannot subscribe to " + canonical + ": " + r.error().message());
    } else {
      id = *r;
    }
  });
  if (!ran) return closed_error();
  return out;
}

status runtime::subscribe(std::string_view expr, const std::shared_ptr<sample_queue>& queue,
                          std::uint64_t& id, std::string& canonical) {
  {
    std::lock_guard lk(m_mu);
    std::erase_if(m_queues, [](const auto& w) { return w.expired(); });
    m_queues.push_back(queue);
  }
  return subscribe_owned(
      expr, [queue](sample&& x) { queue->push(std::move(x)); }, id, canonical);
}

void runtime::unsubscribe(std::uint64_t id) {
  run([&] { m_net->svc->unsubscribe(id); });
}

bool runtime::matched(const std::string& key) {
  bool out = false;
  run([&] { out = m_net->matched(key); });
  return out;
}

status runtime::wait_matched(const std::string& key, std::chrono::milliseconds timeout) {
  if (on_network_thread()) return would_block_error("wait_matched()");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (closed()) return closed_error();
    if (matched(key)) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) {
      return error(errc::timeout, "no subscriber for " + key + " within " +
                                      std::to_string(timeout.count()) + " ms");
    }
    // The routing table changes when records arrive; a few milliseconds apart is soon enough.
    std::this_thread::sleep_for(5ms);
  }
}

}  // namespace starling::lib

namespace starling::lib {

error runtime::membership_error(const node::detailed_error& e) {
  using node::membership_errc;
  errc code = errc::refused;
  if (e.code.category() == node::membership_category()) {
    switch (static_cast<membership_errc>(e.code.value())) {
      case membership_errc::no_network:
        code = errc::not_found;
        break;
      case membership_errc::already_member:
      case membership_errc::bad_argument:
        code = errc::invalid_argument;
        break;
      case membership_errc::storage:
        code = errc::io;
        break;
      case membership_errc::not_admin:
      case membership_errc::refused:
      case membership_errc::join_failed:
        code = errc::refused;
        break;
    }
  }
  return error(code, e.message);
}

status runtime::with_membership(const std::function<status(node::membership&)>& fn) {
  status out;
  const bool ran = run([&] {
    if (!m_net->membership) {
      out = error(errc::invalid_argument,
                  "membership needs a data directory (session_options::data_dir)");
      return;
    }
    out = fn(*m_net->membership);
  });
  if (!ran) return closed_error();
  return out;
}

status runtime::join(std::string_view code, const std::vector<std::string>& addrs) {
  if (on_network_thread()) return would_block_error("join()");
  auto outcome = std::make_shared<std::promise<status>>();
  auto f = outcome->get_future();
  auto s = with_membership([&](node::membership& m) -> status {
    m.join(std::string(code), addrs, [outcome](node::detailed_result<node::network_view> r) {
      outcome->set_value(r ? status() : status(membership_error(r.error())));
    });
    return std::nullopt;
  });
  if (s) return s;
  if (f.wait_for(std::chrono::minutes(5)) != std::future_status::ready) {
    return error(errc::timeout, "join(): no inviter answered within 5 minutes");
  }
  return f.get();
}

namespace {
network_info to_info(const node::network_view& v) {
  return network_info{v.network_id, v.name, v.roles, v.owner, v.log_height};
}
}  // namespace

status runtime::from(const node::detailed_result<void>& r) {
  if (r) return std::nullopt;
  return membership_error(r.error());
}

status runtime::network(network_info& out) {
  return with_membership([&](node::membership& m) -> status {
    auto v = m.network();
    if (!v) return error(errc::not_found, "this node belongs to no network: it admits every peer");
    out = to_info(*v);
    return std::nullopt;
  });
}

status runtime::create_network(std::string_view name, network_info& out) {
  return with_membership([&](node::membership& m) -> status {
    auto v = m.create_network(std::string(name));
    if (!v) return membership_error(v.error());
    out = to_info(*v);
    return std::nullopt;
  });
}

status runtime::invite(std::string_view role, std::chrono::seconds ttl, std::string& code) {
  return with_membership([&](node::membership& m) -> status {
    auto c = m.invite(std::string(role), ttl);
    if (!c) return membership_error(c.error());
    code = *c;
    return std::nullopt;
  });
}

status runtime::members(std::vector<member_info>& out) {
  return with_membership([&](node::membership& m) -> status {
    if (!m.has_network()) {
      return error(errc::not_found, "this node belongs to no network: it admits every peer");
    }
    for (auto& v : m.members())
      out.push_back(
          member_info{v.peer_id, v.roles, v.admin, v.owner, v.revoked, v.connected, v.self});
    return std::nullopt;
  });
}

status runtime::revoke(std::string_view peer_id) {
  return with_membership(
      [&](node::membership& m) -> status { return from(m.revoke(std::string(peer_id))); });
}

status runtime::set_roles(std::string_view peer_id, const std::vector<std::string>& roles) {
  return with_membership([&](node::membership& m) -> status {
    return from(m.set_roles(std::string(peer_id), roles));
  });
}

status runtime::set_policy(std::string_view toml) {
  return with_membership([&](node::membership& m) -> status {
    auto r = m.set_policy(std::string(toml));
    if (!r) return membership_error(r.error());
    return std::nullopt;
  });
}

status runtime::explain(std::string_view peer_id, std::string_view op, std::string_view key,
                        std::string& out) {
  return with_membership([&](node::membership& m) -> status {
    auto r = m.explain(std::string(peer_id), std::string(op), std::string(key));
    if (!r) return membership_error(r.error());
    out = *r;
    return std::nullopt;
  });
}

}  // namespace starling::lib
