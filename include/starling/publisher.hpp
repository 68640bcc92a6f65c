#pragma once
/// A publisher: a handle that publishes on one key.

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "starling/export.hpp"
#include "starling/result.hpp"

namespace starling {

namespace lib {
class runtime;
}

/// Publishes puts and deletes on one key (declared with session::declare_publisher). Every
/// method is thread-safe and may also be called from a handler on the network thread
/// (wait_matched excepted). Destroying the handle undeclares it; a handle whose session was
/// closed answers every call with errc::closed.
///
/// Samples are reliable end to end: a subscriber that the mesh knows of gets each sample once,
/// in order. A sample published before any matching subscription is known reaches nobody (no
/// history yet); matched() and wait_matched() tell when someone listens.
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
  const std::string& key() const noexcept { return m_key; }
  /// True unless empty or undeclared.
  explicit operator bool() const noexcept { return static_cast<bool>(m_rt); }

  /// Publishes `payload` (at most 512 KiB) with `encoding` (a content type such as
  /// "text/plain"; empty: the publisher's default encoding). Queued for the network thread
  /// and sent with the others of its turn; local subscribers get it too. Errors: refused
  /// (payload too large), closed.
  result<void> put(std::span<const std::byte> payload, std::string_view encoding = {});
  /// The same, with the payload as text.
  result<void> put(std::string_view payload, std::string_view encoding = {});
  /// Publishes a delete of the key. Errors: closed.
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
  publisher(std::shared_ptr<lib::runtime> rt, std::string key, std::string encoding);
  std::shared_ptr<lib::runtime> m_rt;
  std::string m_key;
  std::string m_encoding;
};

}  // namespace starling
