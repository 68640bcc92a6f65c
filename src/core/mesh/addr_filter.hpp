#pragma once
/// Which addresses of a peer are worth remembering and dialling: a pure decision, so the
/// simulator and the unit tests reach it (the daemon only feeds it what identify and the
/// connection said).
///
/// A peer tells us its listen addresses (identify), and we know the address a connection used.
/// Not all of them can reach it from here: its loopback is only ours when we reached it over
/// loopback, a wildcard listen address (0.0.0.0, ::) names no host, a link-local IPv6 address
/// without a zone names no interface, and anything but TCP over IP is not something this node
/// dials. What is left goes to the mesh manager and the peer store.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/multiformats/multiaddr.hpp"

namespace starling::mesh {

/// Why an address was refused (or `usable`).
enum class addr_verdict {
  usable,                   ///< worth remembering and dialling
  not_tcp,                  ///< not [/ip6zone/Z]/ip4|ip6/A/tcp/P (dns, udp, circuits, ...)
  port_zero,                ///< /tcp/0: a port the peer never listened on
  foreign_loopback,         ///< a loopback address, and we did not reach the peer over loopback
  unspecified,              ///< 0.0.0.0 or :: (a wildcard listen address)
  link_local_without_zone,  ///< fe80::/10 with no /ip6zone: no interface to use
};

/// The verdict on one address of a peer; `via_loopback`: whether our connection to the peer
/// runs over loopback (then its loopback addresses are ours too). Never fails.
addr_verdict classify_peer_addr(const multiformats::multiaddr& a, bool via_loopback);

/// The addresses to remember for a peer, as text without /p2p/, without duplicates, in order:
/// `dialled` first (the address an outbound connection used is known to work), then the usable
/// ones of `advertised` (its identify listen addresses). Refused ones are left out.
std::vector<std::string> useful_peer_addrs(const std::optional<multiformats::multiaddr>& dialled,
                                           std::span<const multiformats::multiaddr> advertised,
                                           bool via_loopback);

/// True when `listen` is not empty and every address in it is a loopback address: such a node
/// has nothing a LAN could reach, so it keeps mDNS off unless interfaces are named.
bool loopback_only(std::span<const multiformats::multiaddr> listen);

}  // namespace starling::mesh
