// The three packets we send: query, response (also our announcement) and goodbye.
#include <algorithm>
#include <string>

#include "core/mdns/mdns.hpp"

namespace starling::mdns::detail {

namespace {

using multiformats::protocol_code;

std::string full_name_of(std::string_view name) {
  std::string s(name);
  s += '.';
  s += service_name;
  return s;
}

dns::record ptr_record(std::string_view name, std::uint32_t ttl) {
  // PTR is a shared record: never cache-flush (RFC 6762 section 10.2).
  return dns::record{std::string(service_name),        dns::type::ptr, dns::class_in, false, ttl,
                     dns::ptr_data{full_name_of(name)}};
}

// The first tcp or udp port among the addresses, for the SRV record (go's zeroconf wants one;
// the dnsaddr TXT records carry the real ports).
std::uint16_t first_port(const std::vector<multiformats::multiaddr>& addrs) {
  for (const auto& a : addrs) {
    for (const auto& c : a.components()) {
      if ((c.code == protocol_code::tcp || c.code == protocol_code::udp) && c.value.size() == 2) {
        return static_cast<std::uint16_t>((c.value[0] << 8) | c.value[1]);
      }
    }
  }
  return 4001;
}

}  // namespace

bytes build_query() {
  dns::builder b(0, 0);
  // A query for one fixed name always fits.
  (void)b.add_question(
      dns::question{std::string(service_name), dns::type::ptr, dns::class_in, false});
  return b.finish();
}

bytes build_goodbye(std::string_view name) {
  dns::builder b(0, dns::flag::response | dns::flag::authoritative);
  if (!b.add_record(dns::section::answer, ptr_record(name, 0))) return {};
  return b.finish();
}

bytes build_response(std::string_view name, std::string_view peer_id_text,
                     const std::vector<multiformats::multiaddr>& addrs, std::uint32_t ttl,
                     std::size_t max_bytes, std::size_t max_ip_records) {
  dns::builder b(0, dns::flag::response | dns::flag::authoritative, true, max_bytes);
  if (!b.add_record(dns::section::answer, ptr_record(name, ttl))) return {};
  const std::string full = full_name_of(name);
  std::string host(name);
  host += ".local";

  // SRV and address records first: they are small, and go's zeroconf drops a peer without them.
  (void)b.add_record(dns::section::additional,
                     dns::record{full, dns::type::srv, dns::class_in, true, ttl,
                                 dns::srv_data{0, 0, first_port(addrs), host}});
  std::vector<dns::record> ips;
  for (const auto& a : addrs) {
    if (ips.size() >= max_ip_records) break;
    const auto comps = a.components();
    if (comps.empty()) continue;
    dns::record r{host, dns::type::a, dns::class_in, true, ttl, dns::a_data{}};
    if (comps[0].code == protocol_code::ip4 && comps[0].value.size() == 4) {
      std::copy(comps[0].value.begin(), comps[0].value.end(),
                std::get<dns::a_data>(r.data).addr.begin());
    } else if (comps[0].code == protocol_code::ip6 && comps[0].value.size() == 16) {
      r.rtype = dns::type::aaaa;
      r.data = dns::aaaa_data{};
      std::copy(comps[0].value.begin(), comps[0].value.end(),
                std::get<dns::aaaa_data>(r.data).addr.begin());
    } else {
      continue;
    }
    if (std::find(ips.begin(), ips.end(), r) == ips.end()) ips.push_back(std::move(r));
  }
  for (const auto& r : ips)
    (void)b.add_record(dns::section::additional, r);

  // One TXT record per address; one that would overflow the packet is left out.
  for (const auto& a : addrs) {
    std::string txt = "dnsaddr=";
    txt += a.to_string();
    txt += "/p2p/";
    txt += peer_id_text;
    if (txt.size() > 255) continue;
    (void)b.add_record(dns::section::additional,
                       dns::record{full, dns::type::txt, dns::class_in, true, ttl,
                                   dns::txt_data{{std::move(txt)}}});
  }
  return b.finish();
}

}  // namespace starling::mdns::detail
