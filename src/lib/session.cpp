// The public handles (include/starling): thin wrappers that hand each call to the runtime.
// This file sees only public headers and runtime.hpp, never the node layer.
#include "starling/session.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "query_state.hpp"
#include "runtime.hpp"
#include "starling/publisher.hpp"
#include "starling/subscriber.hpp"

namespace starling {

namespace {

/// The status of a runtime call as a result<void>.
result<void> to_result(lib::status s) {
  if (s) return std::move(*s);
  return {};
}

std::span<const std::byte> text_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

}  // namespace

const char* to_string(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::identity:
      return "identity";
    case errc::io:
      return "io";
    case errc::timeout:
      return "timeout";
    case errc::closed:
      return "closed";
    case errc::would_block:
      return "would_block";
    case errc::refused:
      return "refused";
    case errc::not_found:
      return "not_found";
  }
  return "unknown";
}

// ---- session ----

result<session> session::open(const session_options& o) {
  lib::runtime_options ro;
  ro.data_dir = o.data_dir;
  ro.listen = o.listen;
  ro.connect = o.connect;
  ro.mdns = o.mdns;
  ro.mdns_interfaces = o.mdns_interfaces;
  ro.connect_timeout = o.connect_timeout;
  ro.log_level = o.log_level;
  if (ro.log_level != "trace" && ro.log_level != "debug" && ro.log_level != "info" &&
      ro.log_level != "warn" && ro.log_level != "error" && ro.log_level != "off") {
    return error(errc::invalid_argument,
                 "log_level '" + ro.log_level + "' is not trace, debug, info, warn, error or off");
  }
  lib::status err;
  auto rt = lib::runtime::start(ro, err);
  if (!rt) return std::move(*err);
  return session(std::move(rt));
}

session::session(std::shared_ptr<lib::runtime> rt) : m_rt(std::move(rt)) {}

session::~session() {
  close();
}

session::session(session&& other) noexcept : m_rt(std::move(other.m_rt)) {}

session& session::operator=(session&& other) noexcept {
  if (this != &other) {
    close();
    m_rt = std::move(other.m_rt);
  }
  return *this;
}

void session::close() {
  if (m_rt) m_rt->close();
  m_rt.reset();
}

std::string session::peer_id() const {
  return m_rt ? m_rt->peer_id() : std::string();
}

std::vector<std::string> session::listen_addrs() const {
  return m_rt ? m_rt->listen_addrs() : std::vector<std::string>{};
}

std::vector<std::string> session::peers() const {
  return m_rt ? m_rt->peers() : std::vector<std::string>{};
}

result<void> session::connect(std::string_view multiaddr) {
  if (!m_rt) return lib::runtime::closed_error();
  return to_result(m_rt->connect(multiaddr));
}

result<publisher> session::declare_publisher(std::string_view key, std::string_view encoding) {
  publisher_options o;
  o.encoding = std::string(encoding);
  return declare_publisher(key, o);
}

result<publisher> session::declare_publisher(std::string_view key,
                                             const publisher_options& options) {
  if (!m_rt) return lib::runtime::closed_error();
  std::uint64_t id = 0;
  if (auto e = m_rt->declare_publisher(key, options, id)) return std::move(*e);
  return publisher(m_rt, id, std::string(key), options);
}

result<subscriber> session::declare_subscriber(std::string_view key_expr, sample_handler handler) {
  if (!m_rt) return lib::runtime::closed_error();
  if (!handler) return error(errc::invalid_argument, "the sample handler is empty");
  std::uint64_t id = 0;
  std::string canonical;
  if (auto e = m_rt->subscribe(key_expr, std::move(handler), id, canonical)) return std::move(*e);
  return subscriber(m_rt, id, std::move(canonical), nullptr);
}

result<subscriber> session::declare_subscriber(std::string_view key_expr,
                                               const subscriber_options& options) {
  if (!m_rt) return lib::runtime::closed_error();
  if (options.queue_capacity == 0) {
    return error(errc::invalid_argument, "queue_capacity must be at least 1");
  }
  auto queue = std::make_shared<lib::sample_queue>(options.queue_capacity);
  std::uint64_t id = 0;
  std::string canonical;
  if (auto e = m_rt->subscribe(key_expr, queue, id, canonical)) return std::move(*e);
  return subscriber(m_rt, id, std::move(canonical), std::move(queue));
}

result<queryable> session::declare_queryable(std::string_view key_expr, query_handler handler,
                                             bool complete) {
  if (!m_rt) return lib::runtime::closed_error();
  if (!handler) return error(errc::invalid_argument, "the query handler is empty");
  std::uint64_t id = 0;
  std::string canonical;
  // The runtime hands over each query on the network thread; the handler gets it as a query
  // object that keeps the runtime (to answer through) alive.
  // The node layer copies the function for each call (so that a handler may undeclare its
  // queryable): the handler is shared, so that state it keeps (a mutable lambda) persists.
  auto fn = [weak = std::weak_ptr<lib::runtime>(m_rt),
             shared =
                 std::make_shared<query_handler>(std::move(handler))](lib::incoming_query&& in) {
    auto rt = weak.lock();
    if (!rt) return;
    auto st = std::make_shared<lib::query_state>();
    st->rt = std::move(rt);
    st->q = std::move(in);
    (*shared)(query(std::move(st)));
  };
  if (auto e = m_rt->declare_queryable(key_expr, complete, std::move(fn), id, canonical)) {
    return std::move(*e);
  }
  return queryable(m_rt, id, std::move(canonical));
}

result<void> session::get(std::string_view selector, reply_handler on_reply,
                          get_done_handler on_done, const get_options& options) {
  if (!m_rt) return lib::runtime::closed_error();
  if (!on_reply || !on_done) return error(errc::invalid_argument, "a get handler is empty");
  return to_result(m_rt->get(
      selector, options, [on_reply = std::move(on_reply)](reply&& r) { on_reply(r); },
      std::move(on_done)));
}

result<std::vector<reply>> session::get(std::string_view selector, const get_options& options) {
  if (!m_rt) return lib::runtime::closed_error();
  if (m_rt->on_network_thread()) return lib::runtime::would_block_error("get()");
  struct waiter {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<reply> replies;
    std::optional<get_done> done;
  };
  auto w = std::make_shared<waiter>();
  auto sent = m_rt->get(
      selector, options,
      [w](reply&& r) {
        std::lock_guard lk(w->mu);
        w->replies.push_back(std::move(r));
      },
      [w](const get_done& d) {
        {
          std::lock_guard lk(w->mu);
          w->done = d;
        }
        w->cv.notify_all();
      });
  if (sent) return std::move(*sent);
  std::unique_lock lk(w->mu);
  // The runtime always ends a get (at its timeout at the latest, or when the session closes);
  // the margin only guards against a bug there.
  if (!w->cv.wait_for(lk, options.timeout + std::chrono::seconds(5),
                      [&] { return w->done.has_value(); })) {
    return error(errc::timeout, "no end of the get on " + std::string(selector));
  }
  const std::string what = "get " + std::string(selector);
  switch (w->done->reason) {
    case get_end::complete:
      return std::move(w->replies);
    case get_end::no_queryable:
      return error(errc::not_found, what + ": no queryable matches");
    case get_end::timeout:
      return error(
          errc::timeout,
          what + ": " +
              std::to_string(w->done->nodes_asked - w->done->nodes_answered - w->done->nodes_gone) +
              " of " + std::to_string(w->done->nodes_asked) + " nodes had not finished within " +
              std::to_string(options.timeout.count()) + " ms (" +
              std::to_string(w->replies.size()) + " replies)");
    case get_end::closed:
      break;
  }
  return lib::runtime::closed_error();
}

result<liveliness_token> session::declare_token(std::string_view key) {
  if (!m_rt) return lib::runtime::closed_error();
  std::uint64_t id = 0;
  std::string canonical;
  if (auto e = m_rt->declare_token(key, id, canonical)) return std::move(*e);
  return liveliness_token(m_rt, id, std::move(canonical));
}

result<liveliness_watcher> session::watch_liveliness(std::string_view key_expr,
                                                     liveliness_handler handler) {
  if (!m_rt) return lib::runtime::closed_error();
  if (!handler) return error(errc::invalid_argument, "the liveliness handler is empty");
  std::uint64_t id = 0;
  std::string canonical;
  // Shared for the same reason as a queryable's handler.
  auto fn = [shared = std::make_shared<liveliness_handler>(std::move(handler))](
                std::string_view key, std::string_view node, bool alive) {
    liveliness_event e;
    e.what = alive ? liveliness_event::kind::joined : liveliness_event::kind::left;
    e.token.key = std::string(key);
    e.token.node = std::string(node);
    (*shared)(e);
  };
  if (auto e = m_rt->watch_liveliness(key_expr, std::move(fn), id, canonical)) {
    return std::move(*e);
  }
  return liveliness_watcher(m_rt, id, std::move(canonical));
}

result<std::vector<liveliness_token_info>> session::liveliness_tokens(std::string_view key_expr) {
  if (!m_rt) return lib::runtime::closed_error();
  std::vector<std::pair<std::string, std::string>> found;
  if (auto e = m_rt->liveliness_tokens(key_expr, found)) return std::move(*e);
  std::sort(found.begin(), found.end());
  std::vector<liveliness_token_info> out;
  out.reserve(found.size());
  for (auto& [key, node] : found)
    out.push_back(liveliness_token_info{std::move(key), std::move(node)});
  return out;
}

result<void> session::put(std::string_view key, std::span<const std::byte> payload,
                          std::string_view encoding) {
  if (!m_rt) return lib::runtime::closed_error();
  return to_result(m_rt->put(key, payload, encoding, false));
}

result<void> session::put(std::string_view key, std::string_view payload,
                          std::string_view encoding) {
  return put(key, text_bytes(payload), encoding);
}

result<void> session::del(std::string_view key) {
  if (!m_rt) return lib::runtime::closed_error();
  return to_result(m_rt->put(key, {}, {}, true));
}

// ---- publisher ----

publisher::publisher(std::shared_ptr<lib::runtime> rt, std::uint64_t id, std::string key,
                     publisher_options options)
    : m_decl(std::move(rt), id, std::move(key),
             [](lib::runtime& r, std::uint64_t p) { r.undeclare_publisher(p); }),
      m_options(std::move(options)) {}

publisher::~publisher() = default;
publisher::publisher(publisher&&) noexcept = default;

publisher& publisher::operator=(publisher&& other) noexcept {
  if (this != &other) {
    m_decl = std::move(other.m_decl);  // undeclares this one first
    m_options = std::move(other.m_options);
  }
  return *this;
}

result<void> publisher::put(std::span<const std::byte> payload) {
  if (!m_decl) return lib::runtime::closed_error();
  return to_result(m_decl.rt()->put(m_decl.id(), m_decl.key(), payload, false));
}

result<void> publisher::put(std::string_view payload) {
  return put(text_bytes(payload));
}

result<void> publisher::del() {
  if (!m_decl) return lib::runtime::closed_error();
  return to_result(m_decl.rt()->put(m_decl.id(), m_decl.key(), {}, true));
}

bool publisher::matched() const {
  return m_decl && m_decl.rt()->matched(m_decl.key());
}

result<void> publisher::wait_matched(std::chrono::milliseconds timeout) {
  if (!m_decl) return lib::runtime::closed_error();
  return to_result(m_decl.rt()->wait_matched(m_decl.key(), timeout));
}

void publisher::undeclare() {
  m_decl.reset();
}

// ---- subscriber ----

subscriber::subscriber(std::shared_ptr<lib::runtime> rt, std::uint64_t id, std::string expr,
                       std::shared_ptr<lib::sample_queue> queue)
    : m_decl(std::move(rt), id, std::move(expr),
             [](lib::runtime& r, std::uint64_t sub) { r.unsubscribe(sub); }),
      m_queue(std::move(queue)) {}

subscriber::~subscriber() {
  undeclare();
}

subscriber::subscriber(subscriber&&) noexcept = default;

subscriber& subscriber::operator=(subscriber&& other) noexcept {
  if (this != &other) {
    undeclare();
    m_decl = std::move(other.m_decl);
    m_queue = std::move(other.m_queue);
  }
  return *this;
}

result<sample> subscriber::recv(std::chrono::milliseconds timeout) {
  if (!m_queue) {
    if (!m_decl) return lib::runtime::closed_error();
    return error(errc::invalid_argument, "recv() on a subscriber with a handler");
  }
  if (m_decl && m_decl.rt()->on_network_thread()) return lib::runtime::would_block_error("recv()");
  std::optional<sample> out;
  if (auto e = m_queue->wait_pop(timeout, out)) return std::move(*e);
  return std::move(*out);
}

std::optional<sample> subscriber::try_recv() {
  if (!m_queue) return std::nullopt;
  return m_queue->try_pop();
}

std::uint64_t subscriber::dropped() const {
  return m_queue ? m_queue->dropped() : 0;
}

void subscriber::undeclare() {
  m_decl.reset();
  // The queue stays: samples already in it can still be taken with try_recv().
  if (m_queue) m_queue->close();
}

}  // namespace starling

// ---- membership ------------------------------------------------------------------------------

namespace starling {

result<network_info> session::network() const {
  if (!m_rt) return lib::runtime::closed_error();
  network_info out;
  if (auto e = m_rt->network(out)) return std::move(*e);
  return out;
}

result<network_info> session::create_network(std::string_view name) {
  if (!m_rt) return lib::runtime::closed_error();
  network_info out;
  if (auto e = m_rt->create_network(name, out)) return std::move(*e);
  return out;
}

result<std::string> session::invite(std::string_view role, std::chrono::seconds ttl) {
  if (!m_rt) return lib::runtime::closed_error();
  std::string code;
  if (auto e = m_rt->invite(role, ttl, code)) return std::move(*e);
  return code;
}

result<network_info> session::join(std::string_view code,
                                   const std::vector<std::string>& inviter_addrs) {
  if (!m_rt) return lib::runtime::closed_error();
  if (auto e = m_rt->join(code, inviter_addrs)) return std::move(*e);
  return network();
}

result<std::vector<member_info>> session::members() const {
  if (!m_rt) return lib::runtime::closed_error();
  std::vector<member_info> out;
  if (auto e = m_rt->members(out)) return std::move(*e);
  return out;
}

result<void> session::revoke(std::string_view peer_id) {
  if (!m_rt) return lib::runtime::closed_error();
  return to_result(m_rt->revoke(peer_id));
}

result<void> session::set_roles(std::string_view peer_id, const std::vector<std::string>& roles) {
  if (!m_rt) return lib::runtime::closed_error();
  return to_result(m_rt->set_roles(peer_id, roles));
}

result<void> session::set_policy(std::string_view toml) {
  if (!m_rt) return lib::runtime::closed_error();
  return to_result(m_rt->set_policy(toml));
}

result<std::string> session::explain(std::string_view peer_id, std::string_view op,
                                     std::string_view key) const {
  if (!m_rt) return lib::runtime::closed_error();
  std::string out;
  if (auto e = m_rt->explain(peer_id, op, key, out)) return std::move(*e);
  return out;
}

}  // namespace starling
