// The data engine's samples: publishers and put, the key cache, forwarding down the
// source's tree and local delivery (docs/protocols/data.md, "Samples").
#include <algorithm>

#include "core/data/engine_internal.hpp"

namespace starling::data {

using namespace detail;

// ---- samples ----

engine::key_state& engine::key_entry(std::string_view key) {
  auto it = m_keys.find(key);
  if (it != m_keys.end()) return *it->second;
  // A key of the old generation moves to the current one (its state, on the heap, stays where
  // it is, so references to it stay valid); a new key gets a fresh entry.
  auto old = m_keys_old.find(key);
  decltype(m_keys)::node_type moved;
  if (old != m_keys_old.end()) {
    m_keys_old_bytes -= old->first.size();
    moved = m_keys_old.extract(old);
  }
  if (m_keys.size() >= max_cached_keys || m_keys_bytes + key.size() > max_cached_key_bytes) {
    // The current generation is full: it becomes the old one, the old one is dropped.
    m_keys_old = std::move(m_keys);
    m_keys_old_bytes = m_keys_bytes;
    m_keys.clear();
    m_keys_bytes = 0;
  }
  m_keys_bytes += key.size();
  if (moved) return *m_keys.insert(std::move(moved)).position->second;
  return *m_keys.emplace(std::string(key), std::make_unique<key_state>()).first->second;
}

void engine::forget_key(std::string_view key) {
  // A key whose publisher ended is seldom used again: its cache entry goes now rather than
  // when its generation is dropped (a later use recomputes it), so short-lived publishers on
  // ever new keys do not fill the cache. No caller holds a key_state across this call.
  if (auto it = m_keys.find(key); it != m_keys.end()) {
    m_keys_bytes -= it->first.size();
    m_keys.erase(it);
  }
  if (auto it = m_keys_old.find(key); it != m_keys_old.end()) {
    m_keys_old_bytes -= it->first.size();
    m_keys_old.erase(it);
  }
}

const std::vector<peer_id>& engine::targets_for(key_state& ks, const peer_id& source,
                                                std::string_view key) {
  // targets_for_key() refreshed ks.interested and cleared ks.targets for this generation.
  for (auto& [src, t] : ks.targets) {
    if (src == source) return t;
  }
  if (ks.targets.size() >= max_sources_per_key) ks.targets.clear();
  std::vector<peer_id> out;
  m_routes.forward_targets(
      source,
      [&](const node_record& rec) {
        auto it = m_node_numbers.find(rec.origin);
        return it != m_node_numbers.end() &&
               std::binary_search(ks.interested.begin(), ks.interested.end(), it->second);
      },
      out);
  if (m_guard) {
    // A neighbour that may not read the key gets none of its samples, nor does anyone behind
    // it (each node checks the next hop). Decided once per key and source, cached with them.
    const auto denied = std::remove_if(out.begin(), out.end(), [&](const peer_id& next) {
      return !may(next, access::operation::subscribe, key);
    });
    m_stats.access_denied_out += static_cast<std::uint64_t>(out.end() - denied);
    out.erase(denied, out.end());
  }
  ks.targets.emplace_back(source, std::move(out));
  return ks.targets.back().second;
}

const std::vector<std::uint64_t>& engine::local_subs_for(key_state& ks, std::string_view key) {
  if (ks.local_generation != m_local_generation) {
    ks.local_generation = m_local_generation;
    ks.local_subs.clear();
    if (auto k = keyexpr::key::parse(key)) {
      // Only if this node may read the key (a subscription to `home/**` of a node that may
      // read only `home/*/temp` gets only the temperatures).
      if (!m_guard || m_guard->allows(m_self, access::operation::subscribe, *k)) {
        m_local_subs.for_each_match(*k, [&](std::uint64_t id) { ks.local_subs.push_back(id); });
      }
    }
  }
  return ks.local_subs;
}

void engine::deliver_local(std::string_view key, const sample& s) {
  const auto& subs = local_subs_for(key_entry(key), key);
  // The sink may call back into the engine (publish, subscribe), which can change the cached
  // list: deliver from a copy when there is more than one subscription.
  if (subs.empty()) return;
  if (subs.size() == 1) {
    const std::uint64_t id = subs.front();
    ++m_stats.samples_delivered;
    m_sink.on_sample(id, s);
    return;
  }
  const std::vector<std::uint64_t> ids = subs;
  ++m_delivering;
  for (std::uint64_t id : ids) {
    if (!m_subs.count(id)) continue;  // undeclared by an earlier handler
    ++m_stats.samples_delivered;
    m_sink.on_sample(id, s);
  }
  if (--m_delivering == 0) m_freed_in_delivery.clear();
}

bool engine::send_push(link& l, const peer_id& source, std::string_view key, const push& p) {
  push q = p;
  q.source = node_alias_for(l, source);
  q.key = key_alias_for(l, key, lane_of(p.prio()));
  if (q.source == UINT64_MAX || q.key == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return false;
  }
  if (l.backlog() >= max_link_backlog) {
    ++m_stats.congestion_dropped;  // the link is not keeping up
    return false;
  }
  if (!encode(q, out_for(l, lane_of(p.prio())))) return false;
  note_payload(l, lane_of(p.prio()), q.encoding, q.payload.size());
  ++m_stats.samples_forwarded;
  return true;
}

const std::vector<peer_id>* engine::targets_for_key(const peer_id& source, std::string_view key) {
  key_state& ks = key_entry(key);
  if (ks.route_generation != m_routes.generation() || ks.access_generation != m_access_generation) {
    ks.route_generation = m_routes.generation();
    ks.access_generation = m_access_generation;
    ks.targets.clear();
    ks.interested.clear();
    if (auto k = keyexpr::key::parse(key)) {
      m_remote_subs.for_each_match(*k, [&](std::uint64_t n) { ks.interested.push_back(n); });
      std::sort(ks.interested.begin(), ks.interested.end());
      ks.interested.erase(std::unique(ks.interested.begin(), ks.interested.end()),
                          ks.interested.end());
    }
  }
  if (ks.interested.empty()) return nullptr;
  return &targets_for(ks, source, key);
}

void engine::route_sample(const peer_id& source, const link* from, std::string_view key,
                          const push& wire_sample) {
  const auto* targets = targets_for_key(source, key);
  if (!targets) return;
  for (const auto& t : *targets) {
    if (from && t == from->peer) continue;
    if (link* l = find_link(t)) send_push(*l, source, key, wire_sample);
  }
}

result<void> engine::handle_push(link& l, const push& m, time_point now,
                                 std::uint64_t physical_ntp) {
  const peer_id* source = resolve_node(l, m.source);
  if (!source || m.key >= l.rx_keys.size() || l.rx_keys[m.key].empty()) {
    return engine_errc::unknown_alias;
  }
  ++m_stats.samples_received;
  if (*source == m_self) {
    ++m_stats.duplicates;  // our own sample came back around a changing route
    return {};
  }
  if (!m_clock.update(m.timestamp, physical_ntp)) {
    ++m_stats.clock_refused;
    return {};
  }
  stream* st = stream_for(*source, m.publisher, now);
  if (m.seq <= st->highest && m.timestamp > st->highest_ts) {
    // Within one life of a source, stamps grow with sequence numbers: an older number with a
    // newer stamp means the source restarted and numbers its publishers anew.
    give_up_gaps(*st);
    const peer_id* keep = st->source;
    *st = stream{};
    st->source = keep;
    st->publisher = m.publisher;
    st->last_activity = now;
  }
  if (!st->accept(m.seq)) {
    ++m_stats.duplicates;
    return {};
  }
  if (m.seq == st->highest) st->highest_ts = m.timestamp;
  st->prio = m.prio();
  const std::string& key = l.rx_keys[m.key];
  route_sample(*source, &l, key, m);
  receive_ordered(*st, key, m, now, false);
  finish_if_ended(*st);  // a sample that was late after its publisher's end fills the gap
  return {};
}

result<std::uint64_t> engine::declare_publisher(std::string_view key, publisher_options opts) {
  auto k = keyexpr::key::parse(key);
  if (!k) {
    if (k.error().code == keyexpr::errc::wildcard_in_key) return engine_errc::not_a_key;
    return k.error().code;
  }
  const std::uint64_t id = m_next_id++;
  auto p = std::make_unique<publisher>();
  p->key = k->str();
  p->opts = std::move(opts);
  m_pubs.emplace(id, std::move(p));
  return id;
}

void engine::undeclare_publisher(std::uint64_t id) {
  drop_publisher(id, true);
}

void engine::drop_publisher(std::uint64_t id, bool retire) {
  auto it = m_pubs.find(id);
  if (it == m_pubs.end()) return;
  std::unique_ptr<publisher> owned = std::move(it->second);
  m_pubs.erase(it);
  publisher& p = *owned;
  if (p.implicit) {
    m_implicit_pubs.erase(p.key);
    m_implicit_lru.erase(p.lru);
    m_implicit_history -= p.footprint();
  }
  announce_end(id, p);
  forget_key(p.key);
  if (retire && p.count > 0) {
    // Its history answers repair requests a while longer (retired_linger), within bounds.
    while (!m_retired_order.empty() &&
           (m_retired.size() >= max_retired_publishers ||
            m_retired_history + p.footprint() > retired_history_budget)) {
      ++m_stats.retired_evicted;
      free_oldest_retired();
    }
    p.implicit = false;
    p.hb_armed = false;
    m_retired_history += p.footprint();
    m_retired_order.emplace_back(no_deadline, id);
    ++m_retired_unstamped;
    m_retired.emplace(id, std::move(owned));
  } else if (m_delivering > 0) {
    m_freed_in_delivery.push_back(std::move(owned));  // its sample is being delivered
  }
  // Its heartbeat timer, if any, stays in the heap and is skipped when due; the heap is
  // compacted once most of its entries are such leftovers.
  if (m_hb_heap.size() > 2 * m_pubs.size() + 64) {
    std::erase_if(m_hb_heap, [&](const auto& t) { return !m_pubs.count(t.second); });
    std::make_heap(m_hb_heap.begin(), m_hb_heap.end(), std::greater<>());
  }
}

void engine::announce_end(std::uint64_t id, publisher& p) {
  if (p.seq == 0) return;  // it sent nothing: nobody holds state for it
  if (!local_put_allowed(p, false) && !local_put_allowed(p, true)) return;  // lost its right
  const auto* targets = targets_for_key(m_self, p.key);
  if (!targets) return;
  for (const auto& t : *targets) {
    if (link* l = find_link(t)) {
      send_heartbeat_on(*l, m_self, p.key, id, p.seq, p.opts.prio, true);
      ++m_stats.publisher_ends_sent;
    }
  }
}

void engine::free_oldest_retired() {
  const auto [due, id] = m_retired_order.front();
  m_retired_order.pop_front();
  if (due == no_deadline) --m_retired_unstamped;
  auto it = m_retired.find(id);
  if (it == m_retired.end()) return;
  m_retired_history -= it->second->footprint();
  if (m_delivering > 0) m_freed_in_delivery.push_back(std::move(it->second));
  m_retired.erase(it);
}

void engine::collect_retired(time_point now) {
  // The ones undeclared since the last run are at the back, not stamped yet.
  for (auto it = m_retired_order.rbegin(); m_retired_unstamped > 0 && it != m_retired_order.rend();
       ++it) {
    if (it->first != no_deadline) break;
    it->first = now + retired_linger;
    --m_retired_unstamped;
  }
  while (!m_retired_order.empty() && m_retired_order.front().first <= now)
    free_oldest_retired();
}

void engine::collect_implicit(time_point now) {
  while (!m_implicit_lru.empty()) {
    const std::uint64_t id = m_implicit_lru.front();
    if (m_pubs.at(id)->used + implicit_idle > now) break;
    ++m_stats.implicit_collected;
    drop_publisher(id, false);
  }
}

result<void> engine::put(std::uint64_t id, bytes_view payload, time_point now,
                         std::uint64_t physical_ntp, bool del) {
  auto it = m_pubs.find(id);
  if (it == m_pubs.end()) return engine_errc::unknown_publisher;
  if (payload.size() > max_payload) return errc::payload_too_large;
  publisher& p = *it->second;
  if (!local_put_allowed(p, del)) return engine_errc::access_denied;
  if (p.opts.congestion == congestion_control::block) {
    // Refused before it is numbered: the caller waits for room and tries again.
    if (const auto* targets = targets_for_key(m_self, p.key)) {
      for (const auto& t : *targets) {
        const link* l = find_link(t);
        if (l && l->backlog() >= max_link_backlog) {
          ++m_stats.puts_blocked;
          return engine_errc::would_block;
        }
      }
    }
  }
  if (p.opts.express) m_express = true;
  const std::uint64_t ts = m_clock.stamp(physical_ntp);
  const std::uint64_t seq = ++p.seq;
  ++m_stats.samples_published;
  push w;
  w.flags = static_cast<std::uint8_t>(
      (del ? push_flags::del : 0) | (p.opts.reliable ? push_flags::reliable : 0) |
      (p.opts.encoding.empty() ? 0 : push_flags::has_encoding) |
      (static_cast<int>(p.opts.prio) << push_flags::priority_shift));
  w.publisher = id;
  w.seq = seq;
  w.timestamp = ts;
  w.encoding = p.opts.encoding;
  w.payload = payload;
  if (p.opts.reliable) {
    const std::size_t before = p.footprint();
    p.remember(seq, ts, w.flags, p.opts.encoding, payload);
    if (p.implicit) {
      m_implicit_history += p.footprint() - before;
      // Over the budget: the least recently used implicit publishers go (never this one, whose
      // own history is bounded by history_bytes).
      while (m_implicit_history > implicit_history_budget && m_implicit_lru.front() != id) {
        ++m_stats.implicit_evicted;
        drop_publisher(m_implicit_lru.front(), false);
      }
    }
    p.last_put = now;
    p.hb_stage = 0;
    if (!p.hb_armed) {
      p.hb_armed = true;
      m_hb_heap.emplace_back(now + heartbeat_after[0], id);
      std::push_heap(m_hb_heap.begin(), m_hb_heap.end(), std::greater<>());
    }
  }
  // Neighbours first: a local handler that publishes in turn sees its sample sent after ours.
  route_sample(m_self, nullptr, p.key, w);
  const sample s{p.key, payload, p.opts.encoding, del, ts, &m_self, id, seq};
  deliver_local(p.key, s);
  return {};
}

result<void> engine::put(std::string_view key, bytes_view payload, std::string_view encoding,
                         time_point now, std::uint64_t physical_ntp, bool del) {
  std::uint64_t id = 0;
  if (auto it = m_implicit_pubs.find(key); it != m_implicit_pubs.end()) {
    id = it->second;
    m_implicit_lru.splice(m_implicit_lru.end(), m_implicit_lru, m_pubs.at(id)->lru);
  } else {
    // Refused before an implicit publisher is made for it.
    if (auto k = keyexpr::key::parse(key);
        k && m_guard &&
        !m_guard->allows(m_self, del ? access::operation::del : access::operation::put, *k)) {
      return engine_errc::access_denied;
    }
    auto r = declare_publisher(key, publisher_options{});
    if (!r) return r.error();
    id = *r;
    if (m_implicit_lru.size() >= max_implicit_publishers) {
      ++m_stats.implicit_evicted;
      drop_publisher(m_implicit_lru.front(), false);
    }
    publisher& p = *m_pubs.at(id);
    p.implicit = true;
    p.lru = m_implicit_lru.insert(m_implicit_lru.end(), id);
    m_implicit_pubs.emplace(p.key, id);
  }
  // One implicit publisher per key; each put may name its own encoding.
  publisher& p = *m_pubs.at(id);
  p.used = now;
  p.opts.encoding = std::string(encoding);
  return put(id, payload, now, physical_ntp, del);
}

}  // namespace starling::data
