#include "core/mesh/manager.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "core/multiformats/multiaddr.hpp"
#include "core/multiformats/peer_id.hpp"

namespace starling::mesh {

namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mesh"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::invalid_multiaddr:
        return "invalid bootstrap multiaddr";
      case errc::own_address:
        return "bootstrap address names our own peer id";
      case errc::too_many_bootstraps:
        return "too many bootstrap addresses";
    }
    return "unknown mesh error";
  }
};

/// Multiaddr text without /p2p/, or nullopt when it does not parse or names another peer.
std::optional<std::string> normalize_addr(std::string_view text, std::string_view peer_id) {
  auto ma = multiformats::multiaddr::parse(text);
  if (!ma) return std::nullopt;
  if (auto p = ma->peer()) {
    if (p->to_string() != peer_id) return std::nullopt;
    return ma->without_peer().to_string();
  }
  return ma->to_string();
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

manager::manager(config cfg, std::string self_peer_id, crypto::rng& rng)
    : m_cfg(std::move(cfg)), m_self(std::move(self_peer_id)), m_rng(rng) {
  if (auto id = multiformats::peer_id::parse(m_self)) m_self = id->to_string();
  if (m_cfg.max_parallel_dials == 0) m_cfg.max_parallel_dials = 1;
  if (m_cfg.max_known_peers == 0) m_cfg.max_known_peers = 1;
  if (m_cfg.max_addrs_per_peer == 0) m_cfg.max_addrs_per_peer = 1;
  if (m_cfg.backoff_max < m_cfg.backoff_initial) m_cfg.backoff_max = m_cfg.backoff_initial;
  m_cfg.backoff_jitter = std::clamp(m_cfg.backoff_jitter, 0.0, 1.0);
}

// ---- bookkeeping helpers ----

std::optional<std::string> manager::canonical_id(std::string_view text) const {
  if (m_peers.find(text) != m_peers.end()) return std::string(text);
  auto id = multiformats::peer_id::parse(text);
  if (!id) return std::nullopt;
  return id->to_string();
}

manager::peer_entry* manager::lookup(std::string_view id) {
  auto it = m_peers.find(id);
  return it == m_peers.end() ? nullptr : &it->second;
}

const manager::peer_entry* manager::lookup(std::string_view id) const {
  auto it = m_peers.find(id);
  return it == m_peers.end() ? nullptr : &it->second;
}

namespace {
/// Lower is better: bootstrap > mdns > store/identify > pex > inbound only.
int source_rank(unsigned sources) {
  if (sources & bit(source::bootstrap)) return 0;
  if (sources & bit(source::mdns)) return 1;
  if (sources & (bit(source::store) | bit(source::identify))) return 2;
  if (sources & bit(source::pex)) return 3;
  return 4;
}

/// Health order of dial candidates: fewer failures, proven before unproven, connected more
/// recently, better source, due earlier.
struct health {
  std::uint32_t failures;
  time_point last_connected;
  int rank;
  time_point due;
  bool unproven = false;
  bool better_than(const health& o) const {
    if (failures != o.failures) return failures < o.failures;
    if (unproven != o.unproven) return !unproven;
    if (last_connected != o.last_connected) return last_connected > o.last_connected;
    if (rank != o.rank) return rank < o.rank;
    return due < o.due;
  }
};
/// Eviction order: more failures, then connected longest ago, then weaker source, then seen
/// longest ago.
bool worse(const known_peer& a, const known_peer& b) {
  if (a.failures != b.failures) return a.failures > b.failures;
  if (a.last_connected != b.last_connected) return a.last_connected < b.last_connected;
  const int ra = source_rank(a.sources), rb = source_rank(b.sources);
  if (ra != rb) return ra > rb;
  return a.last_seen < b.last_seen;
}
}  // namespace

bool manager::unproven(const peer_entry& p) {
  return p.info.sources == bit(source::mdns) && p.info.sightings < 2 &&
         p.info.last_connected == time_point{} && !p.explicit_bootstrap && !p.keyless_bootstrap;
}

std::size_t manager::unproven_dials() const {
  std::size_t n = 0;
  for (const auto& [id, d] : m_dials)
    n += d.unproven ? 1 : 0;
  return n;
}

std::size_t manager::unproven_cap() const {
  return std::max<std::size_t>(1, m_cfg.max_parallel_dials / 2);
}

bool manager::evict_one() {
  peer_map::iterator worst = m_peers.end();
  for (auto it = m_peers.begin(); it != m_peers.end(); ++it) {
    const known_peer& k = it->second.info;
    if (k.sources & bit(source::bootstrap)) continue;
    if (k.state == peer_state::connected || k.state == peer_state::dialing) continue;
    if (worst == m_peers.end()) {
      worst = it;
      continue;
    }
    if (worse(k, worst->second.info)) worst = it;
  }
  if (worst == m_peers.end()) return false;
  m_peers.erase(worst);
  return true;
}

manager::peer_entry* manager::add_peer(const std::string& id, time_point now, bool must_add) {
  if (m_peers.size() >= m_cfg.max_known_peers && !evict_one() && !must_add) return nullptr;
  peer_entry& p = m_peers[id];
  p.info.peer_id = id;
  p.info.first_seen = p.info.last_seen = now;
  p.info.next_attempt = now;
  return &p;
}

void manager::merge_addrs(peer_entry& p, const std::vector<std::string>& fresh) {
  std::vector<std::string> merged;
  merged.reserve(fresh.size() + p.info.addrs.size());
  auto push = [&](const std::string& a) {
    if (std::find(merged.begin(), merged.end(), a) == merged.end()) merged.push_back(a);
  };
  for (const auto& a : fresh)
    push(a);
  for (const auto& a : p.info.addrs)
    push(a);
  const std::size_t limit = m_cfg.max_addrs_per_peer;
  const std::size_t slots = limit > p.pinned.size() ? limit - p.pinned.size() : 0;
  std::size_t kept = 0;
  std::vector<std::string> out;
  for (auto& a : merged) {
    bool pinned = std::find(p.pinned.begin(), p.pinned.end(), a) != p.pinned.end();
    if (pinned || kept < slots) {
      if (!pinned) ++kept;
      out.push_back(std::move(a));
    }
  }
  p.info.addrs = std::move(out);
}

void manager::forget_if_unused(const std::string& id) {
  auto it = m_peers.find(id);
  if (it == m_peers.end()) return;
  const known_peer& k = it->second.info;
  if (k.sources != 0 || k.state == peer_state::connected || k.state == peer_state::dialing) return;
  m_peers.erase(it);
}

void manager::mark_connected(peer_entry& p, time_point now) {
  if (p.info.state != peer_state::connected) ++m_connected;
  p.info.state = peer_state::connected;
  p.info.last_connected = p.info.last_seen = now;
  for (auto& b : m_bootstraps) {
    if (!b.keyless || b.peer_id != p.info.peer_id || b.state == peer_state::dialing) continue;
    b.state = peer_state::connected;
    b.failures = 0;
    b.last_connected = now;
  }
}

std::chrono::nanoseconds manager::random_below(std::chrono::nanoseconds max) {
  std::array<std::uint8_t, 8> buf{};
  m_rng.fill(buf);
  std::uint64_t v = 0;
  std::memcpy(&v, buf.data(), buf.size());
  const double u =
      static_cast<double>(v >> 11) / static_cast<double>(std::uint64_t{1} << 53);  // [0,1)
  return std::chrono::nanoseconds(static_cast<std::int64_t>(u * static_cast<double>(max.count())));
}

std::chrono::nanoseconds manager::backoff_delay(std::uint32_t failures) {
  using ns = std::chrono::nanoseconds;
  const auto cap = static_cast<double>(ns(m_cfg.backoff_max).count());
  double base = static_cast<double>(ns(m_cfg.backoff_initial).count());
  for (std::uint32_t i = 1; i < failures && base < cap; ++i)
    base *= 2;
  base = std::min(base, cap);
  const double j = m_cfg.backoff_jitter;
  // Uniform in [base*(1-j), min(base*(1+j), backoff_max)]: jittered even at the cap.
  const double lo = base * (1 - j);
  const double hi = std::min(base * (1 + j), cap);
  const auto span = ns(static_cast<std::int64_t>(hi - lo));
  return ns(static_cast<std::int64_t>(lo)) + random_below(span);
}

void manager::fail_peer(peer_entry& p, time_point now) {
  p.info.failures++;
  p.info.state = peer_state::backoff;
  p.info.next_attempt = now + backoff_delay(p.info.failures);
  const unsigned weak = bit(source::pex) | bit(source::store);
  const std::string id = p.info.peer_id;
  if (p.info.sources == 0 ||
      ((p.info.sources & ~weak) == 0 && p.info.failures >= m_cfg.forget_after_failures)) {
    m_peers.erase(id);
  }
}

void manager::fail_bootstrap(bootstrap_entry& b, time_point now) {
  b.failures++;
  b.state = peer_state::backoff;
  b.next_attempt = now + backoff_delay(b.failures);
}

void manager::link_bootstrap(bootstrap_entry& b, const std::string& id, time_point now) {
  if (!b.peer_id.empty() && b.peer_id != id) {
    // The address now answers with another identity: the old peer loses its bootstrap role
    // unless another bootstrap address still names it.
    const std::string old = b.peer_id;
    b.peer_id.clear();
    if (peer_entry* o = lookup(old); o && !o->explicit_bootstrap && !bootstrap_for(old)) {
      o->keyless_bootstrap = false;
      o->info.sources &= ~bit(source::bootstrap);
      forget_if_unused(old);
    }
  }
  b.peer_id = id;
  peer_entry* p = lookup(id);
  if (!p) p = add_peer(id, now, true);
  p->info.sources |= bit(source::bootstrap);
  p->keyless_bootstrap = true;
  p->info.last_seen = now;
  merge_addrs(*p, {b.addr});
}

const manager::bootstrap_entry* manager::bootstrap_for(const std::string& peer_id) const {
  for (const auto& b : m_bootstraps)
    if (b.keyless && b.peer_id == peer_id) return &b;
  return nullptr;
}

// ---- inputs ----

result<void> manager::add_bootstrap(std::string_view multiaddr_text, time_point now) {
  auto ma = multiformats::multiaddr::parse(multiaddr_text);
  if (!ma) return make_error_code(errc::invalid_multiaddr);
  std::string addr = ma->without_peer().to_string();
  std::string id;
  if (auto p = ma->peer()) id = p->to_string();
  if (!id.empty() && id == m_self) return make_error_code(errc::own_address);
  for (const auto& b : m_bootstraps) {
    if (b.addr == addr && b.keyless == id.empty() && (id.empty() || b.peer_id == id)) return {};
  }
  if (m_bootstraps.size() >= max_bootstrap_addrs) return make_error_code(errc::too_many_bootstraps);

  bootstrap_entry b;
  b.addr = addr;
  b.next_attempt = now;
  if (!id.empty()) {
    b.keyless = false;
    b.peer_id = id;
    peer_entry* p = lookup(id);
    if (!p) p = add_peer(id, now, true);
    p->info.sources |= bit(source::bootstrap);
    p->explicit_bootstrap = true;
    if (std::find(p->pinned.begin(), p->pinned.end(), addr) == p->pinned.end())
      p->pinned.push_back(addr);
    merge_addrs(*p, {addr});
    if (p->info.state == peer_state::idle || p->info.state == peer_state::backoff)
      p->info.next_attempt = std::min(p->info.next_attempt, now);
  }
  m_bootstraps.push_back(std::move(b));
  return {};
}

void manager::discovered(std::string_view peer_id, const std::vector<std::string>& addrs,
                         source src, time_point now) {
  if (src == source::bootstrap) return;  // bootstrap peers come through add_bootstrap
  auto id = canonical_id(peer_id);
  if (!id || *id == m_self) return;
  std::vector<std::string> fresh;
  for (const auto& text : addrs) {
    if (fresh.size() >= m_cfg.max_addrs_per_peer) break;
    auto a = normalize_addr(text, *id);
    if (a && std::find(fresh.begin(), fresh.end(), *a) == fresh.end())
      fresh.push_back(std::move(*a));
  }

  peer_entry* p = lookup(*id);
  if (!p) {
    if (fresh.empty()) return;
    p = add_peer(*id, now, false);
    if (!p) return;
    p->info.sources = bit(src);
    if (src == source::mdns) p->info.sightings = 1;
    // Tie-break for peers found by mDNS at the same moment on both sides: the lower id dials.
    if (src == source::mdns && !(m_self < *id)) p->info.next_attempt = now + m_cfg.tie_break_delay;
    merge_addrs(*p, fresh);
    return;
  }
  p->info.sources |= bit(src);
  p->info.last_seen = now;
  if (src == source::mdns && p->info.sightings < UINT32_MAX) ++p->info.sightings;
  merge_addrs(*p, fresh);
  if (src == source::mdns && p->info.state == peer_state::backoff) {
    time_point t = now;
    if (p->has_attempted) t = std::max(t, p->last_attempt + m_cfg.min_redial_interval);
    p->info.next_attempt = std::min(p->info.next_attempt, t);
  }
}

void manager::lost(std::string_view peer_id, source src, time_point /*now*/) {
  if (src == source::bootstrap) return;  // bootstrap peers are kept forever
  auto id = canonical_id(peer_id);
  if (!id) return;
  peer_entry* p = lookup(*id);
  if (!p) return;
  p->info.sources &= ~bit(src);
  forget_if_unused(*id);
}

void manager::connected(std::string_view peer_id, time_point now) {
  auto id = canonical_id(peer_id);
  if (!id || *id == m_self) return;
  peer_entry* p = lookup(*id);
  if (!p) {
    p = add_peer(*id, now, true);
    p->info.sources = bit(source::inbound);
  }
  mark_connected(*p, now);
}

void manager::disconnected(std::string_view peer_id, time_point now) {
  auto id = canonical_id(peer_id);
  if (!id) return;
  peer_entry* p = lookup(*id);
  if (!p || p->info.state != peer_state::connected) return;
  --m_connected;
  if (now - p->info.last_connected >= m_cfg.stable_after) {
    p->info.failures = 0;
    p->info.next_attempt = now + random_below(reconnect_delay_max);
  } else {
    ++p->info.failures;
    p->info.next_attempt = now + backoff_delay(p->info.failures);
  }
  p->info.last_connected = now;
  for (auto& b : m_bootstraps) {
    if (b.keyless && b.peer_id == *id && b.state == peer_state::connected) {
      b.state = peer_state::idle;
      b.last_connected = now;
      b.next_attempt = p->info.next_attempt;
    }
  }
  const bool our_dial_pending = std::any_of(m_dials.begin(), m_dials.end(), [&](const auto& d) {
    return d.second.bootstrap == 0 && d.second.peer_id == *id;
  });
  // With our own dial still on its way (a simultaneous inbound connection came and went), the
  // peer stays "dialing" until dial_finished: no second dial.
  p->info.state = our_dial_pending ? peer_state::dialing : peer_state::idle;
  forget_if_unused(*id);
}

void manager::dial_finished(std::uint64_t dial_id, result<std::string> connected_peer,
                            time_point now) {
  auto it = m_dials.find(dial_id);
  if (it == m_dials.end()) return;
  const dial_target target = std::move(it->second);
  m_dials.erase(it);

  std::optional<std::string> got;
  if (connected_peer) got = canonical_id(*connected_peer);

  if (target.bootstrap != 0) {
    bootstrap_entry& b = m_bootstraps[target.bootstrap - 1];
    b.state = peer_state::idle;
    if (!got) return fail_bootstrap(b, now);
    if (*got == m_self) {
      b.is_self = true;  // our own address: never again
      return;
    }
    link_bootstrap(b, *got, now);  // b stays idle here; mark_connected makes it connected
    if (peer_entry* p = lookup(*got)) mark_connected(*p, now);
    return;
  }

  peer_entry* p = lookup(target.peer_id);
  if (!p) return;  // forgotten meanwhile
  if (got && *got == target.peer_id) return mark_connected(*p, now);
  if (p->info.state == peer_state::connected) return;  // a simultaneous connection won
  fail_peer(*p, now);
}

// ---- choosing dials ----

bool manager::target_room() const {
  return m_connected + m_dials.size() < m_cfg.target_connections;
}

bool manager::peer_candidate(const peer_entry& p) const {
  const known_peer& k = p.info;
  if (k.state != peer_state::idle && k.state != peer_state::backoff) return false;
  if (k.addrs.empty()) return false;
  if (p.keyless_bootstrap) {
    // A peer known only through a bootstrap address without /p2p/ is dialled through it.
    if (!p.explicit_bootstrap && k.sources == bit(source::bootstrap)) return false;
    if (const bootstrap_entry* b = bootstrap_for(k.peer_id); b && b->state == peer_state::dialing)
      return false;
  }
  return true;
}

bool manager::bootstrap_candidate(const bootstrap_entry& b) const {
  if (!b.keyless || b.is_self) return false;
  if (b.state != peer_state::idle && b.state != peer_state::backoff) return false;
  if (!b.peer_id.empty()) {
    if (const peer_entry* p = lookup(b.peer_id);
        p && (p->info.state == peer_state::dialing || p->info.state == peer_state::connected))
      return false;
  }
  return true;
}

std::optional<dial_request> manager::poll_dial(time_point now) {
  if (m_dials.size() >= m_cfg.max_parallel_dials) return std::nullopt;
  const bool room = target_room();

  peer_entry* best_peer = nullptr;
  bootstrap_entry* best_boot = nullptr;
  std::optional<health> best;
  const bool unproven_full = unproven_dials() >= unproven_cap();
  for (auto& [id, p] : m_peers) {
    if (!peer_candidate(p) || p.info.next_attempt > now) continue;
    if (!room && !p.explicit_bootstrap) continue;
    const bool weak = unproven(p);
    if (weak && unproven_full) continue;
    health h{p.info.failures, p.info.last_connected, source_rank(p.info.sources),
             p.info.next_attempt, weak};
    if (!best || h.better_than(*best)) {
      best = h;
      best_peer = &p;
    }
  }
  for (auto& b : m_bootstraps) {
    if (!bootstrap_candidate(b) || b.next_attempt > now) continue;
    health h{b.failures, b.last_connected, 0, b.next_attempt};
    if (!best || h.better_than(*best)) {
      best = h;
      best_boot = &b;
      best_peer = nullptr;
    }
  }

  dial_request req;
  req.dial_id = m_next_dial_id++;
  if (best_boot) {
    best_boot->state = peer_state::dialing;
    req.addrs = {best_boot->addr};
    m_dials[req.dial_id] =
        dial_target{{}, static_cast<std::size_t>(best_boot - m_bootstraps.data()) + 1, false};
    return req;
  }
  if (!best_peer) return std::nullopt;
  best_peer->info.state = peer_state::dialing;
  best_peer->last_attempt = now;
  best_peer->has_attempted = true;
  req.peer_id = best_peer->info.peer_id;
  req.addrs = best_peer->info.addrs;
  m_dials[req.dial_id] = dial_target{req.peer_id, 0, unproven(*best_peer)};
  return req;
}

time_point manager::next_deadline() const {
  if (m_dials.size() >= m_cfg.max_parallel_dials) return no_deadline;
  const bool room = target_room();
  time_point t = no_deadline;
  const bool unproven_full = unproven_dials() >= unproven_cap();
  for (const auto& [id, p] : m_peers) {
    if (!peer_candidate(p) || (!room && !p.explicit_bootstrap)) continue;
    if (unproven_full && unproven(p)) continue;  // only a dial_finished can make it dialable
    t = std::min(t, p.info.next_attempt);
  }
  for (const auto& b : m_bootstraps) {
    if (bootstrap_candidate(b)) t = std::min(t, b.next_attempt);
  }
  return t;
}

void manager::on_deadline(time_point /*now*/) {
  // Due dials are found by poll_dial(now) itself; nothing to advance here.
}

// ---- views ----

std::vector<known_peer> manager::peers() const {
  std::vector<known_peer> out;
  out.reserve(m_peers.size());
  for (const auto& [id, p] : m_peers)
    out.push_back(p.info);
  return out;
}

const known_peer* manager::find(std::string_view peer_id) const {
  auto id = canonical_id(peer_id);
  if (!id) return nullptr;
  const peer_entry* p = lookup(*id);
  return p ? &p->info : nullptr;
}

std::size_t manager::connected_count() const {
  return m_connected;
}

std::vector<bootstrap_status> manager::bootstraps() const {
  std::vector<bootstrap_status> out;
  for (const auto& b : m_bootstraps) {
    bootstrap_status s{b.addr, b.peer_id, b.state, b.failures, b.next_attempt};
    if (!b.keyless) {
      if (const peer_entry* p = lookup(b.peer_id)) {
        s.state = p->info.state;
        s.failures = p->info.failures;
        s.next_attempt = p->info.next_attempt;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace starling::mesh
