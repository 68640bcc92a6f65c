#pragma once
/// Liveliness: tokens that say "I am here" for as long as they are declared
/// (session::declare_token), and watchers that see them come and go
/// (session::watch_liveliness, session::liveliness_tokens).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "starling/declaration.hpp"
#include "starling/export.hpp"

namespace starling {

namespace lib {
class runtime;
}

/// A token as a watcher sees it. Tokens are per (key, node): two sessions with a token on the
/// same key are two tokens.
struct liveliness_token_info {
  std::string key;   ///< the token's key (no wildcards)
  std::string node;  ///< the peer id of the node (session) that declared it ("12D3KooW...")
};

/// A change a watcher sees.
struct liveliness_event {
  /// joined: the token was declared, or its node became reachable (also each token present
  /// when the watch starts); left: it was undeclared, or its node closed its session, or
  /// became unreachable (cut off, or dead: noticed within the dead-peer time of its
  /// neighbours).
  enum class kind { joined, left };
  kind what = kind::joined;
  liveliness_token_info token;
};

/// Called for each liveliness change, on the session's network thread (see sample_handler for
/// what a handler may do there).
using liveliness_handler = std::function<void(const liveliness_event&)>;

/// A liveliness token (session::declare_token): every matching watcher in the mesh sees it
/// join, and leave when the handle is destroyed, the session closes or the node is cut off.
/// Thread-safe.
class STARLING_API liveliness_token {
 public:
  /// An empty handle.
  liveliness_token() = default;
  /// Undeclares the token.
  ~liveliness_token();
  /// Takes over `other`'s token; `other` becomes empty.
  liveliness_token(liveliness_token&& other) noexcept;
  /// Undeclares this one and takes over `other`'s token.
  liveliness_token& operator=(liveliness_token&& other) noexcept;
  liveliness_token(const liveliness_token&) = delete;
  liveliness_token& operator=(const liveliness_token&) = delete;

  /// The key, canonical.
  const std::string& key() const noexcept { return m_decl.key(); }
  /// True unless empty or undeclared.
  explicit operator bool() const noexcept { return static_cast<bool>(m_decl); }
  /// Undeclares now (watchers see it leave); the handle becomes empty.
  void undeclare();

 private:
  friend class session;
  liveliness_token(std::shared_ptr<lib::runtime> rt, std::uint64_t id, std::string key);
  detail::declaration m_decl;
};

/// A watch on liveliness tokens (session::watch_liveliness). Destroying the handle ends the
/// watch: once the destructor (or undeclare()) has returned, the handler does not run again
/// (unless called from the handler itself, which then finishes its current call).
/// Thread-safe.
class STARLING_API liveliness_watcher {
 public:
  /// An empty handle.
  liveliness_watcher() = default;
  /// Ends the watch.
  ~liveliness_watcher();
  /// Takes over `other`'s watch; `other` becomes empty.
  liveliness_watcher(liveliness_watcher&& other) noexcept;
  /// Ends this watch and takes over `other`'s.
  liveliness_watcher& operator=(liveliness_watcher&& other) noexcept;
  liveliness_watcher(const liveliness_watcher&) = delete;
  liveliness_watcher& operator=(const liveliness_watcher&) = delete;

  /// The key expression watched, canonical.
  const std::string& key_expr() const noexcept { return m_decl.key(); }
  /// True unless empty or ended.
  explicit operator bool() const noexcept { return static_cast<bool>(m_decl); }
  /// Ends the watch now; the handle becomes empty.
  void undeclare();

 private:
  friend class session;
  liveliness_watcher(std::shared_ptr<lib::runtime> rt, std::uint64_t id, std::string expr);
  detail::declaration m_decl;
};

}  // namespace starling
