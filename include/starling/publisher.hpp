#pragma once
/// A publisher: a handle that publishes on one key.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "starling/declaration.hpp"
#include "starling/export.hpp"
#include "starling/publisher_options.hpp"
#include "starling/result.hpp"

namespace starling {

namespace lib {
class runtime;
}

/// Publishes puts and deletes on one key (declared with session::declare_publisher, with its
/// publisher_options: reliability, priority, congestion control, express, encoding). Its
/// samples carry their own sequence numbers (sample::publisher, sample::seq). Every method is
/// thread-safe and may also be called from a handler on the network thread (wait_matched
/// excepted). Destroying the handle undeclares it (the source's history of its samples is
/// freed); a handle whose session was closed answers every call with errc::closed.
///
/// A reliable publisher's samples are reliable end to end: a subscriber that the mesh knows of
/// gets each sample once, in order. A sample published before any matching subscription is
/// known reaches nobody (no history yet); matched() and wait_matched() tell when someone
/// listens.
class STARLING_API publisher {
 public:
  /// An empty handle (every call answers errc::closed).
  publisher() = default;
  /// Undeclares the publisher.
  ~publisher();
  /// Takes over `other`'s declaration; `other` becomes empty.
  publisher(publisher&& other) noexcept;
  /// Undeclares this one and takes over `other`'s declaration.
  publisher& operator=(publisher&& other) noexcept;
  publisher(const publisher&) = delete;
  publisher& operator=(const publisher&) = delete;

  /// The key (as declared; no wildcards).
  const std::string& key() const noexcept { return m_decl.key(); }
  /// True unless empty or undeclared.
  explicit operator bool() const noexcept { return static_cast<bool>(m_decl); }

  /// The options it was declared with.
  const publisher_options& options() const noexcept { return m_options; }

  /// Publishes `payload` (at most 512 KiB) with the publisher's encoding. Sent with the others
  /// of the network thread's turn (at once when express); local subscribers get it before
  /// put() returns. Errors: refused (payload too large), timeout (congestion_control::block
  /// and a link stayed congested for 10 s), would_block (the same, called from a handler),
  /// closed.
  result<void> put(std::span<const std::byte> payload);
  /// The same, with the payload as text.
  result<void> put(std::string_view payload);
  /// Publishes a delete of the key. Errors: as put().
  result<void> del();

  /// True when a subscription that matches the key is known, in this session or on a
  /// reachable node. (False on an empty handle or a closed session.)
  bool matched() const;
  /// Waits until matched() holds. Errors: timeout, closed, would_block (called from a
  /// handler: the network thread must not wait).
  result<void> wait_matched(std::chrono::milliseconds timeout);

  /// Undeclares now; the handle becomes empty.
  void undeclare();

 private:
  friend class session;
  publisher(std::shared_ptr<lib::runtime> rt, std::uint64_t id, std::string key,
            publisher_options options);
  detail::declaration m_decl;
  publisher_options m_options;
};

}  // namespace starling
