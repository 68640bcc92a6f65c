#pragma once
/// What the declared handles have in common (publisher, subscriber, queryable,
/// liveliness_token, liveliness_watcher): each owns one declaration in its session, on a key
/// or key expression, and withdraws it when it goes. An implementation detail of those
/// classes; applications use the handles.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace starling {

namespace lib {
class runtime;
}

namespace detail {

/// One declaration, owned alone: destroying it, assigning another over it or reset()
/// undeclares it (once); moving hands it over and leaves the source empty. Empty when
/// default-constructed, moved from or reset. Not thread-safe by itself: the handles that hold
/// one say what they allow.
class declaration {
 public:
  /// Withdraws declaration `id` from the session's runtime (e.g. its undeclare_publisher).
  using undeclare_fn = void (*)(lib::runtime& rt, std::uint64_t id);

  /// An empty declaration.
  declaration() = default;
  /// Owns declaration `id` of `rt` on `key`; `undeclare` withdraws it.
  declaration(std::shared_ptr<lib::runtime> rt, std::uint64_t id, std::string key,
              undeclare_fn undeclare) noexcept
      : m_rt(std::move(rt)), m_id(id), m_key(std::move(key)), m_undeclare(undeclare) {}
  /// Undeclares.
  ~declaration() { reset(); }
  /// Takes over `other`'s declaration; `other` becomes empty.
  declaration(declaration&& other) noexcept
      : m_rt(std::move(other.m_rt)),
        m_id(std::exchange(other.m_id, 0)),
        m_key(std::move(other.m_key)),
        m_undeclare(other.m_undeclare) {}
  /// Undeclares this one and takes over `other`'s declaration (nothing on self-assignment).
  declaration& operator=(declaration&& other) noexcept {
    if (this != &other) {
      reset();
      m_rt = std::move(other.m_rt);
      m_id = std::exchange(other.m_id, 0);
      m_key = std::move(other.m_key);
      m_undeclare = other.m_undeclare;
    }
    return *this;
  }
  declaration(const declaration&) = delete;
  declaration& operator=(const declaration&) = delete;

  /// Undeclares now (when declared); the declaration becomes empty, key() stays.
  void reset() {
    if (m_rt && m_id != 0) m_undeclare(*m_rt, m_id);
    m_rt.reset();
    m_id = 0;
  }

  /// True unless empty.
  explicit operator bool() const noexcept { return static_cast<bool>(m_rt); }
  /// The session's runtime; null when empty.
  lib::runtime* rt() const noexcept { return m_rt.get(); }
  /// The declaration's id in the runtime; 0 when empty.
  std::uint64_t id() const noexcept { return m_id; }
  /// The key or key expression it was declared on (canonical).
  const std::string& key() const noexcept { return m_key; }

 private:
  std::shared_ptr<lib::runtime> m_rt;
  std::uint64_t m_id = 0;
  std::string m_key;
  undeclare_fn m_undeclare = nullptr;
};

}  // namespace detail

}  // namespace starling
