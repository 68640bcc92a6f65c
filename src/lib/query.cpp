// The query-side handles (include/starling/query.hpp): a query answers through the runtime
// with its handle; a queryable undeclares itself when it goes.
#include "starling/query.hpp"

#include <utility>

#include "query_state.hpp"
#include "runtime.hpp"

namespace starling {

namespace {

const std::string empty_text;
const std::optional<std::vector<std::byte>> no_payload;

std::span<const std::byte> text_bytes(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

result<void> answer(const std::shared_ptr<lib::query_state>& st, std::string_view key,
                    std::span<const std::byte> payload, std::string_view encoding, bool is_error) {
  if (!st) return lib::runtime::closed_error();
  {
    // Not held while the reply is sent: that waits for the network thread, which may be
    // running a handler that finishes this very query.
    std::lock_guard lk(st->mu);
    if (st->finished) {
      return error(errc::closed, "cannot reply on " + std::string(key) + ": the query is finished");
    }
  }
  // A finish() from another thread may overtake it; the reply is then refused (closed).
  if (auto e = st->rt->reply(st->q.handle, key, payload, encoding, is_error)) return *e;
  return {};
}

}  // namespace

// ---- query ----

query::query(std::shared_ptr<lib::query_state> state) : m_state(std::move(state)) {}

query::~query() {
  finish();
}

query::query(query&& other) noexcept : m_state(std::move(other.m_state)) {}

query& query::operator=(query&& other) noexcept {
  if (this != &other) {
    finish();
    m_state = std::move(other.m_state);
  }
  return *this;
}

const std::string& query::key_expr() const noexcept {
  return m_state ? m_state->q.selector : empty_text;
}

const std::string& query::parameters() const noexcept {
  return m_state ? m_state->q.parameters : empty_text;
}

const std::optional<std::vector<std::byte>>& query::payload() const noexcept {
  return m_state ? m_state->q.payload : no_payload;
}

std::string_view query::text() const noexcept {
  const auto& p = payload();
  if (!p) return {};
  return {reinterpret_cast<const char*>(p->data()), p->size()};
}

const std::string& query::querier() const noexcept {
  return m_state ? m_state->q.querier : empty_text;
}

bool query::matches(std::string_view key) const {
  return m_state && lib::runtime::matches(m_state->q.selector, key);
}

query::operator bool() const noexcept {
  if (!m_state) return false;
  std::lock_guard lk(m_state->mu);
  return !m_state->finished;
}

result<void> query::reply(std::string_view key, std::span<const std::byte> payload,
                          std::string_view encoding) {
  return answer(m_state, key, payload, encoding, false);
}

result<void> query::reply(std::string_view key, std::string_view payload,
                          std::string_view encoding) {
  return answer(m_state, key, text_bytes(payload), encoding, false);
}

result<void> query::reply_error(std::string_view key, std::span<const std::byte> payload,
                                std::string_view encoding) {
  return answer(m_state, key, payload, encoding, true);
}

result<void> query::reply_error(std::string_view key, std::string_view message,
                                std::string_view encoding) {
  return answer(m_state, key, text_bytes(message), encoding, true);
}

void query::finish() {
  if (!m_state) return;
  {
    std::lock_guard lk(m_state->mu);
    if (m_state->finished) return;
    m_state->finished = true;
  }
  m_state->rt->reply_final(m_state->q.handle);
}

// ---- queryable ----

queryable::queryable(std::shared_ptr<lib::runtime> rt, std::uint64_t id, std::string expr)
    : m_decl(std::move(rt), id, std::move(expr),
             [](lib::runtime& r, std::uint64_t q) { r.undeclare_queryable(q); }) {}

queryable::~queryable() = default;
queryable::queryable(queryable&&) noexcept = default;
queryable& queryable::operator=(queryable&&) noexcept = default;

void queryable::undeclare() {
  m_decl.reset();
}

}  // namespace starling
