// The runtime's queries (queryables, replies, gets) and liveliness (tokens, watches): each call
// checked on the caller's thread, then run on the network thread against node::data_service.
#include <algorithm>
#include <utility>

#include "runtime.hpp"
#include "runtime_net.hpp"

namespace starling::lib {

using namespace detail;

// ---- queries ----

bool runtime::matches(std::string_view expr, std::string_view key) {
  auto x = keyexpr::keyexpr::parse(expr);
  auto k = keyexpr::key::parse(key);
  return x && k && keyexpr::matches(*x, *k);
}

status runtime::declare_queryable(std::string_view expr, bool complete,
                                  std::function<void(incoming_query&&)> fn, std::uint64_t& id,
                                  std::string& canonical) {
  if (auto e = parse_expr(expr, canonical)) return e;
  status out;
  const bool ran = run([&] {
    auto r = m_net->svc->declare_queryable(
        canonical, complete, [fn = std::move(fn)](const data::query_request& q) {
          incoming_query in;
          in.handle = q.handle;
          in.selector = std::string(q.selector);
          in.parameters = std::string(q.parameters);
          if (q.payload) {
            const auto* p = reinterpret_cast<const std::byte*>(q.payload->data());
            in.payload.emplace(p, p + q.payload->size());
          }
          if (q.origin) in.querier = q.origin->to_string();
          guarded("query", [&] { fn(std::move(in)); });
        });
    if (!r) {
      out = data_error(r.error(), "cannot declare a queryable on " + canonical);
    } else {
      id = *r;
    }
  });
  if (!ran) return closed_error();
  return out;
}

void runtime::undeclare_queryable(std::uint64_t id) {
  run([&] { m_net->svc->undeclare_queryable(id); });
}

status runtime::reply(std::uint64_t handle, std::string_view key,
                      std::span<const std::byte> payload, std::string_view encoding,
                      bool is_error) {
  if (auto e = check_key(key)) return e;
  if (auto e = payload_limit(payload.size())) return e;
  if (auto e = encoding_limit(encoding)) return e;
  status out;
  const bool ran = run([&] {
    auto r = m_net->svc->reply(handle, key, as_view(payload), encoding, is_error);
    if (!r && r.error() == data::engine_errc::unknown_query) {
      out = starling::error(errc::closed, "cannot reply on " + std::string(key) +
                                              ": the query has ended (its get timed out or "
                                              "its node went away)");
    } else if (!r) {
      out = data_error(r.error(), "cannot reply on " + std::string(key));
    }
  });
  if (!ran) return closed_error();
  return out;
}

void runtime::reply_final(std::uint64_t handle) {
  run([&] { m_net->svc->reply_final(handle); });
}

status runtime::get(std::string_view selector, const get_options& o,
                    std::function<void(starling::reply&&)> on_reply,
                    std::function<void(const get_done&)> on_done) {
  const auto q = selector.find('?');
  std::string canonical;
  if (auto e = parse_expr(selector.substr(0, q), canonical)) return e;
  data::query_options d;
  if (q != std::string_view::npos) d.parameters = std::string(selector.substr(q + 1));
  if (d.parameters.size() > data::max_parameters) {
    return error(errc::invalid_argument, "parameters of " + std::to_string(d.parameters.size()) +
                                             " bytes are over the limit of " +
                                             std::to_string(data::max_parameters) + " bytes");
  }
  if (o.timeout <= 0ms || o.timeout > 5min) {
    return error(errc::invalid_argument, "a get's timeout must be 1 ms to 5 min, not " +
                                             std::to_string(o.timeout.count()) + " ms");
  }
  if (o.payload) {
    if (auto e = payload_limit(o.payload->size())) return e;
    const auto* p = reinterpret_cast<const std::uint8_t*>(o.payload->data());
    d.payload.emplace(p, p + o.payload->size());
  }
  d.target = static_cast<data::query_target>(static_cast<int>(o.target));
  d.consolidate = o.consolidate == consolidation::latest ? data::consolidation::latest
                                                         : data::consolidation::none;
  d.timeout = o.timeout;
  auto pending = std::make_shared<net::pending_get>();
  pending->on_reply = std::move(on_reply);
  pending->on_done = std::move(on_done);
  status out;
  const bool ran = run([&] {
    net& n = *m_net;
    const std::uint64_t local = n.next_get++;
    auto r = n.svc->get(
        canonical, d,
        [pending](const data::reply_view& v) {
          starling::reply owned;
          owned.key = std::string(v.key);
          const auto* p = reinterpret_cast<const std::byte*>(v.payload.data());
          owned.payload.assign(p, p + v.payload.size());
          owned.encoding = std::string(v.encoding);
          if (v.from) owned.source = v.from->to_string();
          owned.timestamp = v.timestamp;
          owned.is_error = v.error;
          guarded("reply", [&] { pending->on_reply(std::move(owned)); });
        },
        [this, &n, local](const data::query_result& res) {
          auto it = n.gets.find(local);
          if (it == n.gets.end()) return;
          auto g = std::move(it->second);
          n.gets.erase(it);
          get_done done;
          // Nodes that "went away" while we close were cut off by us: the session closed.
          done.reason = closed()               ? get_end::closed
                        : res.nodes_asked == 0 ? get_end::no_queryable
                        : res.timed_out        ? get_end::timeout
                                               : get_end::complete;
          done.replies = res.replies;
          done.nodes_asked = res.nodes_asked;
          done.nodes_answered = res.nodes_answered;
          done.nodes_gone = res.nodes_gone;
          guarded("get", [&] { g->on_done(done); });
        });
    if (!r) {
      out = data_error(r.error(), "cannot send a get on " + canonical);
    } else {
      n.gets.emplace(local, pending);
    }
  });
  if (!ran) return closed_error();
  return out;
}

// ---- liveliness ----

status runtime::declare_token(std::string_view key, std::uint64_t& id, std::string& canonical) {
  if (auto e = check_key(key)) return e;
  if (auto e = parse_expr(key, canonical)) return e;
  status out;
  const bool ran = run([&] {
    auto r = m_net->svc->declare_token(canonical);
    if (!r) {
      out = data_error(r.error(), "cannot declare a token on " + canonical);
    } else {
      id = *r;
    }
  });
  if (!ran) return closed_error();
  return out;
}

void runtime::undeclare_token(std::uint64_t id) {
  run([&] { m_net->svc->undeclare_token(id); });
}

status runtime::watch_liveliness(std::string_view expr,
                                 std::function<void(std::string_view, std::string_view, bool)> fn,
                                 std::uint64_t& id, std::string& canonical) {
  if (auto e = parse_expr(expr, canonical)) return e;
  status out;
  const bool ran = run([&] {
    auto r = m_net->svc->watch_liveliness(
        canonical,
        [fn = std::move(fn)](std::string_view key, const data::peer_id& node, bool alive) {
          const std::string who = node.to_string();
          guarded("liveliness", [&] { fn(key, who, alive); });
        });
    if (!r) {
      out = data_error(r.error(), "cannot watch " + canonical);
    } else {
      id = *r;
    }
  });
  if (!ran) return closed_error();
  return out;
}

void runtime::unwatch_liveliness(std::uint64_t id) {
  run([&] { m_net->svc->unwatch_liveliness(id); });
}

status runtime::liveliness_tokens(std::string_view expr,
                                  std::vector<std::pair<std::string, std::string>>& out) {
  std::string canonical;
  if (auto e = parse_expr(expr, canonical)) return e;
  status err;
  const bool ran = run([&] {
    auto r = m_net->svc->engine().liveliness_tokens(canonical);
    if (!r) {
      err = data_error(r.error(), "cannot list the tokens of " + canonical);
      return;
    }
    for (const auto& [key, node] : *r)
      out.emplace_back(key, node.to_string());
  });
  if (!ran) return closed_error();
  return err;
}

}  // namespace starling::lib
