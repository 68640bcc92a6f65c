#pragma once
/// Answering queries: a queryable (session::declare_queryable) and the queries it receives.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "starling/declaration.hpp"
#include "starling/export.hpp"
#include "starling/result.hpp"

namespace starling {

namespace lib {
class runtime;
struct query_state;
}  // namespace lib

/// One query for a queryable: what was asked, and the way to answer. Answer with reply() any
/// number of times (also none), then finish: finish() or destroying the object tells the
/// querier that this queryable is done, so a get ends as soon as every queryable asked has
/// finished instead of waiting for its timeout.
///
/// A query may be answered later and from any thread: move it out of the handler (into a
/// queue, a thread, a lambda) and reply when the answer is ready. reply(), reply_error() and
/// finish() are thread-safe, also concurrently on one object. A query not finished within the
/// get's timeout (at most 5 min) has ended anyway: reply() then answers errc::closed. Once
/// its session is closed, every call answers errc::closed.
class STARLING_API query {
 public:
  /// An empty query (every call answers errc::closed).
  query() = default;
  /// Finishes the query (see finish()).
  ~query();
  /// Takes over `other`'s query; `other` becomes empty.
  query(query&& other) noexcept;
  /// Finishes this query and takes over `other`'s.
  query& operator=(query&& other) noexcept;
  query(const query&) = delete;
  query& operator=(const query&) = delete;

  /// The selector's key expression, canonical (e.g. "building/floor1/blinds/*"); empty for an
  /// empty query.
  const std::string& key_expr() const noexcept;
  /// The selector's parameters, the text after '?' ("level=3" for "cmd/blinds?level=3"), or
  /// "".
  const std::string& parameters() const noexcept;
  /// The value sent with the query (get_options::payload), if any.
  const std::optional<std::vector<std::byte>>& payload() const noexcept;
  /// The payload as text ("" when there is none; a view into payload(), no UTF-8 check).
  std::string_view text() const noexcept;
  /// The peer id of the node that sent the query ("12D3KooW...").
  const std::string& querier() const noexcept;
  /// True when `key` is one the selector matches, so that a reply on it is accepted (e.g.
  /// "building/floor1/blinds/east" for "building/floor1/blinds/*"). False for an empty query
  /// or a bad key.
  bool matches(std::string_view key) const;
  /// True until finished (and false for an empty or moved-from query).
  explicit operator bool() const noexcept;

  /// Sends a reply on `key`, which the selector must match (a key of its own, no wildcards),
  /// with `payload` (at most 512 KiB) and `encoding` (a content type, "" for none). Errors:
  /// invalid_argument (a bad key, or one the selector does not match), refused (payload too
  /// large), closed (finished, ended, or the session closed).
  result<void> reply(std::string_view key, std::span<const std::byte> payload,
                     std::string_view encoding = {});
  /// The same, with the payload as text.
  result<void> reply(std::string_view key, std::string_view payload,
                     std::string_view encoding = {});
  /// Sends an error reply on `key` (as reply()): the querier sees reply::is_error, and the
  /// payload says what went wrong. Errors: as reply().
  result<void> reply_error(std::string_view key, std::span<const std::byte> payload,
                           std::string_view encoding = {});
  /// The same, with the message as text.
  result<void> reply_error(std::string_view key, std::string_view message,
                           std::string_view encoding = {});
  /// This queryable has answered: the querier stops waiting for it. Idempotent; later
  /// replies answer errc::closed.
  void finish();

 private:
  friend class session;
  explicit query(std::shared_ptr<lib::query_state> state);
  std::shared_ptr<lib::query_state> m_state;
};

/// Called for each query, on the session's network thread (see sample_handler for what a
/// handler may do there). The handler owns the query: when it returns without moving the query
/// elsewhere, the query is finished.
using query_handler = std::function<void(query)>;

/// A queryable (session::declare_queryable). Destroying the handle undeclares it: once the
/// destructor (or undeclare()) has returned, the handler does not run again (unless called
/// from the handler itself, which then finishes its current call). Queries already handed
/// out can still be answered. Thread-safe.
class STARLING_API queryable {
 public:
  /// An empty handle.
  queryable() = default;
  /// Undeclares the queryable.
  ~queryable();
  /// Takes over `other`'s declaration; `other` becomes empty.
  queryable(queryable&& other) noexcept;
  /// Undeclares this one and takes over `other`'s declaration.
  queryable& operator=(queryable&& other) noexcept;
  queryable(const queryable&) = delete;
  queryable& operator=(const queryable&) = delete;

  /// The key expression, canonical.
  const std::string& key_expr() const noexcept { return m_decl.key(); }
  /// True unless empty or undeclared.
  explicit operator bool() const noexcept { return static_cast<bool>(m_decl); }
  /// Undeclares now; the handle becomes empty.
  void undeclare();

 private:
  friend class session;
  queryable(std::shared_ptr<lib::runtime> rt, std::uint64_t id, std::string expr);
  detail::declaration m_decl;
};

}  // namespace starling
