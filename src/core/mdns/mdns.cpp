#include "core/mdns/mdns.hpp"

#include <algorithm>

namespace starling::mdns {

namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "mdns"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::invalid_peer_id:
        return "mDNS config: invalid peer id";
      case errc::invalid_address:
        return "mDNS config: invalid or foreign multiaddr";
      case errc::unknown_interface:
        return "mDNS packet from an unconfigured interface";
    }
    return "unknown mdns error";
  }
};

// Most PTR records of one packet looked at, and most pending transmissions kept.
constexpr std::size_t max_ptrs_per_packet = 32;
constexpr std::size_t max_pending_transmits = 256;
constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

std::string random_name(crypto::rng& rng) {
  std::uint8_t len_byte = 0;
  rng.fill(std::span<std::uint8_t>(&len_byte, 1));
  const std::size_t len = 32 + len_byte % 32;  // 32..63: one DNS label
  std::string name;
  while (name.size() < len) {
    std::uint8_t buf[64];
    rng.fill(buf);
    for (std::uint8_t b : buf) {
      // 252 = 7 * 36: rejecting the rest keeps every character equally likely.
      if (b < 252 && name.size() < len) name.push_back(alphabet[b % alphabet.size()]);
    }
  }
  return name;
}

result<std::vector<multiformats::multiaddr>> parse_addrs(const std::vector<std::string>& texts,
                                                         const multiformats::peer_id& id) {
  std::vector<multiformats::multiaddr> out;
  for (const auto& t : texts) {
    auto a = multiformats::multiaddr::parse(t);
    if (!a) return errc::invalid_address;
    if (auto p = a->peer(); p && *p != id) return errc::invalid_address;
    auto bare = a->without_peer();
    if (bare.empty()) return errc::invalid_address;
    if (std::find(out.begin(), out.end(), bare) == out.end()) out.push_back(std::move(bare));
  }
  return out;
}

bool ends_with_service(std::string_view name) {
  if (name.size() <= service_name.size() + 1) return false;
  const auto tail = name.substr(name.size() - service_name.size() - 1);
  return tail[0] == '.' && dns::name_equal(tail.substr(1), service_name);
}

// The value of a "dnsaddr=" attribute (key compared case-insensitively, as DNS-SD keys are).
std::optional<std::string_view> dnsaddr_value(std::string_view s) {
  constexpr std::string_view key = "dnsaddr=";
  if (s.size() <= key.size() || !dns::name_equal(s.substr(0, key.size()), key)) return std::nullopt;
  return s.substr(key.size());
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

core::core(config cfg, multiformats::peer_id id, std::string name)
    : m_cfg(std::move(cfg)),
      m_id(std::move(id)),
      m_id_text(m_id.to_string()),
      m_name(std::move(name)) {
  m_full_name = m_name + "." + std::string(service_name);
}

result<core> core::create(config cfg, crypto::rng& rng) {
  auto id = multiformats::peer_id::parse(cfg.peer_id);
  if (!id) return errc::invalid_peer_id;
  std::vector<iface_state> ifaces;
  for (const auto& i : cfg.interfaces) {
    iface_state s;
    s.index = i.index;
    s.addrs = STARLING_TRY(parse_addrs(i.addrs, *id));
    auto same = [&](const iface_state& o) { return o.index == i.index; };
    if (auto it = std::find_if(ifaces.begin(), ifaces.end(), same); it != ifaces.end()) {
      *it = std::move(s);
    } else {
      ifaces.push_back(std::move(s));
    }
  }
  core c(std::move(cfg), std::move(*id), random_name(rng));
  c.m_ifaces = std::move(ifaces);
  return c;
}

core::iface_state* core::find_iface(std::uint32_t index) {
  for (auto& s : m_ifaces) {
    if (s.index == index) return &s;
  }
  return nullptr;
}

void core::queue_query(iface_state& s, time_point now) {
  if (m_tx.size() >= max_pending_transmits) m_tx.pop_front();
  m_tx.push_back({s.index, detail::build_query()});
  s.last_query = now;
  s.foreign_query_seen = false;
}

void core::queue_response(iface_state& s, time_point now) {
  s.response_due.reset();
  if (s.addrs.empty()) return;
  auto packet = detail::build_response(m_name, m_id_text, s.addrs,
                                       static_cast<std::uint32_t>(m_cfg.ttl.count()),
                                       m_cfg.max_packet_bytes, m_cfg.max_ip_records);
  if (packet.empty()) return;
  if (m_tx.size() >= max_pending_transmits) m_tx.pop_front();
  m_tx.push_back({s.index, std::move(packet)});
  s.last_response = now;
  s.announced = true;
}

void core::request_response(iface_state& s, time_point now) {
  if (s.addrs.empty()) return;                          // nothing to say
  if (s.response_due && *s.response_due > now) return;  // already coming
  if (s.response_due || s.last_response == time_point::min() ||
      now - s.last_response >= m_cfg.min_response_interval) {
    queue_response(s, now);
  } else {
    s.response_due = s.last_response + m_cfg.min_response_interval;
  }
}

void core::queue_goodbye(const iface_state& s) {
  if (m_tx.size() >= max_pending_transmits) m_tx.pop_front();
  m_tx.push_back({s.index, detail::build_goodbye(m_name)});
}

void core::push_event(event e) {
  if (m_events.size() >= m_cfg.max_pending_events) m_events.pop_front();
  m_events.push_back(std::move(e));
}

void core::expire(std::size_t i) {
  push_event(peer_expired{std::move(m_peers[i].peer_id), m_peers[i].iface});
  m_peers.erase(m_peers.begin() + static_cast<std::ptrdiff_t>(i));
}

void core::start(time_point now) {
  if (m_running) return;
  m_running = true;
  m_started = now;
  m_query_step = 0;
  m_next_query = m_cfg.initial_queries.empty() ? now : now + m_cfg.initial_queries.front();
  for (auto& s : m_ifaces) {
    queue_response(s, now);
    // RFC 6762 section 8.3: announce twice, one second apart.
    if (!s.addrs.empty()) s.response_due = now + m_cfg.min_response_interval;
  }
  on_deadline(now);
}

void core::shutdown() {
  if (!m_running) return;
  for (auto& s : m_ifaces) {
    if (s.announced) queue_goodbye(s);
    s.announced = false;
    s.response_due.reset();
  }
  m_running = false;
  m_next_query = no_deadline;
  m_peers.clear();
}

result<void> core::set_interface(const interface_config& iface, time_point now) {
  auto addrs = STARLING_TRY(parse_addrs(iface.addrs, m_id));
  iface_state* s = find_iface(iface.index);
  if (!s) {
    m_ifaces.push_back(iface_state{});
    s = &m_ifaces.back();
    s->index = iface.index;
  }
  s->addrs = std::move(addrs);
  if (!m_running) return {};
  if (s->addrs.empty()) {
    if (s->announced) queue_goodbye(*s);
    s->announced = false;
    s->response_due.reset();
  } else {
    request_response(*s, now);
  }
  queue_query(*s, now);
  return {};
}

void core::remove_interface(std::uint32_t index) {
  const auto it = std::find_if(m_ifaces.begin(), m_ifaces.end(),
                               [&](const iface_state& s) { return s.index == index; });
  if (it == m_ifaces.end()) return;
  if (m_running && it->announced) queue_goodbye(*it);
  m_ifaces.erase(it);
  for (std::size_t i = m_peers.size(); i-- > 0;) {
    if (m_peers[i].iface == index) expire(i);
  }
}

std::optional<outgoing> core::poll_transmit() {
  if (m_tx.empty()) return std::nullopt;
  outgoing o = std::move(m_tx.front());
  m_tx.pop_front();
  return o;
}

std::optional<event> core::poll_event() {
  if (m_events.empty()) return std::nullopt;
  event e = std::move(m_events.front());
  m_events.pop_front();
  return e;
}

time_point core::next_deadline() const {
  if (!m_running) return no_deadline;
  time_point t = m_next_query;
  for (const auto& s : m_ifaces) {
    if (s.response_due) t = std::min(t, *s.response_due);
  }
  for (const auto& p : m_peers)
    t = std::min(t, p.expires);
  return t;
}

void core::on_deadline(time_point now) {
  if (!m_running) return;
  if (m_next_query <= now) {
    for (auto& s : m_ifaces) {
      if (m_cfg.suppress_duplicate_queries && s.foreign_query_seen) {
        // RFC 6762 section 7.3: treat ours as sent; the answers to theirs reach us too.
        s.foreign_query_seen = false;
        ++m_queries_suppressed;
        continue;
      }
      queue_query(s, now);
    }
    // Next slot of the schedule that is still ahead (a late call skips missed slots).
    while (m_next_query <= now) {
      ++m_query_step;
      const time_point next = m_query_step < m_cfg.initial_queries.size()
                                  ? m_started + m_cfg.initial_queries[m_query_step]
                                  : m_next_query + m_cfg.query_interval;
      m_next_query = next > m_next_query ? next : m_next_query + m_cfg.query_interval;
    }
  }
  for (auto& s : m_ifaces) {
    if (s.response_due && *s.response_due <= now) queue_response(s, now);
  }
  for (std::size_t i = m_peers.size(); i-- > 0;) {
    if (m_peers[i].expires <= now) expire(i);
  }
}

result<void> core::feed(bytes_view packet, std::uint32_t interface_index, std::string_view source,
                        time_point now) {
  if (!m_running) return {};
  iface_state* s = find_iface(interface_index);
  if (!s) return errc::unknown_interface;
  const auto m = STARLING_TRY(dns::parse(packet));
  if (m.opcode() != 0 || m.rcode() != 0) return {};  // RFC 6762 section 18.3, 18.11
  if (m.is_response()) {
    handle_response(m, interface_index, source, now);
  } else {
    handle_query(m, *s, now);
  }
  return {};
}

void core::handle_query(const dns::message& m, iface_state& s, time_point now) {
  const bool asks = std::any_of(m.questions.begin(), m.questions.end(), [](const dns::question& q) {
    return dns::name_equal(q.name, service_name) &&
           (q.qtype == dns::type::ptr || q.qtype == dns::type::any) &&
           (q.qclass == dns::class_in || q.qclass == dns::type::any);
  });
  if (!asks) return;
  // A plain query like ours from someone else (not our own looped back): our next scheduled
  // query on this interface is redundant.
  const bool plain = m.questions.size() == 1 && m.questions[0].qtype == dns::type::ptr &&
                     !m.questions[0].unicast_response && m.answers.empty();
  if (plain && (s.last_query == time_point::min() || now - s.last_query >= m_cfg.own_echo_window)) {
    s.foreign_query_seen = true;
  }
  // Known-answer suppression (RFC 6762 section 7.1): the asker already holds our PTR with at
  // least half its lifetime left.
  const auto half = static_cast<std::uint32_t>(m_cfg.ttl.count() / 2);
  for (const auto& r : m.answers) {
    const auto* p = std::get_if<dns::ptr_data>(&r.data);
    if (p && r.rtype == dns::type::ptr && dns::name_equal(r.name, service_name) &&
        dns::name_equal(p->target, m_full_name) && r.ttl >= half) {
      return;
    }
  }
  request_response(s, now);
}

void core::handle_response(const dns::message& m, std::uint32_t index, std::string_view source,
                           time_point now) {
  std::vector<const dns::record*> records;
  records.reserve(m.answers.size() + m.additionals.size());
  for (const auto& r : m.answers)
    records.push_back(&r);
  for (const auto& r : m.additionals)
    records.push_back(&r);

  std::vector<const dns::record*> ptrs;
  for (const auto* r : records) {
    const auto* p = std::get_if<dns::ptr_data>(&r->data);
    if (!p || r->rtype != dns::type::ptr || !dns::name_equal(r->name, service_name)) continue;
    if (!ends_with_service(p->target) || dns::name_equal(p->target, m_full_name)) continue;
    const bool seen = std::any_of(ptrs.begin(), ptrs.end(), [&](const dns::record* o) {
      return dns::name_equal(std::get<dns::ptr_data>(o->data).target, p->target);
    });
    if (seen) continue;
    ptrs.push_back(r);
    if (ptrs.size() >= max_ptrs_per_packet) break;
  }

  for (const auto* ptr : ptrs) {
    const std::string& target = std::get<dns::ptr_data>(ptr->data).target;
    auto by_name = [&](const tracked_peer& p) {
      return p.iface == index && dns::name_equal(p.name, target);
    };
    if (ptr->ttl == 0) {  // goodbye
      for (std::size_t i = m_peers.size(); i-- > 0;) {
        if (by_name(m_peers[i])) expire(i);
      }
      continue;
    }
    const auto ttl =
        std::min<std::chrono::seconds>(std::chrono::seconds{ptr->ttl}, m_cfg.max_peer_ttl);

    std::optional<multiformats::peer_id> id;
    std::vector<std::string> addrs;
    for (const auto* r : records) {
      const auto* t = std::get_if<dns::txt_data>(&r->data);
      if (!t || r->rtype != dns::type::txt || r->ttl == 0 || !dns::name_equal(r->name, target))
        continue;
      for (const auto& str : t->strings) {
        const auto value = dnsaddr_value(str);
        if (!value) continue;
        auto a = multiformats::multiaddr::parse(*value);
        if (!a) continue;
        auto p = a->peer();
        if (!p) continue;
        if (!id) id = *p;
        if (*p != *id) continue;  // all addresses of one peer name one id
        auto text = a->without_peer().to_string();
        if (addrs.size() < m_cfg.max_addrs_per_peer &&
            std::find(addrs.begin(), addrs.end(), text) == addrs.end()) {
          addrs.push_back(std::move(text));
        }
      }
    }

    if (!id) {  // a PTR without addresses refreshes a peer we already know under that name
      for (auto& p : m_peers) {
        if (by_name(p)) {
          p.expires = now + ttl;
          p.last_seen = now;
          push_event(peer_seen{p.peer_id, index});
        }
      }
      continue;
    }
    if (*id == m_id) continue;  // ourselves under another name (an earlier run)
    std::string id_text = id->to_string();
    auto it = std::find_if(m_peers.begin(), m_peers.end(), [&](const tracked_peer& p) {
      return p.iface == index && p.peer_id == id_text;
    });
    if (it != m_peers.end()) {
      const bool changed = it->addrs != addrs || !dns::name_equal(it->name, target);
      it->name = target;
      it->addrs = addrs;
      it->expires = now + ttl;
      it->last_seen = now;
      if (!changed) {
        push_event(peer_seen{std::move(id_text), index});
        continue;
      }
    } else {
      if (m_cfg.max_peers == 0) continue;
      if (m_peers.size() >= m_cfg.max_peers) {
        const auto oldest = std::min_element(
            m_peers.begin(), m_peers.end(),
            [](const tracked_peer& a, const tracked_peer& b) { return a.last_seen < b.last_seen; });
        expire(static_cast<std::size_t>(oldest - m_peers.begin()));
      }
      m_peers.push_back(tracked_peer{index, id_text, target, addrs, now + ttl, now});
    }
    push_event(peer_discovered{std::move(id_text), std::move(addrs), index, std::string(source)});
  }
}

}  // namespace starling::mdns
