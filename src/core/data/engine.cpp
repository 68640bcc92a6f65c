#include "core/data/engine.hpp"

#include <algorithm>

#include "core/data/engine_internal.hpp"

namespace starling::data {

using namespace detail;

namespace {

class engine_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "data.engine"; }
  std::string message(int c) const override {
    switch (static_cast<engine_errc>(c)) {
      case engine_errc::unknown_publisher:
        return "unknown publisher";
      case engine_errc::not_a_key:
        return "a key may not contain wildcards";
      case engine_errc::unknown_link:
        return "no data link to that peer";
      case engine_errc::no_hello:
        return "data stream does not start with hello";
      case engine_errc::bad_hello:
        return "bad hello (version or node id)";
      case engine_errc::unknown_alias:
        return "message uses an undeclared alias";
      case engine_errc::bad_record:
        return "invalid node record";
      case engine_errc::unknown_query:
        return "no such query (it ended or expired)";
      case engine_errc::reply_key_mismatch:
        return "the reply's key does not match the query's selector";
      case engine_errc::too_many_queries:
        return "too many queries pending";
      case engine_errc::bad_parameters:
        return "query parameters over 4 KiB";
      case engine_errc::would_block:
        return "a link towards a subscriber is congested (try again when it has room)";
      case engine_errc::access_denied:
        return "access denied: this node's roles do not allow that operation on that key "
               "(`starling acl explain` says which rule decides)";
    }
    return "unknown data engine error";
  }
};
}  // namespace

const std::error_category& engine_category() noexcept {
  static const engine_category_impl c;
  return c;
}

engine::engine(peer_id self, std::uint64_t initial_version, engine_sink& sink, engine_options opts)
    : m_self(std::move(self)),
      m_sink(sink),
      m_opts(opts),
      m_compressor(opts.compress_level),
      m_routes(m_self, initial_version) {}

engine::~engine() = default;

engine::link* engine::find_link(const peer_id& peer) {
  auto it = m_links.find(peer);
  return it == m_links.end() ? nullptr : it->second.get();
}

std::size_t engine::backlog() const {
  std::size_t n = 0;
  for (const auto& [p, l] : m_links)
    n += l->backlog();
  return n;
}

std::vector<peer_id> engine::links() const {
  std::vector<peer_id> out;
  out.reserve(m_links.size());
  for (const auto& [p, l] : m_links)
    out.push_back(p);
  std::sort(out.begin(), out.end());
  return out;
}

bytes& engine::out_for(link& l, std::size_t lane_index) {
  auto& ln = l.lanes[lane_index];
  if (!ln.writing) {
    ln.writer.begin();
    ln.incompressible = 0;
    ln.writing = true;
  } else if (ln.writer.body_size() >= batch_bytes) {
    if (auto f = finish_frame(l, lane_index)) {
      ln.frames.emplace_back(f->begin(), f->end());
      ln.queued += ln.frames.back().size();
    }
    ln.writer.begin();
    ln.incompressible = 0;
  }
  if (!l.dirty) {
    l.dirty = true;
    m_dirty.push_back(&l);
  }
  return ln.writer.body();
}

void engine::drain_transmit(const std::function<void(const peer_id&, bytes_view)>& fn,
                            const std::function<std::size_t(const peer_id&)>& room) {
  sync_declarations();
  if (m_own_dirty) {
    m_own_dirty = false;
    flood_record(m_routes.own(), nullptr);
  }
  auto dirty = std::move(m_dirty);
  m_dirty.clear();
  for (link* l : dirty) {
    l->dirty = false;
    std::size_t budget = SIZE_MAX;
    bool left = false;
    for (std::size_t i = 0; i < lane_count; ++i) {
      auto& ln = l->lanes[i];
      if (i == 1 && room) budget = room(l->peer);  // lane 0 ignores the budget
      while (!ln.frames.empty() && budget > 0) {
        fn(l->peer, ln.frames.front());
        budget -= std::min(budget, ln.frames.front().size());
        ln.queued -= ln.frames.front().size();
        ln.frames.pop_front();
      }
      if (ln.writing && ln.writer.body_size() > 0) {
        const auto f = finish_frame(*l, i);
        if (!f) {
          ++m_stats.protocol_errors;  // cannot happen: frames close at batch_bytes
        } else if (ln.frames.empty() && budget > 0) {
          fn(l->peer, *f);  // the common case: one frame, no copy
          budget -= std::min(budget, f->size());
        } else {
          ln.frames.emplace_back(f->begin(), f->end());
          ln.queued += ln.frames.back().size();
        }
      }
      ln.writing = false;
      if (!ln.frames.empty()) left = true;
    }
    if (left) m_waiting.push_back(l);
  }
  // Links still holding samples are drained again when the caller has room (has_output()).
  for (link* l : m_waiting) {
    if (!l->dirty) {
      l->dirty = true;
      m_dirty.push_back(l);
    }
  }
  m_waiting.clear();
}

std::optional<bytes_view> engine::finish_frame(link& l, std::size_t lane_index) {
  auto& ln = l.lanes[lane_index];
  if (!ln.writer.finish()) return std::nullopt;
  const std::size_t body = ln.writer.body_size();
  const std::size_t compressible = body - std::min(body, ln.incompressible);
  if (!l.zstd || compressible < m_opts.compress_threshold) return ln.writer.frame();
  if (ln.incompressible > compressible) {
    ++m_stats.frames_left_raw;  // mostly payloads that are compressed already
    return ln.writer.frame();
  }
  const bytes_view raw = ln.writer.frame();
  if (ln.zstd_skip > 0) {
    --ln.zstd_skip;
    ++m_stats.frames_left_raw;  // the lane's recent frames did not compress
    return raw;
  }
  auto z = m_compressor.compress_frame(raw.subspan(raw.size() - body), m_zout);
  if (!z || z->size() * 8 > raw.size() * 7) {
    ln.zstd_pause =
        std::min<std::uint32_t>(max_zstd_pause, std::max<std::uint32_t>(1, ln.zstd_pause * 2));
    ln.zstd_skip = ln.zstd_pause;
  } else {
    ln.zstd_pause = 0;
  }
  if (!z) {
    ++m_stats.frames_left_raw;  // no smaller
    return raw;
  }
  ++m_stats.frames_compressed;
  m_stats.compress_bytes_in += raw.size();
  m_stats.compress_bytes_out += z->size();
  return z;
}

void engine::note_payload(link& l, std::size_t lane_index, std::string_view encoding,
                          std::size_t size) {
  if (!encoding.empty() && compressed_encoding(encoding))
    l.lanes[lane_index].incompressible += size;
}

std::uint64_t engine::node_alias_for(link& l, const peer_id& node) {
  if (node == m_self) return 0;
  if (auto it = l.tx_nodes.find(node); it != l.tx_nodes.end()) return it->second;
  if (l.next_node > max_alias) return UINT64_MAX;
  const std::uint64_t a = l.next_node++;
  l.tx_nodes.emplace(node, a);
  (void)encode(node_alias{a, node.bytes()}, out_for(l));
  return a;
}

std::uint64_t engine::key_alias_for(link& l, std::string_view key, std::size_t lane_index) {
  auto& ln = l.lanes[lane_index];
  const std::uint64_t per_lane = max_alias / lane_count;
  const std::uint64_t base = 1 + lane_index * per_lane;
  if (auto it = ln.tx_keys.find(key); it != ln.tx_keys.end()) {
    ln.key_used[it->second - base] = 1;
    return it->second;
  }
  std::uint64_t slot = 0;
  if (ln.tx_key_of.size() < per_lane) {
    slot = ln.tx_key_of.size();
    ln.tx_key_of.emplace_back();
    ln.key_used.push_back(0);
  } else {
    // The lane's range is full: reuse an alias not used lately (a clock sweep). The new
    // meaning is declared on this lane, after every earlier use of the old one.
    while (ln.key_used[ln.key_hand]) {
      ln.key_used[ln.key_hand] = 0;
      ln.key_hand = (ln.key_hand + 1) % per_lane;
    }
    slot = ln.key_hand;
    ln.key_hand = (ln.key_hand + 1) % per_lane;
    ln.tx_keys.erase(ln.tx_key_of[slot]);
    ++m_stats.aliases_reused;
  }
  const std::uint64_t a = base + slot;
  ln.tx_key_of[slot] = std::string(key);
  ln.key_used[slot] = 1;
  ln.tx_keys.emplace(std::string(key), a);
  (void)encode(key_alias{a, std::string(key)}, out_for(l, lane_index));
  return a;
}

// ---- links and records ----

void engine::link_up(const peer_id& peer, time_point now) {
  if (find_link(peer)) link_down(peer, now);
  auto l = std::make_unique<link>();
  l->peer = peer;
  l->query_budget = abuse::token_bucket(m_opts.queries_per_second, m_opts.query_burst);
  link& ref = *l;
  ref.reader.accept_compressed(m_opts.compression);
  m_links.emplace(peer, std::move(l));
  (void)encode(
      hello{protocol_version, m_self.bytes(), m_opts.compression ? feature_zstd : 0, max_frame},
      out_for(ref));
  auto changed = m_routes.set_links(links(), now);
  if (changed && *changed) {
    flood_own();
  } else {
    send_record(ref, m_routes.own());
  }
  for (const node_record* r : m_routes.records()) {
    if (r->origin != m_self) send_record(ref, *r);
  }
  pump_routing();
}

void engine::link_down(const peer_id& peer, time_point now) {
  auto it = m_links.find(peer);
  if (it == m_links.end()) return;
  link* l = it->second.get();
  std::erase(m_dirty, l);
  m_links.erase(it);
  auto changed = m_routes.set_links(links(), now);
  if (changed && *changed) flood_own();
  pump_routing();
}

void engine::send_record(link& l, const node_record& r) {
  record_message m;
  m.origin = node_alias_for(l, r.origin);
  m.version = r.version;
  m.links.reserve(r.links.size());
  for (const auto& n : r.links)
    m.links.push_back(node_alias_for(l, n));
  if (m.origin == UINT64_MAX ||
      std::find(m.links.begin(), m.links.end(), UINT64_MAX) != m.links.end()) {
    ++m_stats.alias_exhausted;
    return;
  }
  m.decls.reserve(r.decls.size());
  for (const auto& d : r.decls) {
    // A liveliness token goes only to a neighbour that may watch it (access_rules.hpp); a
    // record goes whole to the node it describes.
    if (d.k == declaration::kind::token && r.origin != l.peer &&
        !may(l.peer, access::operation::liveliness_watch, d.expr)) {
      ++m_stats.access_denied_out;
      continue;
    }
    m.decls.push_back(wire_decl{static_cast<std::uint8_t>(d.k), d.flags, d.expr});
  }
  if (!encode(m, out_for(l))) ++m_stats.protocol_errors;
}

void engine::flood_record(const node_record& r, const link* except) {
  for (auto& [p, l] : m_links) {
    if (l.get() != except) send_record(*l, r);
  }
}

void engine::flood_own() {
  // Sent at the next drain: a burst of changes (links coming up at start, many declarations)
  // floods one version of our record, not one per change.
  m_own_dirty = true;
}

void engine::pump_routing() {
  while (auto e = m_routes.poll_event()) {
    auto [it, fresh] = m_node_numbers.try_emplace(e->node, m_next_node_number);
    if (fresh) m_node_by_number.emplace(m_next_node_number++, e->node);
    const std::uint64_t number = it->second;
    // Declarations count only when their origin may make them (rights do not change between
    // access_changed() calls, which rebuild all of this; an erase of one never inserted is a
    // no-op).
    for (const auto& d : e->removed) {
      auto x = keyexpr::keyexpr::parse(d.expr);
      if (!x) continue;
      if (d.k == declaration::kind::subscriber) m_remote_subs.erase(*x, number);
      if (d.k == declaration::kind::queryable) m_remote_qbls.erase(*x, number);
      if (d.k == declaration::kind::token && m_remote_tokens.erase({e->node, d.expr}) > 0) {
        token_event(d.expr, e->node, false);
      }
    }
    for (const auto& d : e->added) {
      auto x = keyexpr::keyexpr::parse(d.expr);
      if (!x) continue;
      if (!declaration_allowed(e->node, d)) {
        ++m_stats.declarations_denied;
        continue;
      }
      if (d.k == declaration::kind::subscriber) m_remote_subs.insert(*x, number);
      if (d.k == declaration::kind::queryable) m_remote_qbls.insert(*x, number);
      if (d.k == declaration::kind::token &&
          may_declare(m_self, access::operation::liveliness_watch, *x) &&
          m_remote_tokens.emplace(e->node, d.expr).second) {
        token_event(d.expr, e->node, true);
      }
    }
    // Receive state of an unreachable source stays (routes may show a source unreachable
    // for a moment while the records of a changing mesh catch up): open gaps keep asking
    // until their tries run out, and the idle sweep collects it.
    if (e->k == routing_event::kind::unreachable) {
      // Queries waiting for it do not wait any longer.
      std::vector<std::uint64_t> waiting;
      for (const auto& [qid, q] : m_pending) {
        if (std::find(q->remaining.begin(), q->remaining.end(), e->node) != q->remaining.end())
          waiting.push_back(qid);
      }
      for (auto qid : waiting)
        node_finished(e->node, qid, true);
      m_node_by_number.erase(number);
      m_node_numbers.erase(it);
    }
    m_sink.on_routing_event(*e);
  }
}

void engine::update_declarations() {
  m_decls_dirty = true;
}

void engine::sync_declarations() {
  if (!m_decls_dirty) return;
  m_decls_dirty = false;
  std::vector<declaration> decls;
  decls.reserve(m_subs.size() + m_qbls.size() + m_tokens.size());
  // Declarations this node lost the right to make are suspended: left out until it has it again.
  for (const auto& [id, s] : m_subs) {
    if (!may_declare(m_self, access::operation::subscribe, s->expr)) continue;
    decls.push_back(declaration{declaration::kind::subscriber, 0, s->expr.str()});
  }
  for (const auto& [id, q] : m_qbls) {
    if (!may_declare(m_self, access::operation::declare_queryable, q->expr)) continue;
    decls.push_back(declaration{declaration::kind::queryable,
                                static_cast<std::uint8_t>(q->complete ? 1 : 0), q->expr.str()});
  }
  for (const auto& [id, key] : m_tokens) {
    if (!may(m_self, access::operation::liveliness_token, key)) continue;
    decls.push_back(declaration{declaration::kind::token, 0, key});
  }
  auto changed = m_routes.set_declarations(std::move(decls));
  if (changed && *changed) flood_own();
}

result<void> engine::on_bytes(const peer_id& peer, bytes_view in, time_point now,
                              std::uint64_t physical_ntp) {
  link* l = find_link(peer);
  if (!l) return engine_errc::unknown_link;
  l->reader.feed(in);
  for (;;) {
    auto f = l->reader.next_frame();
    if (!f) {
      ++m_stats.protocol_errors;
      return f.error();
    }
    if (!*f) return {};
    bytes_view body = **f;
    if (l->reader.last_flags() & frame_compressed) {
      // Bounded like a raw frame's body; a corrupt frame or a bomb is refused, counted.
      if (auto d = m_decompressor.decompress(body, m_zin, max_frame - 1); !d) {
        ++m_stats.decompress_refused;
        ++m_stats.protocol_errors;
        return d.error();
      }
      ++m_stats.frames_decompressed;
      body = m_zin;
    }
    while (!body.empty()) {
      std::size_t used = 0;
      auto m = decode_message(body, used);
      if (!m) {
        ++m_stats.protocol_errors;
        return m.error();
      }
      if (auto r = handle(*l, *m, now, physical_ntp); !r) {
        ++m_stats.protocol_errors;
        return r.error();
      }
      body = body.subspan(used);
    }
  }
}

result<void> engine::handle(link& l, const message& m, time_point now, std::uint64_t physical_ntp) {
  if (!l.got_hello) {
    const auto* h = std::get_if<hello>(&m);
    if (!h) return engine_errc::no_hello;
    if (h->version != protocol_version || h->node != l.peer.bytes()) return engine_errc::bad_hello;
    l.got_hello = true;
    l.zstd = m_opts.compression && (h->features & feature_zstd) != 0;
    return {};
  }
  if (std::holds_alternative<hello>(m)) return engine_errc::bad_hello;  // only once
  if (const auto* a = std::get_if<node_alias>(&m)) {
    auto id = peer_id::from_bytes(a->node);
    if (!id) return id.error();
    if (l.rx_nodes.size() <= a->alias) l.rx_nodes.resize(a->alias + 1);
    l.rx_nodes[a->alias] = std::move(*id);
    ++l.rx_epoch;  // cached access decisions name nodes by alias
    return {};
  }
  if (const auto* k = std::get_if<key_alias>(&m)) {
    auto x = keyexpr::key::parse(k->key);
    if (!x) return make_error_code(errc::bad_value);
    if (l.rx_keys.size() <= k->alias) l.rx_keys.resize(k->alias + 1);
    l.rx_keys[k->alias] = x->str();
    if (k->alias < l.rx_rights.size()) l.rx_rights[k->alias] = link::rx_right{};
    return {};
  }
  if (const auto* q = std::get_if<query>(&m);
      q && m_opts.queries_per_second > 0 && !l.query_budget.take(now)) {
    ++m_stats.queries_refused;
    refuse_query(l, *q);
    m_sink.on_violation(l.peer, violation::flood);
    return {};
  }
  if (m_guard && !ingress_allowed(l, m)) {
    m_sink.on_violation(l.peer, violation::access);
    return {};  // dropped and counted
  }
  if (const auto* r = std::get_if<record_message>(&m)) return handle_record(l, *r, now);
  if (const auto* p = std::get_if<push>(&m)) return handle_push(l, *p, now, physical_ntp);
  if (const auto* h = std::get_if<heartbeat>(&m)) return handle_heartbeat(l, *h, now);
  if (const auto* n = std::get_if<nack>(&m)) return handle_nack(l, *n, now);
  if (const auto* r = std::get_if<repair>(&m)) return handle_repair(l, *r, now);
  if (const auto* e = std::get_if<publisher_end>(&m)) return handle_publisher_end(l, *e, now);
  if (const auto* q = std::get_if<query>(&m)) return handle_query(l, *q, now);
  if (const auto* r = std::get_if<data::reply>(&m)) return handle_reply(l, *r);
  if (const auto* f = std::get_if<data::reply_final>(&m)) return handle_reply_final(l, *f);
  ++m_stats.unknown_messages;  // unknown, or not handled by this version yet
  return {};
}

const peer_id* engine::resolve_node(const link& l, std::uint64_t alias) const {
  if (alias == 0) return &l.peer;
  if (alias >= l.rx_nodes.size() || !l.rx_nodes[alias]) return nullptr;
  return &*l.rx_nodes[alias];
}

result<void> engine::handle_record(link& l, const record_message& m, time_point now) {
  auto resolve = [&](std::uint64_t alias) { return resolve_node(l, alias); };
  node_record r;
  const peer_id* origin = resolve(m.origin);
  if (!origin) return engine_errc::unknown_alias;
  r.origin = *origin;
  r.version = m.version;
  r.links.reserve(m.links.size());
  for (auto a : m.links) {
    const peer_id* n = resolve(a);
    if (!n) return engine_errc::unknown_alias;
    r.links.push_back(*n);
  }
  r.decls.reserve(m.decls.size());
  for (const auto& d : m.decls) {
    auto x = keyexpr::keyexpr::parse(d.expr);
    if (!x) return engine_errc::bad_record;
    r.decls.push_back(declaration{static_cast<declaration::kind>(d.kind), d.flags, x->str()});
  }
  const peer_id origin_id = r.origin;
  switch (m_routes.apply(std::move(r), now)) {
    case routing_table::outcome::stored:
      ++m_stats.records_stored;
      if (const node_record* stored = m_routes.find(origin_id)) flood_record(*stored, &l);
      break;
    case routing_table::outcome::own_bumped:
      flood_own();
      break;
    case routing_table::outcome::stale:
    case routing_table::outcome::full:
      break;
    case routing_table::outcome::invalid:
      return engine_errc::bad_record;
  }
  pump_routing();
  return {};
}

// ---- local API ----

result<std::uint64_t> engine::declare_subscriber(std::string_view expr) {
  auto x = keyexpr::keyexpr::parse(expr);
  if (!x) return x.error().code;
  if (!may_declare(m_self, access::operation::subscribe, *x)) return engine_errc::access_denied;
  const std::uint64_t id = m_next_id++;
  m_local_subs.insert(*x, id);
  m_subs.emplace(id, std::make_unique<subscriber>(subscriber{*x}));
  ++m_local_generation;
  update_declarations();
  return id;
}

void engine::undeclare_subscriber(std::uint64_t id) {
  auto it = m_subs.find(id);
  if (it == m_subs.end()) return;
  m_local_subs.erase(it->second->expr, id);
  m_subs.erase(it);
  ++m_local_generation;
  update_declarations();
}

engine_usage engine::usage() const {
  engine_usage u;
  u.publishers = m_pubs.size();
  u.implicit_publishers = m_implicit_lru.size();
  for (const auto& [id, p] : m_pubs)
    u.history_bytes += p->footprint();
  u.history_bytes += m_retired_history;
  u.retired_publishers = m_retired.size();
  u.implicit_history_bytes = m_implicit_history;
  u.cached_keys = m_keys.size() + m_keys_old.size();
  u.cached_key_bytes = m_keys_bytes + m_keys_old_bytes;
  u.heartbeat_timers = m_hb_heap.size();
  u.streams = m_streams.size();
  u.held_samples = m_held_count;
  return u;
}

time_point engine::next_deadline() const {
  time_point d = std::min(m_routes.next_deadline(), m_next_sweep);
  if (!m_hb_heap.empty()) d = std::min(d, m_hb_heap.front().first);
  if (!m_implicit_lru.empty())
    d = std::min(d, m_pubs.at(m_implicit_lru.front())->used + implicit_idle);
  // Retired publishers not stamped yet: at once (the engine learns the time there).
  if (m_retired_unstamped > 0) d = time_point::min();
  if (!m_retired_order.empty()) d = std::min(d, m_retired_order.front().first);
  for (const stream* st : m_gapped)
    d = std::min(d, st->nack_due);
  for (const auto& [qid, q] : m_pending)
    d = std::min(d, q->local_due ? time_point::min() : q->deadline);
  for (const auto& [h, in] : m_handles)
    d = std::min(d, in->deadline);
  return d;
}

void engine::on_deadline(time_point now) {
  sync_declarations();
  m_routes.on_deadline(now);
  pump_routing();
  // Heartbeats of publishers that went quiet.
  while (!m_hb_heap.empty() && m_hb_heap.front().first <= now) {
    std::pop_heap(m_hb_heap.begin(), m_hb_heap.end(), std::greater<>());
    const std::uint64_t id = m_hb_heap.back().second;
    m_hb_heap.pop_back();
    auto it = m_pubs.find(id);
    if (it == m_pubs.end()) continue;
    publisher& p = *it->second;
    const time_point due = p.last_put + heartbeat_after[p.hb_stage];
    // A publisher that may no longer publish (its roles changed) announces nothing.
    const bool may_publish = local_put_allowed(p, false) || local_put_allowed(p, true);
    if (due <= now) {
      const auto* targets = may_publish ? targets_for_key(m_self, p.key) : nullptr;
      if (targets) {
        for (const auto& t : *targets) {
          if (link* l = find_link(t)) {
            send_heartbeat_on(*l, m_self, p.key, id, p.seq, p.opts.prio);
            ++m_stats.heartbeats_sent;
          }
        }
      }
      ++p.hb_stage;
    }
    if (p.hb_stage >= static_cast<int>(std::size(heartbeat_after))) {
      p.hb_armed = false;
      continue;
    }
    m_hb_heap.emplace_back(p.last_put + heartbeat_after[p.hb_stage], id);
    std::push_heap(m_hb_heap.begin(), m_hb_heap.end(), std::greater<>());
  }
  // Gaps: ask again, or give up after nack_tries.
  std::vector<stream*> due;
  for (stream* st : m_gapped) {
    if (st->nack_due <= now) due.push_back(st);
  }
  for (stream* st : due) {
    if (std::find(m_gapped.begin(), m_gapped.end(), st) == m_gapped.end()) continue;
    if (st->nack_count >= nack_tries) {
      give_up_gaps(*st);
      finish_if_ended(*st);
    } else {
      send_nacks(*st, now);
    }
  }
  // Queries: run the local part of new ones, end those past their timeout.
  std::vector<std::uint64_t> qids;
  for (const auto& [qid, q] : m_pending)
    qids.push_back(qid);
  std::sort(qids.begin(), qids.end());
  for (auto qid : qids) {
    auto it = m_pending.find(qid);
    if (it == m_pending.end()) continue;
    pending_query& q = *it->second;
    if (q.local_due) {
      q.local_due = false;
      const bool local =
          std::find(q.remaining.begin(), q.remaining.end(), m_self) != q.remaining.end();
      if (local) {
        const auto sel = *q.selector;
        const auto params = q.parameters;
        const auto payload = q.payload;
        std::optional<bytes_view> pv;
        if (payload) pv = bytes_view(*payload);
        run_query(m_self, qid, sel, q.target, params, pv, q.timeout, now);
      } else if (q.remaining.empty()) {
        finish_query(qid, false);  // nobody to ask
      }
      continue;
    }
    if (q.deadline <= now) finish_query(qid, !q.remaining.empty());
  }
  // Incoming queries whose queryables never finished: forget them (the querier's own
  // timeout ends the query there).
  std::erase_if(m_handles, [&](const auto& kv) { return kv.second->deadline <= now; });
  // Implicit publishers gone quiet, retired histories past their time.
  collect_implicit(now);
  collect_retired(now);
  // Receive state of publishers gone quiet.
  if (now >= m_next_sweep) {
    std::erase_if(m_streams, [&](const auto& kv) {
      return !kv.second->gapped && kv.second->last_activity + stream_idle <= now;
    });
    m_next_sweep = m_streams.empty() ? no_deadline : now + sweep_interval;
  }
}

}  // namespace starling::data
