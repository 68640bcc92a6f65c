#include "io/interfaces.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

namespace starling::io {

std::vector<interface_address> list_interface_addresses() {
  std::vector<interface_address> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    interface_address a;
    a.name = i->ifa_name;
    a.loopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
    a.multicast = (i->ifa_flags & IFF_MULTICAST) != 0;
    a.index = ::if_nametoindex(i->ifa_name);
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      std::array<unsigned char, 4> b{};
      std::memcpy(b.data(), &sin->sin_addr, 4);
      a.address = boost::asio::ip::address_v4(b);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      std::array<unsigned char, 16> b{};
      std::memcpy(b.data(), &sin6->sin6_addr, 16);
      a.address = boost::asio::ip::address_v6(b, sin6->sin6_scope_id);
    } else {
      continue;
    }
    out.push_back(std::move(a));
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace starling::io
