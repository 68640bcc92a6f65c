#pragma once
// Internal to libstarling: the embedded node behind a session, and the queue of a pull-mode
// subscriber. This header is the seam between the public API (include/starling) and the node
// layer: it uses only standard types and the public error and sample types, so that the API's
// translation units never see internal headers, and runtime.cpp never sees the public
// starling::result (the node layer has its own starling::result, decision 0001).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/system/result.hpp>

#include "starling/error.hpp"
#include "starling/network.hpp"
#include "starling/publisher_options.hpp"
#include "starling/reply.hpp"
#include "starling/sample.hpp"

namespace starling::node {
class membership;
struct detailed_error;
}  // namespace starling::node

namespace starling::lib {

/// An error or nothing (what runtime calls return).
using status = std::optional<error>;

/// The bounded queue of a pull-mode subscriber: filled on the network thread, drained by any
/// thread. Full: the oldest sample goes.
class sample_queue {
 public:
  explicit sample_queue(std::size_t capacity) : m_capacity(capacity) {}
  /// Adds `s`, dropping the oldest sample when full.
  void push(sample&& s);
  /// The oldest sample, if any.
  std::optional<sample> try_pop();
  /// Waits up to `timeout` for a sample. Errors: timeout, closed (closed and empty).
  status wait_pop(std::chrono::milliseconds timeout, std::optional<sample>& out);
  /// No more samples will come: wakes the waiters.
  void close();
  /// Samples dropped so far.
  std::uint64_t dropped() const;

 private:
  mutable std::mutex m_mu;
  std::condition_variable m_cv;
  std::deque<sample> m_items;
  std::size_t m_capacity;
  std::uint64_t m_dropped = 0;
  bool m_closed = false;
};

/// A query for one of our queryables, owned (the public starling::query is made from it).
struct incoming_query {
  std::uint64_t handle = 0;  ///< for reply() and reply_final()
  std::string selector;
  std::string parameters;
  std::optional<std::vector<std::byte>> payload;
  std::string querier;  ///< the querying node's peer id
};

/// How to start a runtime (session_options, copied field by field by session.cpp).
struct runtime_options {
  std::string data_dir;
  std::vector<std::string> listen;
  std::vector<std::string> connect;
  bool mdns = false;
  std::vector<std::string> mdns_interfaces;
  std::chrono::milliseconds connect_timeout{5000};
  std::string log_level = "warn";
};

/// One embedded node: an io_context run by one thread of ours, a node::host and a
/// node::data_service on it, wired as `starling node` wires them. Every public method may be
/// called from any thread; those that need the node run on the network thread (posted, and
/// waited for), or directly when already on it.
class runtime : public std::enable_shared_from_this<runtime> {
 public:
  struct net;  ///< what lives on the network thread (runtime.cpp)

  /// Starts the thread and the node, then dials options.connect. On an error, everything is
  /// stopped again and `err` says why.
  static std::shared_ptr<runtime> start(const runtime_options& options, status& err);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  /// Shuts the node down (gracefully, at most 500 ms) and stops the thread; idempotent. From
  /// the network thread itself it only starts the shutdown (the thread ends on its own).
  void close();
  /// True once close() has been called.
  bool closed() const;
  /// True on the network thread.
  bool on_network_thread() const noexcept { return std::this_thread::get_id() == m_thread_id; }

  /// Our peer id (fixed for the runtime's life).
  const std::string& peer_id() const noexcept { return m_peer_id; }
  std::vector<std::string> listen_addrs();
  std::vector<std::string> peers();
  status connect(std::string_view multiaddr);

  /// True when key expression `expr` matches `key` (both valid).
  static bool matches(std::string_view expr, std::string_view key);
  /// Validates `key` (no wildcards), giving the parser's message.
  static status check_key(std::string_view key);
  status put(std::string_view key, std::span<const std::byte> payload, std::string_view encoding,
             bool del);
  /// Subscribes `fn` (runs on the network thread); fills `id` and the canonical expression.
  status subscribe(std::string_view expr, std::function<void(const sample&)> fn, std::uint64_t& id,
                   std::string& canonical);
  /// Subscribes a pull-mode queue.
  status subscribe(std::string_view expr, const std::shared_ptr<sample_queue>& queue,
                   std::uint64_t& id, std::string& canonical);
  void unsubscribe(std::uint64_t id);
  /// Declares a publisher on `key` with `options`; fills `id`.
  status declare_publisher(std::string_view key, const publisher_options& options,
                           std::uint64_t& id);
  void undeclare_publisher(std::uint64_t id);
  /// Publishes on declared publisher `id` (on `key`, for messages). A blocking publisher
  /// waits while a link is congested (off the network thread; at most 10 s).
  status put(std::uint64_t id, const std::string& key, std::span<const std::byte> payload,
             bool del);

  /// Declares a queryable; `fn` runs on the network thread for each query.
  status declare_queryable(std::string_view expr, bool complete,
                           std::function<void(incoming_query&&)> fn, std::uint64_t& id,
                           std::string& canonical);
  void undeclare_queryable(std::uint64_t id);
  /// Answers query `handle`.
  status reply(std::uint64_t handle, std::string_view key, std::span<const std::byte> payload,
               std::string_view encoding, bool is_error);
  /// Finishes query `handle` (ignored once closed).
  void reply_final(std::uint64_t handle);
  /// Sends a get; `on_reply` and `on_done` run on the network thread, `on_done` exactly once
  /// (with get_end::closed when the runtime closes first).
  status get(std::string_view selector, const get_options& options,
             std::function<void(starling::reply&&)> on_reply,
             std::function<void(const get_done&)> on_done);

  /// Declares a liveliness token; fills `id` and the canonical key.
  status declare_token(std::string_view key, std::uint64_t& id, std::string& canonical);
  void undeclare_token(std::uint64_t id);
  /// Watches tokens: fn(key, node, alive) on the network thread.
  status watch_liveliness(std::string_view expr,
                          std::function<void(std::string_view, std::string_view, bool)> fn,
                          std::uint64_t& id, std::string& canonical);
  void unwatch_liveliness(std::uint64_t id);
  /// The current tokens matching `expr`, as (key, node).
  status liveliness_tokens(std::string_view expr,
                           std::vector<std::pair<std::string, std::string>>& out);

  /// A subscription matching `key` is known (ours or a reachable node's).
  bool matched(const std::string& key);
  status wait_matched(const std::string& key, std::chrono::milliseconds timeout);

  // Membership (session.hpp documents each); invalid_argument without a data directory.
  status network(network_info& out);
  status create_network(std::string_view name, network_info& out);
  status invite(std::string_view role, std::chrono::seconds ttl, std::string& code);
  /// Waits (off the network thread) until the join ends, at most 5 minutes.
  status join(std::string_view code, const std::vector<std::string>& addrs);
  status members(std::vector<member_info>& out);
  status revoke(std::string_view peer_id);
  status set_roles(std::string_view peer_id, const std::vector<std::string>& roles);
  status set_policy(std::string_view toml);
  status explain(std::string_view peer_id, std::string_view op, std::string_view key,
                 std::string& out);

  /// The error a call on a closed runtime gets.
  static error closed_error();
  /// The error a waiting call on the network thread gets.
  static error would_block_error(const char* what);

 private:
  runtime();
  /// Runs `fn` with the node's membership service on the network thread. Errors:
  /// invalid_argument (the session has no data_dir), closed.
  status with_membership(const std::function<status(node::membership&)>& fn);
  /// A membership error as the public one.
  static error membership_error(const node::detailed_error& e);
  /// nullopt, or the membership error as the public one.
  static status from(const boost::system::result<void, node::detailed_error>& r);
  /// Runs `fn` on the network thread and waits for it; false when the runtime is closed.
  bool run(const std::function<void()>& fn);
  /// Subscribes `fn`, which gets each sample as its own copy.
  status subscribe_owned(std::string_view expr, std::function<void(sample&&)> fn, std::uint64_t& id,
                         std::string& canonical);
  void thread_main();

  std::unique_ptr<net> m_net;
  std::thread m_thread;
  std::thread::id m_thread_id;
  std::string m_peer_id;
  std::chrono::milliseconds m_connect_timeout{5000};
  mutable std::mutex m_mu;
  bool m_closing = false;
  std::vector<std::weak_ptr<sample_queue>> m_queues;
  std::shared_ptr<runtime> m_keep;  ///< holds us while the thread ends after a close() on it
  // Blocking publishers wait here while a link is congested; the data service's writable
  // handler bumps the generation.
  std::mutex m_room_mu;
  std::condition_variable m_room_cv;
  std::uint64_t m_room_gen = 0;
};

}  // namespace starling::lib
