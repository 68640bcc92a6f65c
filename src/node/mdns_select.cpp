// The pure parts of the mDNS service: which interfaces to run on, and what each announces.
#include <algorithm>
#include <set>

#include "node/mdns_service.hpp"

namespace starling::node {

namespace {

using multiformats::protocol_code;

// "/ip4/<ip>" or "/ip6/<ip>" for an interface address.
std::string ip_prefix(const boost::asio::ip::address& a) {
  if (a.is_v4()) return "/ip4/" + a.to_string();
  // No zone: a zone names *our* interface, which means nothing to the peer.
  return "/ip6/" + boost::asio::ip::address_v6(a.to_v6().to_bytes()).to_string();
}

bool is_interface_loopback(const std::vector<io::interface_address>& all, unsigned ifindex) {
  return std::any_of(all.begin(), all.end(), [&](const io::interface_address& a) {
    return a.index == ifindex && a.loopback;
  });
}

}  // namespace

std::vector<std::string> addresses_for_interface(const std::vector<multiformats::multiaddr>& bound,
                                                 const std::vector<io::interface_address>& all,
                                                 unsigned ifindex) {
  std::vector<std::string> out;
  auto add = [&](std::string s) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  };
  const bool on_loopback = is_interface_loopback(all, ifindex);
  for (const auto& m : bound) {
    const auto comps = m.without_peer().components();
    if (comps.empty()) continue;
    const auto& first = comps[0];
    bool v4 = false;
    if (first.code == protocol_code::ip4 && first.value.size() == 4) {
      v4 = true;
    } else if (first.code != protocol_code::ip6 || first.value.size() != 16) {
      continue;  // dns names, ip6zone, circuits...: reachability unknown
    }
    // The rest of the address after the IP component ("/tcp/4001", "/udp/1/quic-v1"...).
    const std::string text = m.without_peer().to_string();
    const std::size_t rest_at = text.find('/', text.find('/', 1) + 1);
    const std::string rest = rest_at == std::string::npos ? std::string() : text.substr(rest_at);

    boost::asio::ip::address ip;
    if (v4) {
      std::array<unsigned char, 4> b{};
      std::copy(first.value.begin(), first.value.end(), b.begin());
      ip = boost::asio::ip::address_v4(b);
    } else {
      std::array<unsigned char, 16> b{};
      std::copy(first.value.begin(), first.value.end(), b.begin());
      ip = boost::asio::ip::address_v6(b);
    }

    if (ip.is_unspecified()) {
      for (const auto& a : all) {
        if (a.index != ifindex || a.address.is_v4() != v4) continue;
        if (a.address.is_v6() && a.address.to_v6().is_link_local()) continue;  // needs a zone
        if (a.address.is_loopback() && !on_loopback) continue;
        add(ip_prefix(a.address) + rest);
      }
      continue;
    }
    if (ip.is_loopback()) {
      // 127.0.0.0/8 and ::1 reach only this machine: announce them on lo alone.
      if (on_loopback) add(text);
      continue;
    }
    const bool here = std::any_of(all.begin(), all.end(), [&](const io::interface_address& a) {
      if (a.index != ifindex || a.address.is_v4() != v4) return false;
      if (v4) return a.address == ip;
      return a.address.to_v6().to_bytes() == ip.to_v6().to_bytes();  // ignore the scope id
    });
    if (here) add(text);
  }
  return out;
}

bool interface_denied(const std::string& name, const std::vector<std::string>& deny) {
  return std::any_of(deny.begin(), deny.end(), [&](const std::string& d) {
    if (!d.empty() && d.back() == '*') {
      return name.compare(0, d.size() - 1, d, 0, d.size() - 1) == 0 && name.size() >= d.size() - 1;
    }
    return name == d;
  });
}

std::vector<std::string> select_interfaces(const std::vector<io::interface_address>& all,
                                           const mdns_options& o) {
  std::set<std::string> names;
  for (const auto& a : all) {
    if (a.name.empty() || interface_denied(a.name, o.deny)) continue;
    if (o.interfaces.empty()) {
      if (a.loopback || !a.multicast) continue;
    } else if (std::find(o.interfaces.begin(), o.interfaces.end(), a.name) == o.interfaces.end()) {
      continue;
    }
    names.insert(a.name);
  }
  return {names.begin(), names.end()};
}

std::vector<std::string> unknown_interfaces(const std::vector<io::interface_address>& all,
                                            const mdns_options& o) {
  std::vector<std::string> out;
  for (const auto& n : o.interfaces) {
    const bool known = std::any_of(all.begin(), all.end(),
                                   [&](const io::interface_address& a) { return a.name == n; });
    if (!known && std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

}  // namespace starling::node
