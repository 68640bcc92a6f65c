#pragma once
/// A subscriber: a handle that receives the samples whose keys match a key expression.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "starling/declaration.hpp"
#include "starling/export.hpp"
#include "starling/result.hpp"
#include "starling/sample.hpp"

namespace starling {

namespace lib {
class runtime;
class sample_queue;
}  // namespace lib

/// Called for each sample, on the session's network thread: return quickly and do not block
/// (no sleeping, no waiting on other threads, no blocking I/O): every connection of the session
/// waits while it runs. A handler may call put() and del() of any handle, reply to queries, send
/// a get with callbacks, declare and undeclare, and may destroy its own subscriber (queryable,
/// watcher); calls that wait (recv, wait_matched, session::connect, the blocking get, a blocking
/// publisher's put on a congested link) answer errc::would_block there.
using sample_handler = std::function<void(const sample&)>;

/// Options of a pull-mode subscriber.
struct subscriber_options {
  /// Samples kept until recv() takes them (at least 1). When the queue is full, the oldest
  /// sample is dropped to make room and counted in subscriber::dropped(): a slow reader sees
  /// the newest values, and the network thread never waits for it.
  std::size_t queue_capacity = 1024;
};

/// Receives samples, either through a handler (session::declare_subscriber with a handler) or
/// pulled from a bounded queue (recv(), try_recv()). Destroying the handle undeclares it: once
/// the destructor (or undeclare()) has returned, the handler does not run again (unless it is
/// called from the handler itself, which then finishes its current call). Thread-safe.
class STARLING_API subscriber {
 public:
  /// An empty handle.
  subscriber() = default;
  /// Undeclares the subscription.
  ~subscriber();
  /// Takes over `other`'s subscription; `other` becomes empty.
  subscriber(subscriber&& other) noexcept;
  /// Undeclares this one and takes over `other`'s subscription.
  subscriber& operator=(subscriber&& other) noexcept;
  subscriber(const subscriber&) = delete;
  subscriber& operator=(const subscriber&) = delete;

  /// The key expression, in canonical form (e.g. "home/**/temp").
  const std::string& key_expr() const noexcept { return m_decl.key(); }
  /// True unless empty or undeclared.
  explicit operator bool() const noexcept { return static_cast<bool>(m_decl); }

  /// Pull mode: the oldest queued sample, waiting up to `timeout` for one. Errors: timeout,
  /// closed (the session closed and the queue is empty), invalid_argument (this subscriber
  /// has a handler), would_block (called on the network thread).
  result<sample> recv(std::chrono::milliseconds timeout);
  /// Pull mode: the oldest queued sample, if any; never waits.
  std::optional<sample> try_recv();
  /// Pull mode: samples dropped because the queue was full (the oldest ones), in all.
  std::uint64_t dropped() const;

  /// Undeclares now; the handle becomes empty.
  void undeclare();

 private:
  friend class session;
  subscriber(std::shared_ptr<lib::runtime> rt, std::uint64_t id, std::string expr,
             std::shared_ptr<lib::sample_queue> queue);
  detail::declaration m_decl;
  std::shared_ptr<lib::sample_queue> m_queue;  ///< pull mode only
};

}  // namespace starling
