#pragma once
// A whole network of data engines in one process, in virtual time. Links behave like the TCP
// connections they stand for: bytes arrive in order after a delay with jitter (a lost segment
// is a retransmission: a longer delay, never a hole). Nodes fail (their links drop at once, as
// the dead-peer timer would notice) and come back with a new record version. Everything is
// drawn from one seed, so a failing run replays from its seed alone.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/data/engine.hpp"
#include "core/data/hlc.hpp"

namespace starling::sim {

using data::peer_id;

/// What a subscriber received.
struct received {
  std::string key;
  std::string payload;
  peer_id source;
  std::uint64_t publisher = 0;
  std::uint64_t seq = 0;
  std::uint64_t sub = 0;
};

/// Link behaviour.
struct link_model {
  std::chrono::microseconds delay{500};
  std::chrono::microseconds jitter{300};
  double loss = 0.0;                       ///< chance a delivery is retransmitted
  std::chrono::microseconds rto{200'000};  ///< extra delay of a retransmission
};

class network {
 public:
  struct node final : data::engine_sink {
    node(network& n, std::size_t i, peer_id pid)
        : net(n), index(i), id(std::move(pid)), eng(std::make_unique<data::engine>(id, 1, *this)) {}
    void on_sample(std::uint64_t sub, const data::sample& s) override {
      got.push_back(received{std::string(s.key), std::string(as_chars(s.payload)), *s.source,
                             s.publisher, s.seq, sub});
    }
    void on_query(std::uint64_t q, const data::query_request& r) override {
      if (query_handler) query_handler(q, r);
    }
    void on_reply(std::uint64_t qid, const data::reply_view& r) override {
      replies[qid].push_back(*r.from);
    }
    void on_query_done(std::uint64_t qid, const data::query_result& r) override {
      done.emplace_back(qid, r);
      done_at[qid] = net.now();
    }
    void on_liveliness(std::uint64_t, std::string_view key, const peer_id& who, bool up) override {
      const auto k = std::make_pair(std::string(key), who);
      if (up) {
        if (!alive_view.insert(k).second) ++liveliness_anomalies;  // joined twice
      } else if (alive_view.erase(k) == 0) {
        ++liveliness_anomalies;  // left without joining
      }
    }
    network& net;
    std::size_t index;
    peer_id id;
    std::unique_ptr<data::engine> eng;
    std::function<void(std::uint64_t, const data::query_request&)> query_handler;
    std::map<std::uint64_t, std::vector<peer_id>> replies;
    std::vector<std::pair<std::uint64_t, data::query_result>> done;
    std::map<std::uint64_t, time_point> done_at;
    std::set<std::pair<std::string, peer_id>> alive_view;
    std::uint64_t liveliness_anomalies = 0;
    bool alive = true;
    std::uint64_t incarnation = 1;
    time_point timer_at = no_deadline;  ///< the engine's timer, as scheduled
    std::vector<received> got;
  };

  network(std::uint64_t seed, link_model model) : m_rng(seed), m_model(model) {}

  /// Adds a node; its peer id is an identity multihash of its index.
  node& add_node() {
    const std::size_t i = m_nodes.size();
    bytes key(36, 0);
    key[0] = 0x08;
    key[1] = 0x01;
    key[2] = 0x12;
    key[3] = 0x20;
    for (int b = 0; b < 8; ++b)
      key[4 + b] = static_cast<std::uint8_t>(i >> (8 * b));
    auto id = peer_id::from_encoded_public_key(key);
    m_nodes.push_back(std::make_unique<node>(*this, i, std::move(*id)));
    return *m_nodes.back();
  }
  node& at(std::size_t i) { return *m_nodes.at(i); }
  std::size_t size() const { return m_nodes.size(); }
  time_point now() const { return m_now; }
  std::mt19937_64& rng() { return m_rng; }
  /// Physical wall clock of every node (they agree here; skew is a later test).
  std::uint64_t ntp() const {
    return data::ntp64_from_unix(std::chrono::seconds(1'800'000'000) + m_now.time_since_epoch());
  }

  /// Connects two live nodes (both sides see the link at once).
  void connect(std::size_t a, std::size_t b) {
    if (a == b || !at(a).alive || !at(b).alive) return;
    if (!m_links.insert(key(a, b)).second) return;
    at(a).eng->link_up(at(b).id, m_now);
    at(b).eng->link_up(at(a).id, m_now);
    pump(a);
    pump(b);
  }
  /// Cuts a link; bytes in flight on it are lost (the connection is gone).
  void disconnect(std::size_t a, std::size_t b) {
    if (m_links.erase(key(a, b)) == 0) return;
    ++m_epoch[key(a, b)];
    at(a).eng->link_down(at(b).id, m_now);
    at(b).eng->link_down(at(a).id, m_now);
    pump(a);
    pump(b);
  }
  bool linked(std::size_t a, std::size_t b) const { return m_links.count(key(a, b)) != 0; }

  /// True when live links join a and b without passing through `avoid`.
  bool connected_without(std::size_t a, std::size_t b, std::size_t avoid) const {
    std::vector<char> seen(size(), 0);
    std::vector<std::size_t> todo{a};
    seen[a] = 1;
    if (a < seen.size() && avoid < seen.size()) seen[avoid] = 1;
    while (!todo.empty()) {
      const std::size_t n = todo.back();
      todo.pop_back();
      if (n == b) return true;
      for (const auto& [x, y] : m_links) {
        const std::size_t other = x == n ? y : y == n ? x : SIZE_MAX;
        if (other != SIZE_MAX && !seen[other]) {
          seen[other] = 1;
          todo.push_back(other);
        }
      }
    }
    return false;
  }
  /// Kills a node: every link to it drops (its neighbours notice).
  void kill(std::size_t i) {
    for (std::size_t j = 0; j < size(); ++j) {
      if (linked(i, j)) disconnect(i, j);
    }
    at(i).alive = false;
  }
  /// Brings a dead node back as a new process: fresh engine, higher record version.
  void revive(std::size_t i, const std::vector<std::size_t>& neighbours) {
    node& n = at(i);
    n.alive = true;
    ++n.incarnation;
    n.timer_at = no_deadline;
    n.eng =
        std::make_unique<data::engine>(n.id, static_cast<std::uint64_t>(n.incarnation) << 40, n);
    for (auto j : neighbours)
      connect(i, j);
  }

  /// Sends what node i has queued and arms its engine's timer.
  void pump(std::size_t i) {
    node& from = at(i);
    from.eng->drain_transmit([&](const peer_id& peer, bytes_view frames) {
      const std::size_t j = index_of(peer);
      schedule_delivery(i, j, bytes(frames.begin(), frames.end()));
    });
    arm_timer(i);
  }

  /// Runs events until none is left or virtual time passes `until`.
  void run_until(time_point until) {
    while (!m_events.empty() && m_events.begin()->first.first <= until) {
      auto it = m_events.begin();
      m_now = std::max(m_now, it->first.first);
      auto fn = std::move(it->second);
      m_events.erase(it);
      fn();
    }
    m_now = std::max(m_now, until);
  }
  /// Runs for `d` of virtual time.
  void run_for(clock_duration d) { run_until(m_now + d); }
  /// Runs until nothing is in flight; virtual time stops at the last event.
  void settle() {
    while (!m_events.empty())
      run_until(m_events.begin()->first.first);
  }
  /// Schedules `fn` at `at`.
  void at_time(time_point at, std::function<void()> fn) {
    m_events.emplace(std::make_pair(at, m_seq++), std::move(fn));
  }

  std::uint64_t protocol_errors = 0;

 private:
  static std::pair<std::size_t, std::size_t> key(std::size_t a, std::size_t b) {
    return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
  }
  std::size_t index_of(const peer_id& p) const {
    const auto& b = p.bytes();
    std::size_t i = 0;
    for (int k = 0; k < 8; ++k)
      i |= static_cast<std::size_t>(b[2 + 4 + k]) << (8 * k);
    return i;
  }
  void arm_timer(std::size_t i) {
    node& n = at(i);
    if (!n.alive) return;
    const time_point d = n.eng->next_deadline();
    if (d == no_deadline || d >= n.timer_at) return;
    n.timer_at = d;
    at_time(std::max(d, m_now), [this, i, d, inc = n.incarnation] {
      node& m = at(i);
      if (!m.alive || m.incarnation != inc || m.timer_at != d) return;  // superseded
      m.timer_at = no_deadline;
      m.eng->on_deadline(m_now);
      pump(i);
    });
  }
  void schedule_delivery(std::size_t from, std::size_t to, bytes data) {
    using namespace std::chrono;
    std::uniform_int_distribution<long> jit(0, m_model.jitter.count());
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    auto d = m_model.delay + microseconds(jit(m_rng));
    if (coin(m_rng) < m_model.loss) d += m_model.rto;
    // In order, like TCP: never before the previous delivery on this direction.
    auto& last = m_last_delivery[{from, to}];
    const time_point when = std::max(m_now + d, last);
    last = when;
    const auto epoch = m_epoch[key(from, to)];
    at_time(when, [this, from, to, epoch, data = std::move(data)] {
      if (m_epoch[key(from, to)] != epoch || !linked(from, to)) return;  // the link died
      node& n = at(to);
      auto r = n.eng->on_bytes(at(from).id, data, m_now, ntp());
      if (!r) {
        ++protocol_errors;
        disconnect(from, to);
        return;
      }
      pump(to);
    });
  }

  std::mt19937_64 m_rng;
  link_model m_model;
  time_point m_now{};
  std::vector<std::unique_ptr<node>> m_nodes;
  std::set<std::pair<std::size_t, std::size_t>> m_links;
  std::map<std::pair<std::size_t, std::size_t>, std::uint64_t> m_epoch;
  std::map<std::pair<std::size_t, std::size_t>, time_point> m_last_delivery;
  std::map<std::pair<time_point, std::uint64_t>, std::function<void()>> m_events;
  std::uint64_t m_seq = 0;
};

}  // namespace starling::sim
