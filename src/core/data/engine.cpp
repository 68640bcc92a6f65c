#include "core/data/engine.hpp"

#include <algorithm>

namespace starling::data {

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
    }
    return "unknown data engine error";
  }
};

/// Frames are closed at this size; a single message may take one over it.
constexpr std::size_t batch_bytes = 64 * 1024;
/// Keys whose forwarding state is cached; past this the cache starts over.
constexpr std::size_t max_cached_keys = 65536;
/// Sources whose targets one key caches.
constexpr std::size_t max_sources_per_key = 8;

}  // namespace

const std::error_category& engine_category() noexcept {
  static const engine_category_impl c;
  return c;
}

struct engine::link {
  peer_id peer;
  bool got_hello = false;
  bool dirty = false;
  frame_reader reader;
  frame_writer writer;
  bool writing = false;
  bytes frames;  ///< finished frames not yet drained
  std::unordered_map<peer_id, std::uint64_t> tx_nodes;
  std::uint64_t next_node = 1;
  std::unordered_map<std::string, std::uint64_t> tx_keys;
  std::uint64_t next_key = 1;
  std::vector<std::optional<peer_id>> rx_nodes;  ///< by alias
  std::vector<std::string> rx_keys;              ///< by alias; "" = not declared
};

struct engine::publisher {
  std::string key;
  publisher_options opts;
  std::uint64_t seq = 0;
};

struct engine::subscriber {
  keyexpr::keyexpr expr;
};

struct engine::key_state {
  std::uint64_t local_generation = UINT64_MAX;
  std::vector<std::uint64_t> local_subs;
  std::uint64_t route_generation = UINT64_MAX;
  std::vector<std::uint64_t> interested;                          ///< node numbers, sorted
  std::vector<std::pair<peer_id, std::vector<peer_id>>> targets;  ///< per source
};

engine::engine(peer_id self, std::uint64_t initial_version, engine_sink& sink)
    : m_self(std::move(self)), m_sink(sink), m_routes(m_self, initial_version) {}

engine::~engine() = default;

engine::link* engine::find_link(const peer_id& peer) {
  auto it = m_links.find(peer);
  return it == m_links.end() ? nullptr : it->second.get();
}

std::vector<peer_id> engine::links() const {
  std::vector<peer_id> out;
  out.reserve(m_links.size());
  for (const auto& [p, l] : m_links)
    out.push_back(p);
  std::sort(out.begin(), out.end());
  return out;
}

bytes& engine::out_for(link& l) {
  if (!l.writing) {
    l.writer.begin();
    l.writing = true;
  } else if (l.writer.body_size() >= batch_bytes) {
    if (l.writer.finish()) append(l.frames, l.writer.frame());
    l.writer.begin();
  }
  if (!l.dirty) {
    l.dirty = true;
    m_dirty.push_back(&l);
  }
  return l.writer.body();
}

void engine::drain_transmit(const std::function<void(const peer_id&, bytes_view)>& fn) {
  if (m_own_dirty) {
    m_own_dirty = false;
    flood_record(m_routes.own(), nullptr);
  }
  auto dirty = std::move(m_dirty);
  m_dirty.clear();
  for (link* l : dirty) {
    l->dirty = false;
    if (l->writing && l->writer.body_size() > 0) {
      if (!l->writer.finish()) {
        ++m_stats.protocol_errors;  // cannot happen: frames close at batch_bytes
      } else if (l->frames.empty()) {
        l->writing = false;
        fn(l->peer, l->writer.frame());  // the common case: one frame, no copy
        continue;
      } else {
        append(l->frames, l->writer.frame());
      }
    }
    l->writing = false;
    if (!l->frames.empty()) fn(l->peer, l->frames);
    l->frames.clear();
  }
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

std::uint64_t engine::key_alias_for(link& l, std::string_view key) {
  if (auto it = l.tx_keys.find(std::string(key)); it != l.tx_keys.end()) return it->second;
  if (l.next_key > max_alias) return UINT64_MAX;
  const std::uint64_t a = l.next_key++;
  l.tx_keys.emplace(std::string(key), a);
  (void)encode(key_alias{a, std::string(key)}, out_for(l));
  return a;
}

// ---- links and records ----

void engine::link_up(const peer_id& peer, time_point now) {
  if (find_link(peer)) link_down(peer, now);
  auto l = std::make_unique<link>();
  l->peer = peer;
  link& ref = *l;
  m_links.emplace(peer, std::move(l));
  (void)encode(hello{protocol_version, m_self.bytes(), 0, max_frame}, out_for(ref));
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
    for (const auto& d : e->removed) {
      if (d.k != declaration::kind::subscriber) continue;
      if (auto x = keyexpr::keyexpr::parse(d.expr)) m_remote_subs.erase(*x, number);
    }
    for (const auto& d : e->added) {
      if (d.k != declaration::kind::subscriber) continue;
      if (auto x = keyexpr::keyexpr::parse(d.expr)) m_remote_subs.insert(*x, number);
    }
    if (e->k == routing_event::kind::unreachable) {
      std::erase_if(m_last_seq, [&](const auto& kv) { return kv.first.source == e->node; });
      m_node_by_number.erase(number);
      m_node_numbers.erase(it);
    }
    m_sink.on_routing_event(*e);
  }
}

void engine::update_declarations() {
  std::vector<declaration> decls;
  decls.reserve(m_subs.size());
  for (const auto& [id, s] : m_subs) {
    decls.push_back(declaration{declaration::kind::subscriber, 0, s->expr.str()});
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
    return {};
  }
  if (std::holds_alternative<hello>(m)) return engine_errc::bad_hello;  // only once
  if (const auto* a = std::get_if<node_alias>(&m)) {
    auto id = peer_id::from_bytes(a->node);
    if (!id) return id.error();
    if (l.rx_nodes.size() <= a->alias) l.rx_nodes.resize(a->alias + 1);
    l.rx_nodes[a->alias] = std::move(*id);
    return {};
  }
  if (const auto* k = std::get_if<key_alias>(&m)) {
    auto x = keyexpr::key::parse(k->key);
    if (!x) return make_error_code(errc::bad_value);
    if (l.rx_keys.size() <= k->alias) l.rx_keys.resize(k->alias + 1);
    l.rx_keys[k->alias] = x->str();
    return {};
  }
  if (const auto* r = std::get_if<record_message>(&m)) return handle_record(l, *r, now);
  if (const auto* p = std::get_if<push>(&m)) return handle_push(l, *p, physical_ntp);
  ++m_stats.unknown_messages;  // unknown, or not handled by this version yet
  return {};
}

result<void> engine::handle_record(link& l, const record_message& m, time_point now) {
  auto resolve = [&](std::uint64_t alias) -> const peer_id* {
    if (alias == 0) return &l.peer;
    if (alias >= l.rx_nodes.size() || !l.rx_nodes[alias]) return nullptr;
    return &*l.rx_nodes[alias];
  };
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

// ---- samples ----

engine::key_state& engine::key_entry(std::string_view key) {
  auto it = m_keys.find(std::string(key));
  if (it != m_keys.end()) return *it->second;
  if (m_keys.size() >= max_cached_keys) m_keys.clear();
  return *m_keys.emplace(std::string(key), std::make_unique<key_state>()).first->second;
}

const std::vector<peer_id>& engine::targets_for(key_state& ks, const peer_id& source) {
  // route_sample() refreshed ks.interested and cleared ks.targets for this generation.
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
  ks.targets.emplace_back(source, std::move(out));
  return ks.targets.back().second;
}

void engine::deliver_local(std::string_view key, const sample& s) {
  key_state& ks = key_entry(key);
  if (ks.local_generation != m_local_generation) {
    ks.local_generation = m_local_generation;
    ks.local_subs.clear();
    if (auto k = keyexpr::key::parse(key)) {
      m_local_subs.for_each_match(*k, [&](std::uint64_t id) { ks.local_subs.push_back(id); });
    }
  }
  for (std::uint64_t id : ks.local_subs) {
    ++m_stats.samples_delivered;
    m_sink.on_sample(id, s);
  }
}

bool engine::send_push(link& l, const peer_id& source, std::string_view key, const push& p) {
  push q = p;
  q.source = node_alias_for(l, source);
  q.key = key_alias_for(l, key);
  if (q.source == UINT64_MAX || q.key == UINT64_MAX) {
    ++m_stats.alias_exhausted;
    return false;
  }
  if (!encode(q, out_for(l))) return false;
  ++m_stats.samples_forwarded;
  return true;
}

void engine::route_sample(const peer_id& source, const link* from, std::string_view key,
                          const push& wire_sample) {
  key_state& ks = key_entry(key);
  if (ks.route_generation != m_routes.generation()) {
    ks.route_generation = m_routes.generation();
    ks.targets.clear();
    ks.interested.clear();
    if (auto k = keyexpr::key::parse(key)) {
      m_remote_subs.for_each_match(*k, [&](std::uint64_t n) { ks.interested.push_back(n); });
      std::sort(ks.interested.begin(), ks.interested.end());
      ks.interested.erase(std::unique(ks.interested.begin(), ks.interested.end()),
                          ks.interested.end());
    }
  }
  if (ks.interested.empty()) return;
  const auto& targets = targets_for(ks, source);
  for (const auto& t : targets) {
    if (from && t == from->peer) continue;
    if (link* l = find_link(t)) send_push(*l, source, key, wire_sample);
  }
}

result<void> engine::handle_push(link& l, const push& m, std::uint64_t physical_ntp) {
  const peer_id* source = nullptr;
  if (m.source == 0) {
    source = &l.peer;
  } else if (m.source < l.rx_nodes.size() && l.rx_nodes[m.source]) {
    source = &*l.rx_nodes[m.source];
  }
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
  auto [it, fresh] = m_last_seq.try_emplace(seq_key{*source, m.publisher}, 0);
  if (!fresh && m.seq <= it->second) {
    ++m_stats.duplicates;
    return {};
  }
  if (!fresh && m.seq > it->second + 1) m_stats.gaps += m.seq - it->second - 1;
  it->second = m.seq;
  const std::string& key = l.rx_keys[m.key];
  const sample s{key,         m.payload, m.encoding,  (m.flags & push_flags::del) != 0,
                 m.timestamp, source,    m.publisher, m.seq};
  deliver_local(key, s);
  route_sample(*source, &l, key, m);
  return {};
}

// ---- local API ----

result<std::uint64_t> engine::declare_subscriber(std::string_view expr) {
  auto x = keyexpr::keyexpr::parse(expr);
  if (!x) return x.error().code;
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

result<std::uint64_t> engine::declare_publisher(std::string_view key, publisher_options opts) {
  auto k = keyexpr::key::parse(key);
  if (!k) {
    if (k.error().code == keyexpr::errc::wildcard_in_key) return engine_errc::not_a_key;
    return k.error().code;
  }
  const std::uint64_t id = m_next_id++;
  m_pubs.emplace(id, std::make_unique<publisher>(publisher{k->str(), std::move(opts), 0}));
  return id;
}

void engine::undeclare_publisher(std::uint64_t id) {
  auto it = m_pubs.find(id);
  if (it == m_pubs.end()) return;
  m_implicit_pubs.erase(it->second->key);
  m_pubs.erase(it);
}

result<void> engine::put(std::uint64_t id, bytes_view payload, std::uint64_t physical_ntp,
                         bool del) {
  auto it = m_pubs.find(id);
  if (it == m_pubs.end()) return engine_errc::unknown_publisher;
  if (payload.size() > max_payload) return errc::payload_too_large;
  publisher& p = *it->second;
  const std::uint64_t ts = m_clock.stamp(physical_ntp);
  const std::uint64_t seq = ++p.seq;
  ++m_stats.samples_published;
  const sample s{p.key, payload, p.opts.encoding, del, ts, &m_self, id, seq};
  deliver_local(p.key, s);
  push w;
  w.flags = static_cast<std::uint8_t>(
      (del ? push_flags::del : 0) | (p.opts.reliable ? push_flags::reliable : 0) |
      (p.opts.encoding.empty() ? 0 : push_flags::has_encoding) |
      (static_cast<int>(priority::data) << push_flags::priority_shift));
  w.publisher = id;
  w.seq = seq;
  w.timestamp = ts;
  w.encoding = p.opts.encoding;
  w.payload = payload;
  route_sample(m_self, nullptr, p.key, w);
  return {};
}

result<void> engine::put(std::string_view key, bytes_view payload, std::string_view encoding,
                         std::uint64_t physical_ntp, bool del) {
  std::uint64_t id = 0;
  if (auto it = m_implicit_pubs.find(std::string(key)); it != m_implicit_pubs.end()) {
    id = it->second;
  } else {
    auto r = declare_publisher(key, publisher_options{true, {}});
    if (!r) return r.error();
    id = *r;
    m_implicit_pubs.emplace(m_pubs.at(id)->key, id);
  }
  // One implicit publisher per key; each put may name its own encoding.
  m_pubs.at(id)->opts.encoding = std::string(encoding);
  return put(id, payload, physical_ntp, del);
}

time_point engine::next_deadline() const {
  return m_routes.next_deadline();
}

void engine::on_deadline(time_point now) {
  m_routes.on_deadline(now);
  pump_routing();
}

}  // namespace starling::data
