#include "node/data_service.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <chrono>

#include "io/clock.hpp"
#include "node/connection.hpp"

namespace starling::node {

namespace {

/// Bytes a data stream may hold queued before samples wait in the engine instead.
constexpr std::size_t stream_high_water = 256 * 1024;

std::uint64_t wall_ntp() {
  return data::ntp64_from_unix(std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::now().time_since_epoch()));
}

/// The one stream of a data link, whoever opened it.
class data_stream final : public stream_handler {
 public:
  data_stream(data_service* svc, std::weak_ptr<bool> alive)
      : m_svc(svc), m_alive(std::move(alive)) {}
  void on_open(stream& s) override {
    if (!live()) return s.reset();
    m_svc->stream_open(s.peer(), s);
  }
  void on_data(stream& s, bytes_view data) override {
    if (live()) m_svc->stream_data(s.peer(), s, data);
  }
  void on_read_closed(stream& s) override { s.close_write(); }
  void on_writable(stream&) override {
    if (live()) m_svc->stream_writable();
  }
  void on_closed(stream& s, std::error_code) override {
    if (live()) m_svc->stream_closed(s.peer(), s);
  }

 private:
  bool live() const {
    auto a = m_alive.lock();
    return a && *a;
  }
  data_service* m_svc;
  std::weak_ptr<bool> m_alive;
};

}  // namespace

struct data_service::peer_state {
  stream* s = nullptr;
  bool opening = false;
  int reopen_attempts = 0;
};

data_service::data_service(host& h)
    : m_host(h),
      m_engine(h.id(),
               static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count()),
               *this),
      m_timer(h.context()),
      m_alive(std::make_shared<bool>(true)) {
  h.set_handler(std::string(data::protocol_id), [this, alive = std::weak_ptr<bool>(m_alive)] {
    return std::make_unique<data_stream>(this, alive);
  });
}

data_service::~data_service() {
  *m_alive = false;
  for (auto& [p, st] : m_peers) {
    if (st->s) st->s->reset();
  }
}

void data_service::on_identified(const std::shared_ptr<connection>& c, const identify::info& info) {
  if (std::find(info.protocols.begin(), info.protocols.end(), data::protocol_id) ==
      info.protocols.end()) {
    return;
  }
  // One stream per link, opened by the node with the smaller peer id (no race to settle).
  if (!(m_host.id() < c->peer())) return;
  auto& st = m_peers[c->peer()];
  if (!st) st = std::make_unique<peer_state>();
  if (st->s || st->opening) return;
  st->opening = true;
  const data::peer_id peer = c->peer();
  c->open_stream({std::string(data::protocol_id)}, std::make_unique<data_stream>(this, m_alive),
                 [this, alive = std::weak_ptr<bool>(m_alive), peer](std::error_code ec) {
                   auto a = alive.lock();
                   if (!a || !*a) return;
                   spdlog::debug("data stream to {} failed: {}", peer.to_string(), ec.message());
                   if (auto it = m_peers.find(peer); it != m_peers.end()) {
                     it->second->opening = false;
                   }
                 });
}

void data_service::stream_open(const data::peer_id& p, stream& s) {
  auto& st = m_peers[p];
  if (!st) st = std::make_unique<peer_state>();
  st->opening = false;
  if (st->s && st->s != &s) {
    // A new stream replaces the old one (say, on a new connection): start over on it.
    stream* old = st->s;
    st->s = nullptr;
    old->reset();
    m_engine.link_down(p, io::now());
  }
  st->s = &s;
  m_engine.link_up(p, io::now());
  spdlog::info("data link up with {}", p.to_string());
  flush();
}

void data_service::stream_data(const data::peer_id& p, stream& s, bytes_view data) {
  auto it = m_peers.find(p);
  if (it == m_peers.end() || it->second->s != &s) return;
  auto r = m_engine.on_bytes(p, data, io::now(), wall_ntp());
  if (!r) {
    fail_link(p, r.error());
    return;
  }
  flush();
}

void data_service::stream_closed(const data::peer_id& p, stream& s) {
  auto it = m_peers.find(p);
  if (it == m_peers.end() || it->second->s != &s) return;
  it->second->s = nullptr;
  m_engine.link_down(p, io::now());
  spdlog::info("data link down with {}", p.to_string());
  flush();
  maybe_reopen(p);
}

void data_service::maybe_reopen(const data::peer_id& p) {
  // The stream may have died with a duplicate connection while another one to the peer
  // lives on: open a new stream there (a few times, not forever).
  auto& st = m_peers[p];
  if (!st) st = std::make_unique<peer_state>();
  for (auto& c : m_host.connections()) {
    if (!c->established() || c->closing() || c->peer() != p) continue;
    if (st->reopen_attempts >= 3 || !c->identify_info()) return;
    ++st->reopen_attempts;
    on_identified(c, *c->identify_info());
    return;
  }
}

void data_service::fail_link(const data::peer_id& p, std::error_code ec) {
  spdlog::warn("data link with {} reset: {}", p.to_string(), ec.message());
  m_host.report_misbehaviour(p, abuse::offence::malformed);
  auto it = m_peers.find(p);
  if (it == m_peers.end()) return;
  peer_state& st = *it->second;
  st.reopen_attempts = 3;  // a peer that sends garbage is not asked again on this connection
  if (st.s) st.s->reset();
}

void data_service::flush() {
  m_engine.drain_transmit(
      [this](const data::peer_id& p, bytes_view frames) {
        auto it = m_peers.find(p);
        if (it == m_peers.end() || !it->second->s) return;
        it->second->s->write(frames);
      },
      [this](const data::peer_id& p) -> std::size_t {
        // Samples go down only while the stream's queue is short, so that protocol messages
        // and higher priorities written later are not stuck behind a long queue of data.
        auto it = m_peers.find(p);
        if (it == m_peers.end() || !it->second->s) return 0;
        const std::size_t q = it->second->s->buffered();
        return q >= stream_high_water ? 0 : stream_high_water - q;
      });
  arm_timer();
}

void data_service::arm_timer() {
  // Lazy re-arming, as in io::tcp_driver: a flush runs for every sample sent or received, and
  // re-arming an Asio timer costs a timerfd_settime call (measured: two per round trip on
  // each side of lat_ping, about a third of its system calls). A later deadline leaves the
  // armed (earlier) one alone; when that fires, the engine does what is due (it accepts early
  // calls) and the timer is armed again at the real deadline.
  const time_point d = m_engine.next_deadline();
  if (d == no_deadline || d >= m_timer_at) return;
  m_timer_at = d;
  m_timer.expires_at(std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(d.time_since_epoch())));
  m_timer.async_wait([this, alive = std::weak_ptr<bool>(m_alive)](boost::system::error_code ec) {
    auto a = alive.lock();
    if (ec || !a || !*a) return;  // cancelled by an earlier deadline, or shutting down
    m_timer_at = no_deadline;
    m_engine.on_deadline(io::now());
    flush();
  });
}

void data_service::on_violation(const data::peer_id& peer, data::violation v) {
  m_host.report_misbehaviour(
      peer, v == data::violation::flood ? abuse::offence::flood : abuse::offence::access_violation);
}

void data_service::on_routing_event(const data::routing_event& e) {
  const char* what = e.k == data::routing_event::kind::reachable     ? "reachable"
                     : e.k == data::routing_event::kind::unreachable ? "unreachable"
                                                                     : "changed";
  spdlog::debug("data: node {} {}: declarations +{} -{}", e.node.to_string(), what, e.added.size(),
                e.removed.size());
}

void data_service::on_sample(std::uint64_t sub, const data::sample& s) {
  auto it = m_subs.find(sub);
  if (it == m_subs.end() || !it->second) return;
  // The handler may unsubscribe itself: unsubscribe() then parks the function until it
  // returns.
  const std::uint64_t outer = m_dispatching;
  m_dispatching = sub;
  it->second(s);
  m_dispatching = outer;
  if (outer == 0) m_parked.clear();
}

result<std::uint64_t> data_service::subscribe(std::string_view expr, sample_fn fn) {
  auto id = m_engine.declare_subscriber(expr);
  if (!id) return id.error();
  m_subs.emplace(*id, std::move(fn));
  flush_soon();  // a burst of declarations goes out as one record
  return *id;
}

void data_service::set_access(data::access_guard* guard) {
  m_engine.set_access(guard, io::now());
  flush_soon();
}

void data_service::access_changed() {
  m_engine.access_changed(io::now());
  flush_soon();
}

void data_service::unsubscribe(std::uint64_t id) {
  if (auto it = m_subs.find(id); it != m_subs.end()) {
    if (m_dispatching != 0) m_parked.push_back(std::move(it->second));
    m_subs.erase(it);
  }
  m_engine.undeclare_subscriber(id);
  flush_soon();  // a burst of declarations goes out as one record
}

result<void> data_service::put(std::string_view key, bytes_view payload, std::string_view encoding,
                               bool del) {
  auto r = m_engine.put(key, payload, encoding, io::now(), wall_ntp(), del);
  if (m_engine.take_express()) {
    flush();
  } else {
    flush_soon();
  }
  return r;
}

result<std::uint64_t> data_service::declare_publisher(std::string_view key,
                                                      data::publisher_options opts) {
  return m_engine.declare_publisher(key, std::move(opts));
}

void data_service::undeclare_publisher(std::uint64_t id) {
  m_engine.undeclare_publisher(id);
}

result<void> data_service::put(std::uint64_t publisher, bytes_view payload, bool del) {
  auto r = m_engine.put(publisher, payload, io::now(), wall_ntp(), del);
  if (m_engine.take_express()) {
    flush();
  } else {
    flush_soon();
  }
  return r;
}

void data_service::flush_soon() {
  if (m_flush_posted) return;
  m_flush_posted = true;
  boost::asio::post(m_host.context(), [this, alive = std::weak_ptr<bool>(m_alive)] {
    auto a = alive.lock();
    if (!a || !*a) return;
    m_flush_posted = false;
    flush();
  });
}

result<std::uint64_t> data_service::declare_queryable(std::string_view expr, bool complete,
                                                      query_fn fn) {
  auto id = m_engine.declare_queryable(expr, complete);
  if (!id) return id.error();
  m_queryables.emplace(*id, std::move(fn));
  flush_soon();  // a burst of declarations goes out as one record
  return *id;
}

void data_service::undeclare_queryable(std::uint64_t id) {
  m_queryables.erase(id);
  m_engine.undeclare_queryable(id);
  flush_soon();  // a burst of declarations goes out as one record
}

result<void> data_service::reply(std::uint64_t handle, std::string_view key, bytes_view payload,
                                 std::string_view encoding, bool error, std::uint64_t timestamp) {
  auto r = m_engine.reply(handle, key, payload, encoding, wall_ntp(), error, timestamp);
  flush_soon();
  return r;
}

void data_service::reply_final(std::uint64_t handle) {
  m_engine.reply_final(handle);
  flush_soon();
}

result<std::uint64_t> data_service::get(std::string_view selector, const data::query_options& opts,
                                        reply_fn on_reply, query_done_fn on_done) {
  auto id = m_engine.get(selector, opts, io::now());
  if (!id) return id.error();
  m_gets.emplace(*id, query_handlers{std::move(on_reply), std::move(on_done)});
  flush();
  return *id;
}

result<std::uint64_t> data_service::declare_token(std::string_view key) {
  auto id = m_engine.declare_token(key);
  if (!id) return id.error();
  flush_soon();  // a burst of declarations goes out as one record
  return *id;
}

void data_service::undeclare_token(std::uint64_t id) {
  m_engine.undeclare_token(id);
  flush_soon();  // a burst of declarations goes out as one record
}

result<std::uint64_t> data_service::watch_liveliness(std::string_view expr, liveliness_fn fn) {
  // The engine reports the current tokens from inside watch_liveliness(), before we know the
  // id: route those calls to `fn` meanwhile.
  m_installing = &fn;
  auto id = m_engine.watch_liveliness(expr);
  m_installing = nullptr;
  if (!id) return id.error();
  m_watches.emplace(*id, std::move(fn));
  return *id;
}

void data_service::unwatch_liveliness(std::uint64_t id) {
  m_watches.erase(id);
  m_engine.unwatch_liveliness(id);
}

void data_service::on_query(std::uint64_t queryable, const data::query_request& r) {
  auto it = m_queryables.find(queryable);
  if (it == m_queryables.end() || !it->second) {
    m_engine.reply_final(r.handle);
    return;
  }
  auto fn = it->second;  // the handler may undeclare its queryable
  fn(r);
}

void data_service::on_reply(std::uint64_t qid, const data::reply_view& r) {
  auto it = m_gets.find(qid);
  if (it == m_gets.end() || !it->second.on_reply) return;
  auto fn = it->second.on_reply;
  fn(r);
}

void data_service::on_query_done(std::uint64_t qid, const data::query_result& r) {
  auto it = m_gets.find(qid);
  if (it == m_gets.end()) return;
  auto h = std::move(it->second);
  m_gets.erase(it);
  if (h.on_done) h.on_done(r);
}

void data_service::on_liveliness(std::uint64_t watch, std::string_view key,
                                 const data::peer_id& node, bool alive) {
  auto it = m_watches.find(watch);
  if (it != m_watches.end()) {
    auto fn = it->second;  // the handler may end its watch
    if (fn) fn(key, node, alive);
  } else if (m_installing && *m_installing) {
    (*m_installing)(key, node, alive);
  }
}

std::size_t data_service::buffered() const {
  std::size_t n = m_engine.backlog();
  for (const auto& [p, st] : m_peers) {
    if (st->s) n += st->s->buffered();
  }
  return n;
}

}  // namespace starling::node

namespace starling::node {

result<std::uint64_t> data_service::subscribe(std::string_view expr, sample_fn fn,
                                              bool latest_first) {
  if (!latest_first) return subscribe(expr, std::move(fn));
  struct owned {
    std::string key;
    bytes payload;
    std::string encoding;
    bool del = false;
    std::uint64_t timestamp = 0;
    std::optional<data::peer_id> source;
    std::uint64_t publisher = 0;
    std::uint64_t seq = 0;
  };
  struct catch_up {
    sample_fn fn;
    bool querying = true;
    std::vector<owned> live;  ///< held while the query runs
    std::size_t live_bytes = 0;
    std::unordered_map<std::string, owned> replied;  ///< by key
  };
  constexpr std::size_t max_held = 1024;
  constexpr std::size_t max_held_bytes = std::size_t{4} << 20;
  auto st = std::make_shared<catch_up>();
  st->fn = std::move(fn);
  auto id = subscribe(expr, [st](const data::sample& s) {
    if (!st->querying || st->live.size() >= max_held ||
        st->live_bytes + s.payload.size() > max_held_bytes) {
      st->fn(s);
      return;
    }
    st->live_bytes += s.payload.size();
    st->live.push_back(owned{std::string(s.key), bytes(s.payload.begin(), s.payload.end()),
                             std::string(s.encoding), s.del, s.timestamp,
                             s.source ? std::optional<data::peer_id>(*s.source) : std::nullopt,
                             s.publisher, s.seq});
  });
  if (!id) return id;
  const std::uint64_t sub = *id;
  data::query_options o;
  o.target = data::query_target::all_complete;
  o.consolidate = data::consolidation::latest;
  o.timeout = std::chrono::seconds(5);
  auto q = get(
      expr, o,
      [this, st, sub](const data::reply_view& r) {
        if (r.error || !m_subs.contains(sub)) return;
        owned& rec = st->replied[std::string(r.key)];
        rec.payload.assign(r.payload.begin(), r.payload.end());
        rec.encoding = std::string(r.encoding);
        rec.timestamp = r.timestamp;
        st->fn(data::sample{r.key, r.payload, r.encoding, false, r.timestamp, r.from, 0, 0});
      },
      [this, st, sub](const data::query_result&) {
        st->querying = false;
        auto live = std::move(st->live);
        auto replied = std::move(st->replied);
        st->live_bytes = 0;
        for (const auto& h : live) {
          if (!m_subs.contains(sub)) return;  // the handler unsubscribed
          auto it = replied.find(h.key);
          if (it != replied.end() && !h.del && h.timestamp <= it->second.timestamp &&
              h.payload == it->second.payload && h.encoding == it->second.encoding) {
            continue;  // the storage answered with this very sample
          }
          st->fn(data::sample{h.key, h.payload, h.encoding, h.del, h.timestamp,
                              h.source ? &*h.source : nullptr, h.publisher, h.seq});
        }
      });
  if (!q) {
    spdlog::debug("latest values of '{}' not asked: {}", expr, q.error().message());
    st->querying = false;
  }
  return sub;
}

}  // namespace starling::node
