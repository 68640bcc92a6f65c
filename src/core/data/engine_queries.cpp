// The data engine's queries (request/reply) and liveliness tokens and watches
// (docs/protocols/data.md, "Queries", "Liveliness").
#include <algorithm>

#include "core/data/engine_internal.hpp"

namespace starling::data {

using namespace detail;

// ---- queries ----

result<std::uint64_t> engine::declare_queryable(std::string_view expr, bool complete) {
  auto x = keyexpr::keyexpr::parse(expr);
  if (!x) return x.error().code;
  if (!may_declare(m_self, access::operation::declare_queryable, *x)) {
    return engine_errc::access_denied;
  }
  const std::uint64_t id = m_next_id++;
  m_local_qbls.insert(*x, id);
  m_qbls.emplace(id, std::make_unique<queryable>(queryable{*x, complete}));
  update_declarations();
  return id;
}

void engine::undeclare_queryable(std::uint64_t id) {
  auto it = m_qbls.find(id);
  if (it == m_qbls.end()) return;
  m_local_qbls.erase(it->second->expr, id);
  m_qbls.erase(it);
  update_declarations();
}

namespace {

/// Whether a queryable on `expr` (complete or not) is asked by a query with `target`.
bool queryable_fits(const keyexpr::keyexpr& expr, bool complete, const keyexpr::keyexpr& selector,
                    query_target target) {
  if (target == query_target::all_complete) return complete && keyexpr::includes(expr, selector);
  return keyexpr::intersects(expr, selector);
}

}  // namespace

result<std::uint64_t> engine::get(std::string_view selector, const query_options& opts,
                                  time_point now) {
  sync_declarations();
  auto sel = keyexpr::keyexpr::parse(selector);
  if (!sel) return sel.error().code;
  if (!may_declare(m_self, access::operation::query, *sel)) return engine_errc::access_denied;
  if (opts.parameters.size() > max_parameters) return engine_errc::bad_parameters;
  if (opts.payload && opts.payload->size() > max_payload) return errc::payload_too_large;
  if (m_pending.size() >= max_pending_queries) return engine_errc::too_many_queries;
  const std::uint64_t qid = m_next_qid++;
  auto q = std::make_unique<pending_query>();
  q->deadline = now + opts.timeout;
  q->consolidate = opts.consolidate;
  q->selector = *sel;
  q->target = opts.target;
  q->parameters = opts.parameters;
  q->payload = opts.payload;
  q->timeout = opts.timeout;

  // Which nodes: ours if a local queryable fits, and every reachable node whose does.
  bool local = false;
  m_local_qbls.for_each_intersecting(*sel, [&](std::uint64_t id) {
    auto it = m_qbls.find(id);
    if (it != m_qbls.end() &&
        queryable_fits(it->second->expr, it->second->complete, *sel, opts.target))
      local = true;
  });
  std::vector<std::uint64_t> numbers;
  m_remote_qbls.for_each_intersecting(*sel, [&](std::uint64_t n) { numbers.push_back(n); });
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  std::vector<peer_id> nodes;
  for (auto n : numbers) {
    auto it = m_node_by_number.find(n);
    if (it == m_node_by_number.end() || !m_routes.reachable(it->second)) continue;
    const node_record* rec = m_routes.find(it->second);
    if (!rec) continue;
    bool fits = false;
    for (const auto& d : rec->decls) {
      if (d.k != declaration::kind::queryable) continue;
      auto x = keyexpr::keyexpr::parse(d.expr);
      if (x && queryable_fits(*x, (d.flags & 1) != 0, *sel, opts.target)) fits = true;
    }
    if (fits) nodes.push_back(it->second);
  }
  if (opts.target == query_target::best) {
    if (local) {
      nodes.clear();
    } else if (!nodes.empty()) {
      // The nearest; of equally near ones, the smallest id (every querier picks alike).
      auto best = nodes.front();
      std::uint32_t best_hops = m_routes.hops(best).value_or(UINT32_MAX);
      for (const auto& n : nodes) {
        const std::uint32_t h = m_routes.hops(n).value_or(UINT32_MAX);
        if (h < best_hops || (h == best_hops && n < best)) {
          best = n;
          best_hops = h;
        }
      }
      nodes.assign(1, best);
    }
  }
  for (const auto& n : nodes) {
    query w;
    w.qid = qid;
    w.target = static_cast<std::uint8_t>(opts.target);
    w.consolidation = static_cast<std::uint8_t>(opts.consolidate);
    w.timeout_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(opts.timeout).count());
    const std::string sel_text = sel->str();
    w.selector = sel_text;
    w.parameters = opts.parameters;
    if (opts.payload) w.payload = bytes_view(*opts.payload);
    send_unicast_query(n, m_self, w);
    q->remaining.push_back(n);
  }
  if (local) q->remaining.push_back(m_self);
  q->result.nodes_asked = q->remaining.size();
  // Our own queryables (or an empty answer) at the next on_deadline(): no callback runs
  // before the caller knows the query's id.
  q->local_due = local || nodes.empty();
  m_pending.emplace(qid, std::move(q));
  return qid;
}

void engine::run_query(const peer_id& origin, std::uint64_t qid, const keyexpr::keyexpr& selector,
                       query_target target, std::string_view parameters,
                       std::optional<bytes_view> payload, clock_duration timeout, time_point now) {
  std::vector<std::uint64_t> ids;
  m_local_qbls.for_each_intersecting(selector, [&](std::uint64_t id) {
    auto it = m_qbls.find(id);
    if (it != m_qbls.end() &&
        queryable_fits(it->second->expr, it->second->complete, selector, target))
      ids.push_back(id);
  });
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (ids.empty() || m_handles.size() >= max_incoming_queries) {
    // Nothing here answers (any more): done at once.
    if (origin == m_self) {
      node_finished(m_self, qid, false);
    } else {
      send_unicast_final(origin, m_self, data::reply_final{0, default_hops, 0, qid});
    }
    return;
  }
  auto in = std::make_shared<incoming_query>();
  in->origin = origin;
  in->qid = qid;
  in->selector = selector;
  in->open = static_cast<int>(ids.size());
  in->deadline = now + std::min(timeout, max_query_timeout);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;  // (queryable, handle)
  for (auto id : ids) {
    const std::uint64_t handle = m_next_id++;
    m_handles.emplace(handle, in);
    calls.emplace_back(id, handle);
  }
  const std::string sel_text = selector.str();
  const std::string params(parameters);
  for (const auto& [id, handle] : calls) {
    if (!m_qbls.count(id)) {  // undeclared by an earlier handler
      reply_final(handle);
      continue;
    }
    query_request r;
    r.handle = handle;
    r.selector = sel_text;
    r.parameters = params;
    r.payload = payload;
    r.origin = &in->origin;
    m_sink.on_query(id, r);
  }
}

result<void> engine::reply(std::uint64_t handle, std::string_view key, bytes_view payload,
                           std::string_view encoding, std::uint64_t physical_ntp, bool error,
                           std::uint64_t timestamp) {
  auto it = m_handles.find(handle);
  if (it == m_handles.end()) return engine_errc::unknown_query;
  auto k = keyexpr::key::parse(key);
  if (!k) {
    if (k.error().code == keyexpr::errc::wildcard_in_key) return engine_errc::not_a_key;
    return k.error().code;
  }
  const incoming_query& in = *it->second;
  if (!keyexpr::matches(*in.selector, *k)) return engine_errc::reply_key_mismatch;
  if (m_guard && !m_guard->allows(m_self, access::operation::reply, *k)) {
    return engine_errc::access_denied;
  }
  if (payload.size() > max_payload) return errc::payload_too_large;
  if (encoding.size() > max_encoding) return errc::field_too_large;
  const std::uint64_t ts = timestamp != 0 ? timestamp : m_clock.stamp(physical_ntp);
  const std::string key_text = k->str();
  if (in.origin == m_self) {
    // Our own query gets only the keys we may query, as a remote one does.
    if (m_guard && !m_guard->allows(m_self, access::operation::query, *k)) {
      ++m_stats.access_denied_out;
      return {};
    }
    deliver_reply(m_self, in.qid, reply_view{key_text, payload, encoding, ts, &m_self, error});
    return {};
  }
  data::reply r;
  r.qid = in.qid;
  r.flags = static_cast<std::uint8_t>((error ? reply_flags::error : 0) |
                                      (encoding.empty() ? 0 : reply_flags::has_encoding));
  r.key = key_text;
  r.timestamp = ts;
  r.encoding = encoding;
  r.payload = payload;
  const peer_id to = in.origin;
  send_unicast_reply(to, m_self, r);
  return {};
}

void engine::reply_final(std::uint64_t handle) {
  auto it = m_handles.find(handle);
  if (it == m_handles.end()) return;
  auto in = std::move(it->second);
  m_handles.erase(it);
  if (--in->open > 0) return;
  if (in->origin == m_self) {
    node_finished(m_self, in->qid, false);
  } else {
    send_unicast_final(in->origin, m_self, data::reply_final{0, default_hops, 0, in->qid});
  }
}

void engine::deliver_reply(const peer_id& from, std::uint64_t qid, const reply_view& r) {
  auto it = m_pending.find(qid);
  if (it == m_pending.end()) return;  // ended already (a late reply)
  ++m_stats.replies_received;
  pending_query& q = *it->second;
  if (q.consolidate == data::consolidation::latest) {
    auto [k, fresh] = q.latest.try_emplace(std::string(r.key));
    if (fresh || r.timestamp > k->second.timestamp) {
      k->second.payload.assign(r.payload.begin(), r.payload.end());
      k->second.encoding.assign(r.encoding);
      k->second.timestamp = r.timestamp;
      k->second.from = from;
      k->second.error = r.error;
    }
    return;
  }
  ++q.result.replies;
  m_sink.on_reply(qid, r);
}

void engine::node_finished(const peer_id& node, std::uint64_t qid, bool gone) {
  auto it = m_pending.find(qid);
  if (it == m_pending.end()) return;
  pending_query& q = *it->second;
  auto at = std::find(q.remaining.begin(), q.remaining.end(), node);
  if (at == q.remaining.end()) return;
  q.remaining.erase(at);
  if (gone) {
    ++q.result.nodes_gone;
  } else {
    ++q.result.nodes_answered;
  }
  if (q.remaining.empty() && !q.local_due) finish_query(qid, false);
}

void engine::finish_query(std::uint64_t qid, bool timed_out) {
  auto it = m_pending.find(qid);
  if (it == m_pending.end()) return;
  std::unique_ptr<pending_query> q = std::move(it->second);
  m_pending.erase(it);
  for (const auto& [key, k] : q->latest) {
    ++q->result.replies;
    m_sink.on_reply(qid, reply_view{key, k.payload, k.encoding, k.timestamp, &k.from, k.error});
  }
  q->result.timed_out = timed_out;
  if (timed_out) ++m_stats.queries_timed_out;
  m_sink.on_query_done(qid, q->result);
}

void engine::send_unicast_query(const peer_id& dest, const peer_id& origin, query q) {
  link* l = unicast_link(dest);
  if (!l) return;
  if (m_guard && l->peer != dest) {
    // Through a relay: only one that may make this query itself (the destination's queryable
    // was checked when its declaration was indexed).
    auto sel = keyexpr::keyexpr::parse(q.selector);
    if (!sel || !may_declare(l->peer, access::operation::query, *sel)) {
      ++m_stats.access_denied_out;
      return;
    }
  }
  q.dest = node_alias_for(*l, dest);
  q.origin = node_alias_for(*l, origin);
  if (q.dest == UINT64_MAX || q.origin == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  if (origin == m_self) ++m_stats.queries_sent;
  (void)encode(q, out_for(*l));
}

void engine::send_unicast_reply(const peer_id& dest, const peer_id& from, data::reply r) {
  link* l = unicast_link(dest);
  if (!l) return;
  if (!may(l->peer, access::operation::query, r.key)) {
    ++m_stats.access_denied_out;  // the next hop may not receive replies on this key
    return;
  }
  r.dest = node_alias_for(*l, dest);
  r.from = node_alias_for(*l, from);
  if (r.dest == UINT64_MAX || r.from == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  if (encode(r, out_for(*l))) note_payload(*l, 0, r.encoding, r.payload.size());
}

void engine::send_unicast_final(const peer_id& dest, const peer_id& from, data::reply_final f) {
  link* l = unicast_link(dest);
  if (!l) return;
  f.dest = node_alias_for(*l, dest);
  f.from = node_alias_for(*l, from);
  if (f.dest == UINT64_MAX || f.from == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  (void)encode(f, out_for(*l));
}

result<void> engine::handle_query(link& l, const query& m, time_point now) {
  const peer_id* dest = resolve_node(l, m.dest);
  const peer_id* origin = resolve_node(l, m.origin);
  if (!dest || !origin) return engine_errc::unknown_alias;
  auto sel = keyexpr::keyexpr::parse(m.selector);
  if (!sel || m.target > 2 || m.consolidation > 1) return make_error_code(errc::bad_value);
  if (*dest != m_self) {
    if (m.hops <= 1) {
      ++m_stats.unicast_dropped;
      return {};
    }
    query fwd = m;
    fwd.hops = static_cast<std::uint8_t>(m.hops - 1);
    const peer_id to = *dest, from = *origin;
    send_unicast_query(to, from, fwd);
    return {};
  }
  ++m_stats.queries_received;
  const peer_id from = *origin;
  run_query(from, m.qid, *sel, static_cast<query_target>(m.target), m.parameters, m.payload,
            std::chrono::milliseconds(std::min<std::uint64_t>(m.timeout_ms, 300'000)), now);
  return {};
}

result<void> engine::handle_reply(link& l, const data::reply& m) {
  const peer_id* dest = resolve_node(l, m.dest);
  const peer_id* from = resolve_node(l, m.from);
  if (!dest || !from) return engine_errc::unknown_alias;
  if (!keyexpr::key::parse(m.key)) return make_error_code(errc::bad_value);
  if (*dest != m_self) {
    if (m.hops <= 1) {
      ++m_stats.unicast_dropped;
      return {};
    }
    data::reply fwd = m;
    fwd.hops = static_cast<std::uint8_t>(m.hops - 1);
    const peer_id to = *dest, src = *from;
    send_unicast_reply(to, src, fwd);
    return {};
  }
  const peer_id src = *from;
  deliver_reply(src, m.qid,
                reply_view{m.key, m.payload, m.encoding, m.timestamp, &src,
                           (m.flags & reply_flags::error) != 0});
  return {};
}

result<void> engine::handle_reply_final(link& l, const data::reply_final& m) {
  const peer_id* dest = resolve_node(l, m.dest);
  const peer_id* from = resolve_node(l, m.from);
  if (!dest || !from) return engine_errc::unknown_alias;
  if (*dest != m_self) {
    if (m.hops <= 1) {
      ++m_stats.unicast_dropped;
      return {};
    }
    data::reply_final fwd = m;
    fwd.hops = static_cast<std::uint8_t>(m.hops - 1);
    const peer_id to = *dest, src = *from;
    send_unicast_final(to, src, fwd);
    return {};
  }
  const peer_id src = *from;
  node_finished(src, m.qid, false);
  return {};
}

// ---- liveliness ----

result<std::uint64_t> engine::declare_token(std::string_view key) {
  auto k = keyexpr::key::parse(key);
  if (!k) {
    if (k.error().code == keyexpr::errc::wildcard_in_key) return engine_errc::not_a_key;
    return k.error().code;
  }
  if (m_guard && !m_guard->allows(m_self, access::operation::liveliness_token, *k)) {
    return engine_errc::access_denied;
  }
  const std::uint64_t id = m_next_id++;
  const std::string text = k->str();
  const bool first = std::none_of(m_tokens.begin(), m_tokens.end(),
                                  [&](const auto& kv) { return kv.second == text; });
  m_tokens.emplace(id, text);
  update_declarations();
  if (first && may(m_self, access::operation::liveliness_watch, text)) {
    token_event(text, m_self, true);
  }
  return id;
}

void engine::undeclare_token(std::uint64_t id) {
  auto it = m_tokens.find(id);
  if (it == m_tokens.end()) return;
  const std::string text = std::move(it->second);
  m_tokens.erase(it);
  update_declarations();
  const bool last = std::none_of(m_tokens.begin(), m_tokens.end(),
                                 [&](const auto& kv) { return kv.second == text; });
  if (last && may(m_self, access::operation::liveliness_watch, text)) {
    token_event(text, m_self, false);
  }
}

void engine::token_event(const std::string& key, const peer_id& node, bool alive) {
  auto k = keyexpr::key::parse(key);
  if (!k) return;
  std::vector<std::uint64_t> ids;
  m_local_watches.for_each_match(*k, [&](std::uint64_t id) { ids.push_back(id); });
  for (auto id : ids) {
    if (m_watches.count(id)) m_sink.on_liveliness(id, key, node, alive);
  }
}

result<std::uint64_t> engine::watch_liveliness(std::string_view expr) {
  auto x = keyexpr::keyexpr::parse(expr);
  if (!x) return x.error().code;
  if (!may_declare(m_self, access::operation::liveliness_watch, *x)) {
    return engine_errc::access_denied;
  }
  const std::uint64_t id = m_next_id++;
  m_watches.emplace(id, *x);
  m_local_watches.insert(*x, id);
  auto now = liveliness_tokens(expr);
  if (now) {
    for (const auto& [key, node] : *now) {
      if (!m_watches.count(id)) break;  // the handler ended the watch
      m_sink.on_liveliness(id, key, node, true);
    }
  }
  return id;
}

void engine::unwatch_liveliness(std::uint64_t id) {
  auto it = m_watches.find(id);
  if (it == m_watches.end()) return;
  m_local_watches.erase(it->second, id);
  m_watches.erase(it);
}

result<std::vector<std::pair<std::string, peer_id>>> engine::liveliness_tokens(
    std::string_view expr) const {
  auto x = keyexpr::keyexpr::parse(expr);
  if (!x) return x.error().code;
  std::vector<std::pair<std::string, peer_id>> out;
  // Our own tokens from the table itself: our record may not list the newest yet (see
  // m_decls_dirty).
  for (const auto& [id, text] : m_tokens) {
    auto k = keyexpr::key::parse(text);
    if (k && keyexpr::matches(*x, *k)) out.emplace_back(text, m_self);
  }
  if (m_guard) {
    // Only what this node may watch.
    std::erase_if(out, [&](const auto& token) {
      auto k = keyexpr::key::parse(token.first);
      return !k || !m_guard->allows(m_self, access::operation::liveliness_watch, *k);
    });
  }
  // Reachable nodes' tokens that their origin may hold and we may watch (pump_routing keeps
  // them).
  for (const auto& [node, key] : m_remote_tokens) {
    auto k = keyexpr::key::parse(key);
    if (k && keyexpr::matches(*x, *k)) out.emplace_back(key, node);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace starling::data
