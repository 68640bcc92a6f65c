// The data engine's access checks (engine.hpp, "Access"; access_rules.hpp has what each
// message needs): the ingress gate, the cached decisions of the data path, and the
// re-evaluation of every declaration when rights change.
#include <algorithm>

#include "core/data/access_rules.hpp"
#include "core/data/engine_internal.hpp"

namespace starling::data {

using namespace detail;

bool engine::may(const peer_id& node, access::operation op, std::string_view key) {
  if (!m_guard) return true;
  auto k = keyexpr::key::parse(key);
  return k && m_guard->allows(node, op, *k);
}

bool engine::may_declare(const peer_id& node, access::operation op, const keyexpr::keyexpr& expr) {
  return !m_guard || m_guard->allows_expression(node, op, expr);
}

bool engine::declaration_allowed(const peer_id& origin, const declaration& d) {
  if (!m_guard) return true;
  const auto op = declaration_operation(static_cast<std::uint8_t>(d.k));
  if (!op) return false;
  auto x = keyexpr::keyexpr::parse(d.expr);
  return x && m_guard->allows_expression(origin, *op, *x);
}

bool engine::local_put_allowed(publisher& p, bool del) {
  if (!m_guard) return true;
  if (p.access_generation != m_access_generation) {
    p.access_generation = m_access_generation;
    p.may_put = may(m_self, access::operation::put, p.key);
    p.may_del = may(m_self, access::operation::del, p.key);
  }
  return del ? p.may_del : p.may_put;
}

bool engine::requirement_met(link& l, const requirement& r) {
  // A requirement naming an alias that is not declared passes here: the message's handler
  // refuses it (unknown_alias) and the link is reset.
  const peer_id* node = resolve_node(l, r.node);
  if (!node) return true;
  if (r.who == subject::link_peer && r.relayed_only && *node == l.peer) return true;
  const peer_id& who = r.who == subject::node ? *node : l.peer;
  // put-or-del (heartbeats) has its own code in the caches.
  const auto op = r.or_del ? std::uint8_t{0xff} : static_cast<std::uint8_t>(r.op);
  const auto allowed = [&](const std::string& key) {
    return may(who, r.op, key) || (r.or_del && may(who, access::operation::del, key));
  };
  switch (r.what) {
    case target::key_alias: {
      // The data path: one decision per (key alias, node, operation), kept until rights or
      // aliases change.
      if (r.alias >= l.rx_keys.size() || l.rx_keys[r.alias].empty()) return true;
      if (l.rx_rights.size() <= r.alias) l.rx_rights.resize(l.rx_keys.size());
      link::rx_right& c = l.rx_rights[r.alias];
      if (c.epoch != l.rx_epoch) c = link::rx_right{0, l.rx_epoch};
      if (r.who == subject::link_peer) {
        if (c.relay_generation != m_access_generation || c.relay_op != op) {
          c.relay_generation = m_access_generation;
          c.relay_op = op;
          c.relay_ok = may(who, r.op, l.rx_keys[r.alias]);
        }
        return c.relay_ok;
      }
      if (c.generation != m_access_generation) {
        c.generation = m_access_generation;
        c.slots = {};
      }
      for (const auto& s : c.slots) {
        if (s.used && s.node == r.node && s.op == op) return s.ok;
      }
      auto& s = c.slots[c.next];
      c.next = static_cast<std::uint8_t>((c.next + 1) % c.slots.size());
      s = {r.node, op, true, allowed(l.rx_keys[r.alias])};
      return s.ok;
    }
    case target::key:
      return may(who, r.op, r.text);
    case target::expression: {
      auto x = keyexpr::keyexpr::parse(r.text);
      return !x || may_declare(who, r.op, *x);  // a bad selector is the handler's error
    }
    case target::publisher_key: {
      // Known only at the publisher's node: a relay passes the nack on, and the repair it asks
      // for is checked hop by hop on its way back.
      const peer_id* dest = resolve_node(l, r.source);
      if (!dest || *dest != m_self) return true;
      const publisher* p = nullptr;
      if (auto it = m_pubs.find(r.alias); it != m_pubs.end()) p = it->second.get();
      if (auto it = m_retired.find(r.alias); !p && it != m_retired.end()) p = it->second.get();
      return !p || may(who, r.op, p->key);
    }
    case target::unknown_kind:
      return false;
  }
  return false;
}

bool engine::ingress_allowed(link& l, const message& m) {
  bool ok = true;
  for_each_requirement(m, direction::ingress, [&](const requirement& r) {
    // Declarations are judged where they are indexed (pump_routing): the record stays whole.
    if (!ok || r.if_denied == on_deny::drop_declaration) return;
    ok = requirement_met(l, r);
  });
  if (ok) return true;
  ++m_stats.access_denied_in;
  if (const auto* q = std::get_if<query>(&m)) refuse_query(l, *q);
  return false;
}

void engine::refuse_query(link& l, const query& q) {
  // A query for us that we will not run gets no answer but its end, so its origin does not
  // wait for its timeout.
  const peer_id* dest = resolve_node(l, q.dest);
  const peer_id* origin = resolve_node(l, q.origin);
  if (dest && origin && *dest == m_self) {
    const peer_id to = *origin;
    send_unicast_final(to, m_self, data::reply_final{0, default_hops, 0, q.qid});
  }
}

void engine::rebuild_remote_declarations() {
  keyexpr::key_index subs, qbls;
  std::set<std::pair<peer_id, std::string>> tokens;
  for (const auto& [node, number] : m_node_numbers) {
    const node_record* r = m_routes.find(node);
    if (!r || node == m_self || !m_routes.reachable(node)) continue;
    for (const auto& d : r->decls) {
      if (!declaration_allowed(node, d)) {
        ++m_stats.declarations_denied;
        continue;
      }
      auto x = keyexpr::keyexpr::parse(d.expr);
      if (!x) continue;
      if (d.k == declaration::kind::subscriber) subs.insert(*x, number);
      if (d.k == declaration::kind::queryable) qbls.insert(*x, number);
      if (d.k == declaration::kind::token &&
          may_declare(m_self, access::operation::liveliness_watch, *x)) {
        tokens.emplace(node, d.expr);
      }
    }
  }
  m_remote_subs = std::move(subs);
  m_remote_qbls = std::move(qbls);
  // Watchers see what changed: tokens that lost their right leave, those that gained it join.
  std::vector<std::pair<peer_id, std::string>> left, joined;
  std::set_difference(m_remote_tokens.begin(), m_remote_tokens.end(), tokens.begin(), tokens.end(),
                      std::back_inserter(left));
  std::set_difference(tokens.begin(), tokens.end(), m_remote_tokens.begin(), m_remote_tokens.end(),
                      std::back_inserter(joined));
  m_remote_tokens = std::move(tokens);
  for (const auto& [node, key] : left)
    token_event(key, node, false);
  for (const auto& [node, key] : joined)
    token_event(key, node, true);
}

void engine::set_access(access_guard* guard, time_point now) {
  m_guard = guard;
  access_changed(now);
}

void engine::access_changed(time_point now) {
  (void)now;
  ++m_access_generation;  // every cached decision (links, keys, publishers) is stale now
  ++m_local_generation;   // local subscriptions are filtered again
  rebuild_remote_declarations();
  update_declarations();  // our record lists only what we may declare
  sync_declarations();
  // Neighbours get the records that hold liveliness tokens again, trimmed for what each may
  // watch now; one that gained a right completes its copy (routing_table::apply takes a
  // same-version superset). Records without tokens were sent whole: nothing to redo.
  const auto has_token = [](const node_record& r) {
    return std::any_of(r.decls.begin(), r.decls.end(),
                       [](const declaration& d) { return d.k == declaration::kind::token; });
  };
  for (const node_record* r : m_routes.records()) {
    if (r->origin == m_self || !has_token(*r)) continue;
    for (auto& [p, l] : m_links) {
      if (p != r->origin) send_record(*l, *r);
    }
  }
  if (has_token(m_routes.own())) m_own_dirty = true;
}

}  // namespace starling::data
