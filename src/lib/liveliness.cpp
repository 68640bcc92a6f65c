// The liveliness handles (include/starling/liveliness.hpp): each undeclares itself when it goes.
#include "starling/liveliness.hpp"

#include <utility>

#include "runtime.hpp"

namespace starling {

// ---- liveliness_token ----

liveliness_token::liveliness_token(std::shared_ptr<lib::runtime> rt, std::uint64_t id,
                                   std::string key)
    : m_rt(std::move(rt)), m_id(id), m_key(std::move(key)) {}

liveliness_token::~liveliness_token() {
  undeclare();
}

liveliness_token::liveliness_token(liveliness_token&& other) noexcept
    : m_rt(std::move(other.m_rt)),
      m_id(std::exchange(other.m_id, 0)),
      m_key(std::move(other.m_key)) {}

liveliness_token& liveliness_token::operator=(liveliness_token&& other) noexcept {
  if (this != &other) {
    undeclare();
    m_rt = std::move(other.m_rt);
    m_id = std::exchange(other.m_id, 0);
    m_key = std::move(other.m_key);
  }
  return *this;
}

void liveliness_token::undeclare() {
  if (m_rt && m_id != 0) m_rt->undeclare_token(m_id);
  m_rt.reset();
  m_id = 0;
}

// ---- liveliness_watcher ----

liveliness_watcher::liveliness_watcher(std::shared_ptr<lib::runtime> rt, std::uint64_t id,
                                       std::string expr)
    : m_rt(std::move(rt)), m_id(id), m_expr(std::move(expr)) {}

liveliness_watcher::~liveliness_watcher() {
  undeclare();
}

liveliness_watcher::liveliness_watcher(liveliness_watcher&& other) noexcept
    : m_rt(std::move(other.m_rt)),
      m_id(std::exchange(other.m_id, 0)),
      m_expr(std::move(other.m_expr)) {}

liveliness_watcher& liveliness_watcher::operator=(liveliness_watcher&& other) noexcept {
  if (this != &other) {
    undeclare();
    m_rt = std::move(other.m_rt);
    m_id = std::exchange(other.m_id, 0);
    m_expr = std::move(other.m_expr);
  }
  return *this;
}

void liveliness_watcher::undeclare() {
  if (m_rt && m_id != 0) m_rt->unwatch_liveliness(m_id);
  m_rt.reset();
  m_id = 0;
}

}  // namespace starling
