#pragma once
/// The data layer on a running node: one `data::engine` (src/core/data/engine.hpp) wired to
/// the host's connections. A data link is one `/starling/data/1` stream per peer, both ways;
/// of two identified peers that serve the protocol, the one with the smaller peer id opens it.
/// Local applications (the control socket, the embedded C++ API) subscribe and publish through this
/// class. Everything runs on the network thread.

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/data/engine.hpp"
#include "node/host.hpp"

namespace starling::node {

/// A sample handed to a local subscriber; views valid during the call only.
using sample_fn = std::function<void(const data::sample&)>;
/// A query for a local queryable; answer with data_service::reply and reply_final.
using query_fn = std::function<void(const data::query_request&)>;
/// A reply to a query of ours; views valid during the call only.
using reply_fn = std::function<void(const data::reply_view&)>;
/// The end of a query of ours.
using query_done_fn = std::function<void(const data::query_result&)>;
/// A liveliness token appeared (alive) or went away.
using liveliness_fn =
    std::function<void(std::string_view key, const data::peer_id& node, bool alive)>;

/// Counters shown by `starling status`.
struct data_service_stats {
  std::uint64_t links_up = 0;
  std::uint64_t links_failed = 0;  ///< data streams reset for a protocol error
};

class data_service final : data::engine_sink {
 public:
  /// Registers the inbound handler of `/starling/data/1` on `h`.
  explicit data_service(host& h);
  ~data_service() override;
  data_service(const data_service&) = delete;
  data_service& operator=(const data_service&) = delete;

  /// The host identified `c`'s peer: opens our data stream when the peer serves the protocol
  /// and has no data link yet.
  void on_identified(const std::shared_ptr<connection>& c, const identify::info& info);

  /// Subscribes `fn` to `expr`. Errors: those of engine::declare_subscriber.
  result<std::uint64_t> subscribe(std::string_view expr, sample_fn fn);
  /// Subscribes like subscribe(expr, fn); with `latest_first`, `fn` first gets the current
  /// values: a query on `expr` (target all_complete, so only storages and other complete
  /// queryables are asked, consolidation latest, 5 s timeout) sent right after the
  /// subscription is declared. Its replies reach `fn` as puts with seq 0, the replying node as
  /// source and the reply's stamp. Live samples that arrive meanwhile are held (up to 1024 or
  /// 4 MiB; beyond that they are handed on at once) and handed on after the replies, except
  /// one whose key, value and encoding equal the reply for its key and whose stamp is not
  /// after the reply's: the storage had it already, so it is not given twice. Errors: those
  /// of subscribe(); a query that cannot be sent only means no current values.
  result<std::uint64_t> subscribe(std::string_view expr, sample_fn fn, bool latest_first);
  /// Ends a subscription (unknown ids are ignored).
  void unsubscribe(std::uint64_t id);
  /// Publishes (or deletes) `key`. Errors: those of engine::put. Safe to call from a
  /// subscription handler. The sample goes out with the others of this turn of the io_context
  /// (one posted flush batches every put of a handler into shared frames).
  result<void> put(std::string_view key, bytes_view payload, std::string_view encoding,
                   bool del = false);

  /// Declares a queryable; `fn` gets each query. Errors: those of engine::declare_queryable.
  result<std::uint64_t> declare_queryable(std::string_view expr, bool complete, query_fn fn);
  /// Ends a queryable (unknown ids are ignored).
  void undeclare_queryable(std::uint64_t id);
  /// Answers a query (engine::reply).
  result<void> reply(std::uint64_t handle, std::string_view key, bytes_view payload,
                     std::string_view encoding, bool error = false, std::uint64_t timestamp = 0);
  /// Finishes a query for one queryable (engine::reply_final).
  void reply_final(std::uint64_t handle);
  /// Sends a query; `on_reply` gets each reply, `on_done` the end (always called once, never
  /// from inside get()). Errors: those of engine::get.
  result<std::uint64_t> get(std::string_view selector, const data::query_options& opts,
                            reply_fn on_reply, query_done_fn on_done);

  /// Declares a liveliness token. Errors: those of engine::declare_token.
  result<std::uint64_t> declare_token(std::string_view key);
  /// Ends a token (unknown ids are ignored).
  void undeclare_token(std::uint64_t id);
  /// Watches tokens: `fn` gets the current ones at once (from inside this call), then each
  /// change. Errors: those of engine::watch_liveliness.
  result<std::uint64_t> watch_liveliness(std::string_view expr, liveliness_fn fn);
  /// Ends a watch (unknown ids are ignored).
  void unwatch_liveliness(std::uint64_t id);

  /// Declares a publisher on `key` with its own sequence and options (priority, congestion
  /// control, express, reliability, encoding). Errors: those of engine::declare_publisher.
  result<std::uint64_t> declare_publisher(std::string_view key, data::publisher_options opts = {});
  /// Ends a publisher (unknown ids are ignored); its history is freed.
  void undeclare_publisher(std::uint64_t id);
  /// Publishes on a declared publisher. Errors: those of engine::put (would_block when a
  /// blocking publisher meets a congested link: wait for the writable handler and retry).
  result<void> put(std::uint64_t publisher, bytes_view payload, bool del = false);

  /// Bytes of samples not yet taken by the muxers: waiting in the engine for room, or in the
  /// data streams' queues (over all links). A publisher that produces on its own keeps this
  /// low (say under 1 MiB) and continues when the writable handler runs; put() refuses only
  /// when a link is congested (8 MiB waiting) and the publisher blocks (would_block).
  std::size_t buffered() const;
  /// Called when a data stream's queue went down (after buffered() was high); one handler.
  void set_writable_handler(std::function<void()> fn) { m_writable = std::move(fn); }

  /// Checks every data operation against `guard` (node::membership::access()); nullptr: none.
  /// The guard must outlive the service or the next call.
  void set_access(data::access_guard* guard);
  /// The guard's answers changed: the engine re-evaluates what it holds (engine::access_changed).
  void access_changed();

  /// The engine (read-only: stats, routes).
  const data::engine& engine() const noexcept { return m_engine; }
  /// Peers with a data link up.
  std::vector<data::peer_id> links() const { return m_engine.links(); }

  struct peer_state;  ///< internal

  /// Internal, for the stream handlers.
  void stream_open(const data::peer_id& p, stream& s);
  void stream_data(const data::peer_id& p, stream& s, bytes_view data);
  void stream_closed(const data::peer_id& p, stream& s);
  void stream_writable() {
    if (m_engine.has_output()) flush();
    if (m_writable) m_writable();
  }

 private:
  void on_sample(std::uint64_t sub, const data::sample& s) override;
  void on_query(std::uint64_t queryable, const data::query_request& r) override;
  void on_reply(std::uint64_t qid, const data::reply_view& r) override;
  void on_query_done(std::uint64_t qid, const data::query_result& r) override;
  void on_liveliness(std::uint64_t watch, std::string_view key, const data::peer_id& node,
                     bool alive) override;
  void on_routing_event(const data::routing_event& e) override;
  void on_violation(const data::peer_id& peer, data::violation v) override;
  void flush();
  void flush_soon();
  void arm_timer();
  void fail_link(const data::peer_id& p, std::error_code ec);
  void maybe_reopen(const data::peer_id& p);

  host& m_host;
  data::engine m_engine;
  std::unordered_map<data::peer_id, std::unique_ptr<peer_state>> m_peers;
  std::unordered_map<std::uint64_t, sample_fn> m_subs;
  std::unordered_map<std::uint64_t, query_fn> m_queryables;
  struct query_handlers {
    reply_fn on_reply;
    query_done_fn on_done;
  };
  std::unordered_map<std::uint64_t, query_handlers> m_gets;
  std::unordered_map<std::uint64_t, liveliness_fn> m_watches;
  const liveliness_fn* m_installing = nullptr;  ///< the watch being declared
  boost::asio::steady_timer m_timer;
  time_point m_timer_at = no_deadline;  ///< when m_timer fires; no_deadline: not armed
  std::function<void()> m_writable;
  std::uint64_t m_dispatching = 0;  ///< the subscription whose handler runs
  std::vector<sample_fn> m_parked;  ///< handlers unsubscribed while one ran
  bool m_flush_posted = false;
  std::shared_ptr<bool> m_alive;
};

}  // namespace starling::node
