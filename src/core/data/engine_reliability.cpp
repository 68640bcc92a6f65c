// The data engine's end-to-end reliability: receive state per (source, publisher), in-order
// delivery, gaps, nacks, repairs and heartbeats (docs/protocols/data.md, "Reliability").
#include <algorithm>

#include "core/data/engine_internal.hpp"

namespace starling::data {

using namespace detail;

// ---- reliability ----

engine::stream* engine::stream_for(const peer_id& source, std::uint64_t pub, time_point now) {
  auto it = m_streams.find(seq_ref{source, pub});
  if (it == m_streams.end()) {
    if (m_streams.size() >= max_streams) {
      // Drop every state without a gap; their next samples start them over.
      const std::size_t before = m_streams.size();
      std::erase_if(m_streams, [](const auto& kv) { return !kv.second->gapped; });
      m_stats.streams_reset += before - m_streams.size();
    }
    it = m_streams.emplace(seq_key{source, pub}, std::make_unique<stream>()).first;
    it->second->source = &it->first.source;
    it->second->publisher = pub;
    if (m_next_sweep == no_deadline) m_next_sweep = now + sweep_interval;
  }
  it->second->last_activity = now;
  return it->second.get();
}

void engine::receive_ordered(stream& st, std::string_view key, const push& m, time_point now,
                             bool repaired) {
  const bool reliable = (m.flags & push_flags::reliable) != 0;
  const sample s{key,         m.payload, m.encoding,   (m.flags & push_flags::del) != 0,
                 m.timestamp, st.source, st.publisher, m.seq};
  if (!reliable) {
    // Best effort: deliver what arrives, in whatever order.
    if (!repaired) deliver_local(key, s);
    return;
  }
  if (local_subs_for(key_entry(key), key).empty()) return;  // a relay only
  if (!st.delivering) {
    st.delivering = true;  // delivery starts with the first sample this node gets
    st.next = m.seq;
  }
  if (m.seq < st.next || st.held.count(m.seq)) {
    if (repaired) ++m_stats.duplicates;
    return;
  }
  if (repaired) ++m_stats.samples_repaired;
  if (m.seq == st.next) {
    ++st.next;
    deliver_local(key, s);
    deliver_held(st);
    return;
  }
  // A gap: hold this one (bounded) and ask the source for the missing ones.
  if (m_held_count >= hold_samples || m_held_bytes + m.payload.size() > hold_bytes) {
    give_up_gaps(st);
    if (m.seq >= st.next) {
      st.next = m.seq + 1;
      deliver_local(key, s);
    }
    return;
  }
  held_sample h{std::string(key), std::string(m.encoding),
                bytes(m.payload.begin(), m.payload.end()), m.timestamp, m.flags};
  st.held_bytes += h.payload.size();
  m_held_bytes += h.payload.size();
  ++m_held_count;
  st.held.emplace(m.seq, std::move(h));
  open_gap(st, now);
}

void engine::open_gap(stream& st, time_point now) {
  if (st.gapped) return;
  st.gapped = true;
  st.nack_count = 0;
  ++m_stats.gaps;
  m_gapped.push_back(&st);
  send_nacks(st, now);
}

void engine::close_gap(stream& st) {
  if (!st.gapped) return;
  st.gapped = false;
  st.nack_due = no_deadline;
  std::erase(m_gapped, &st);
}

void engine::deliver_held(stream& st) {
  while (!st.held.empty() && st.held.begin()->first <= st.next) {
    auto node = st.held.extract(st.held.begin());
    const held_sample& h = node.mapped();
    st.held_bytes -= h.payload.size();
    m_held_bytes -= h.payload.size();
    --m_held_count;
    if (node.key() < st.next) continue;
    st.next = node.key() + 1;
    const sample s{h.key,       h.payload, h.encoding,   (h.flags & push_flags::del) != 0,
                   h.timestamp, st.source, st.publisher, node.key()};
    deliver_local(h.key, s);
  }
  if (st.held.empty() && st.announced < st.next) close_gap(st);
}

void engine::give_up_gaps(stream& st) {
  if (!st.delivering) return;
  // Skip every hole: what is held is delivered in order.
  std::uint64_t expect = st.next;
  for (const auto& [seq, h] : st.held) {
    if (seq > expect) m_stats.samples_lost += seq - expect;
    expect = seq + 1;
  }
  if (st.announced >= expect) {
    m_stats.samples_lost += st.announced - expect + 1;
    expect = st.announced + 1;
  }
  while (!st.held.empty()) {
    st.next = st.held.begin()->first;
    deliver_held(st);
  }
  st.next = std::max(st.next, expect);
  close_gap(st);
}

void engine::send_nacks(stream& st, time_point now) {
  st.nack_due = now + nack_interval * (1 << std::min(st.nack_count, nack_tries));
  ++st.nack_count;
  // One nack per hole between `next` and the highest held or announced sample.
  std::uint64_t expect = st.next;
  std::size_t sent = 0;
  auto ask = [&](std::uint64_t first, std::uint64_t count) {
    if (sent >= nacks_per_round) return;
    ++sent;
    nack n;
    n.publisher = st.publisher;
    n.first = first;
    n.count = std::min<std::uint64_t>(count, history_samples);
    send_unicast_nack(*st.source, m_self, n);
  };
  for (const auto& [seq, h] : st.held) {
    if (seq > expect) ask(expect, seq - expect);
    expect = seq + 1;
  }
  if (st.announced >= expect) ask(expect, st.announced - expect + 1);
}

engine::link* engine::unicast_link(const peer_id& dest) {
  auto hop = m_routes.next_hop(dest);
  link* l = hop ? find_link(*hop) : nullptr;
  if (!l) ++m_stats.unicast_dropped;
  return l;
}

void engine::send_unicast_nack(const peer_id& dest, const peer_id& requester, nack n) {
  link* l = unicast_link(dest);
  if (!l) return;
  n.dest = node_alias_for(*l, dest);
  n.requester = node_alias_for(*l, requester);
  if (n.dest == UINT64_MAX || n.requester == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  if (requester == m_self) ++m_stats.nacks_sent;
  (void)encode(n, out_for(*l));
}

void engine::send_unicast_repair(const peer_id& dest, const peer_id& source, std::string_view key,
                                 repair r) {
  link* l = unicast_link(dest);
  if (!l) return;
  if (!may(l->peer, access::operation::subscribe, key)) {
    ++m_stats.access_denied_out;  // the next hop may not read this key
    return;
  }
  r.dest = node_alias_for(*l, dest);
  r.sample.source = node_alias_for(*l, source);
  r.sample.key = key_alias_for(*l, key, 0);
  if (r.dest == UINT64_MAX || r.sample.source == UINT64_MAX || r.sample.key == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  if (encode(r, out_for(*l))) note_payload(*l, 0, r.sample.encoding, r.sample.payload.size());
}

result<void> engine::handle_heartbeat(link& l, const heartbeat& m, time_point now) {
  const peer_id* source = resolve_node(l, m.source);
  if (!source || m.key >= l.rx_keys.size() || l.rx_keys[m.key].empty()) {
    return engine_errc::unknown_alias;
  }
  if (*source == m_self) return {};
  stream* st = stream_for(*source, m.publisher, now);
  const std::string& key = l.rx_keys[m.key];
  // Down the source's tree like its samples; the same announcement only once in a while, so
  // that a heartbeat caught in a loop of changing routes dies out.
  if (m.last_seq != st->hb_seq || now - st->hb_time >= heartbeat_refresh) {
    st->hb_seq = m.last_seq;
    st->hb_time = now;
    if (const auto* targets = targets_for_key(*source, key)) {
      for (const auto& t : *targets) {
        if (t == l.peer) continue;
        if (link* out = find_link(t))
          send_heartbeat_on(*out, *source, key, m.publisher, m.last_seq, st->prio);
      }
    }
  }
  if (st->delivering && !local_subs_for(key_entry(key), key).empty()) {
    st->announced = std::max(st->announced, m.last_seq);
    if (st->announced >= st->next) open_gap(*st, now);
  }
  return {};
}

result<void> engine::handle_nack(link& l, const nack& m, time_point now) {
  (void)now;
  const peer_id* dest = resolve_node(l, m.dest);
  const peer_id* requester = resolve_node(l, m.requester);
  if (!dest || !requester) return engine_errc::unknown_alias;
  if (*dest != m_self) {
    if (m.hops <= 1) {
      ++m_stats.unicast_dropped;
      return {};
    }
    nack fwd = m;
    fwd.hops = static_cast<std::uint8_t>(m.hops - 1);
    const peer_id to = *dest, from = *requester;
    send_unicast_nack(to, from, fwd);
    return {};
  }
  // A publisher undeclared lately still answers from its history (retired_linger).
  const publisher* found = nullptr;
  if (auto it = m_pubs.find(m.publisher); it != m_pubs.end()) {
    found = it->second.get();
  } else if (auto r = m_retired.find(m.publisher); r != m_retired.end()) {
    found = r->second.get();
  }
  if (!found || *requester == m_self) return {};
  const publisher& p = *found;
  const peer_id to = *requester;
  const std::uint64_t count = std::min<std::uint64_t>(m.count, history_samples);
  for (std::uint64_t s = m.first; s - m.first < count; ++s) {
    const history_entry* e = p.find(s);
    if (!e) continue;
    repair r;
    r.sample.flags = e->flags;
    r.sample.publisher = m.publisher;
    r.sample.seq = e->seq;
    r.sample.timestamp = e->timestamp;
    r.sample.encoding = e->encoding;
    r.sample.payload = e->payload;
    send_unicast_repair(to, m_self, p.key, r);
    ++m_stats.repairs_sent;
  }
  return {};
}

result<void> engine::handle_repair(link& l, const repair& m, time_point now) {
  const peer_id* dest = resolve_node(l, m.dest);
  const peer_id* source = resolve_node(l, m.sample.source);
  if (!dest || !source || m.sample.key >= l.rx_keys.size() || l.rx_keys[m.sample.key].empty()) {
    return engine_errc::unknown_alias;
  }
  const std::string& key = l.rx_keys[m.sample.key];
  if (*dest != m_self) {
    if (m.hops <= 1) {
      ++m_stats.unicast_dropped;
      return {};
    }
    repair fwd = m;
    fwd.hops = static_cast<std::uint8_t>(m.hops - 1);
    const peer_id to = *dest, src = *source;
    send_unicast_repair(to, src, key, fwd);
    return {};
  }
  auto it = m_streams.find(seq_ref{*source, m.sample.publisher});
  if (it == m_streams.end()) return {};  // forgotten meanwhile
  stream& st = *it->second;
  st.last_activity = now;
  receive_ordered(st, key, m.sample, now, true);
  finish_if_ended(st);
  return {};
}

result<void> engine::handle_publisher_end(link& l, const publisher_end& m, time_point now) {
  const peer_id* source = resolve_node(l, m.source);
  if (!source || m.key >= l.rx_keys.size() || l.rx_keys[m.key].empty()) {
    return engine_errc::unknown_alias;
  }
  if (*source == m_self) return {};
  // Unknown (never seen, collected, or ended already): nothing to finish, and not forwarded,
  // so copies on changing routes die out.
  auto it = m_streams.find(seq_ref{*source, m.publisher});
  if (it == m_streams.end()) return {};
  stream& st = *it->second;
  if (st.ended) return {};
  st.ended = true;
  st.last_activity = now;
  const std::string& key = l.rx_keys[m.key];
  // Down the source's tree like its heartbeats, behind its samples on their lane.
  if (const auto* targets = targets_for_key(*source, key)) {
    for (const auto& t : *targets) {
      if (t == l.peer) continue;
      if (link* out = find_link(t))
        send_heartbeat_on(*out, *source, key, m.publisher, m.last_seq, st.prio, true);
    }
  }
  // Like a heartbeat: what is missing up to the last sample is asked for first.
  if (st.delivering && !local_subs_for(key_entry(key), key).empty()) {
    st.announced = std::max(st.announced, m.last_seq);
    if (st.announced >= st.next) open_gap(st, now);
  }
  finish_if_ended(st);
  forget_key(key);
  return {};
}

void engine::finish_if_ended(stream& st) {
  // An open gap holds the state until it is filled (deliver_held) or given up (on_deadline).
  if (st.ended && !st.gapped) drop_stream(st);
}

void engine::drop_stream(stream& st) {
  close_gap(st);
  m_held_count -= st.held.size();
  m_held_bytes -= st.held_bytes;
  ++m_stats.streams_ended;
  auto it = m_streams.find(seq_ref{*st.source, st.publisher});
  if (it != m_streams.end()) m_streams.erase(it);
}

void engine::send_heartbeat_on(link& l, const peer_id& source, std::string_view key,
                               std::uint64_t pub, std::uint64_t last_seq, priority prio, bool end) {
  heartbeat h;
  h.source = node_alias_for(l, source);
  h.key = key_alias_for(l, key, lane_of(prio));
  if (h.source == UINT64_MAX || h.key == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return;
  }
  h.publisher = pub;
  h.last_seq = last_seq;
  // Behind the publisher's samples on the same lane: it must not overtake them.
  if (end) {
    (void)encode(publisher_end{h.source, h.publisher, h.key, h.last_seq},
                 out_for(l, lane_of(prio)));
  } else {
    (void)encode(h, out_for(l, lane_of(prio)));
  }
}

}  // namespace starling::data
