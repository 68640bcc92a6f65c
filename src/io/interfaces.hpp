#pragma once
/// The machine's network interfaces and their addresses (getifaddrs), for expanding wildcard
/// listen addresses and, later, per-interface discovery.

#include <boost/asio/ip/address.hpp>
#include <string>
#include <vector>

namespace starling::io {

struct interface_address {
  std::string name;  ///< e.g. "eth0"
  boost::asio::ip::address address;
  bool loopback = false;
  bool multicast = false;  ///< the interface supports multicast
  unsigned index = 0;      ///< if_nametoindex
};

/// Every address of every interface that is up. Empty on error.
std::vector<interface_address> list_interface_addresses();

}  // namespace starling::io
