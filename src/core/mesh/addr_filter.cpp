#include "core/mesh/addr_filter.hpp"

#include <algorithm>

namespace starling::mesh {

addr_verdict classify_peer_addr(const multiformats::multiaddr& a, bool via_loopback) {
  const auto ep = a.tcp_endpoint();
  if (!ep) return addr_verdict::not_tcp;
  if (ep->port == 0) return addr_verdict::port_zero;
  if (a.is_loopback() && !via_loopback) return addr_verdict::foreign_loopback;
  const std::size_t n = ep->is_v6 ? 16 : 4;
  if (std::all_of(ep->ip.begin(), ep->ip.begin() + static_cast<std::ptrdiff_t>(n),
                  [](std::uint8_t b) { return b == 0; }))
    return addr_verdict::unspecified;
  if (ep->is_v6 && ep->ip[0] == 0xfe && (ep->ip[1] & 0xc0) == 0x80 && ep->zone.empty())
    return addr_verdict::link_local_without_zone;
  return addr_verdict::usable;
}

std::vector<std::string> useful_peer_addrs(const std::optional<multiformats::multiaddr>& dialled,
                                           std::span<const multiformats::multiaddr> advertised,
                                           bool via_loopback) {
  std::vector<std::string> out;
  auto add = [&](const multiformats::multiaddr& a) {
    if (classify_peer_addr(a, via_loopback) != addr_verdict::usable) return;
    auto text = a.without_peer().to_string();
    if (std::find(out.begin(), out.end(), text) == out.end()) out.push_back(std::move(text));
  };
  if (dialled) add(*dialled);
  for (const auto& a : advertised)
    add(a);
  return out;
}

bool loopback_only(std::span<const multiformats::multiaddr> listen) {
  return !listen.empty() &&
         std::all_of(listen.begin(), listen.end(), [](const auto& a) { return a.is_loopback(); });
}

}  // namespace starling::mesh
