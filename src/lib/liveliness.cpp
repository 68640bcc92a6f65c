// The liveliness handles (include/starling/liveliness.hpp): each undeclares itself when it goes.
#include "starling/liveliness.hpp"

#include <utility>

#include "runtime.hpp"

namespace starling {

// ---- liveliness_token ----

liveliness_token::liveliness_token(std::shared_ptr<lib::runtime> rt, std::uint64_t id,
                                   std::string key)
    : m_decl(std::move(rt), id, std::move(key),
             [](lib::runtime& r, std::uint64_t token) { r.undeclare_token(token); }) {}

liveliness_token::~liveliness_token() = default;
liveliness_token::liveliness_token(liveliness_token&&) noexcept = default;
liveliness_token& liveliness_token::operator=(liveliness_token&&) noexcept = default;

void liveliness_token::undeclare() {
  m_decl.reset();
}

// ---- liveliness_watcher ----

liveliness_watcher::liveliness_watcher(std::shared_ptr<lib::runtime> rt, std::uint64_t id,
                                       std::string expr)
    : m_decl(std::move(rt), id, std::move(expr),
             [](lib::runtime& r, std::uint64_t watch) { r.unwatch_liveliness(watch); }) {}

liveliness_watcher::~liveliness_watcher() = default;
liveliness_watcher::liveliness_watcher(liveliness_watcher&&) noexcept = default;
liveliness_watcher& liveliness_watcher::operator=(liveliness_watcher&&) noexcept = default;

void liveliness_watcher::undeclare() {
  m_decl.reset();
}

}  // namespace starling
