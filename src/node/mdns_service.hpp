#pragma once
/// mDNS discovery on real sockets: the sans-I/O core (core/mdns) driven by Asio on the host's
/// io_context (one thread, no locks).
///
/// Sockets: one IPv4 UDP socket bound to 224.0.0.251:5353 (never 0.0.0.0) that joins the group
/// on each selected interface, and per selected interface one IPv6 socket bound to
/// [ff02::fb%if]:5353 (Linux ties a link-local bind to its interface). All use SO_REUSEADDR and
/// SO_REUSEPORT so that avahi, js-libp2p or another node on the same machine keep working, and
/// IP_MULTICAST_ALL / IPV6_MULTICAST_ALL = 0 so a socket only hears the groups it joined where
/// it joined them. Every packet goes out on an interface chosen explicitly (IP_MULTICAST_IF per
/// send / the IPv6 socket of that interface) with TTL / hop limit 255, and every packet read
/// carries its interface index (IP_PKTINFO / IPV6_RECVPKTINFO) into the core. Multicast loop
/// stays on: two nodes in one namespace find each other; the core ignores its own packets.
///
/// Each interface announces only the addresses reachable through it
/// (addresses_for_interface); interfaces are re-read every `rescan`, so addresses and
/// interfaces that come and go are followed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/common/result.hpp"
#include "core/mdns/mdns.hpp"
#include "core/multiformats/multiaddr.hpp"
#include "io/interfaces.hpp"

namespace starling::node {

class host;

/// What the mDNS service runs on, and the core's settings.
struct mdns_options {
  std::vector<std::string>
      interfaces;  ///< allow list by name; empty = every up, multicast, non-loopback interface
  std::vector<std::string>
      deny;  ///< never these; a trailing '*' matches a prefix ("tun*", "docker*")
  bool ipv4 = true;
  bool ipv6 = true;
  std::chrono::milliseconds rescan{5000};  ///< re-read interfaces/addresses this often
  mdns::config core;                       ///< peer_id and interfaces are filled in by the service
};

/// Which of the host's bound addresses (host::bound_addrs(), wildcards allowed) each interface
/// can reach: a wildcard expands to that interface's addresses of the family (IPv6 link-local
/// skipped); a specific address is kept only on the interface that has it; loopback only on lo.
/// Returns multiaddr text without /p2p/ (unique, in the order of `bound`). Addresses that are
/// not IP (dns, circuits) and /ip6zone addresses are left out.
std::vector<std::string> addresses_for_interface(const std::vector<multiformats::multiaddr>& bound,
                                                 const std::vector<io::interface_address>& all,
                                                 unsigned ifindex);

/// The interfaces mDNS runs on (names, unique, sorted) per the options. With an allow list,
/// every listed interface that exists (is up) is used, loopback and non-multicast ones included
/// (the user asked for them); names that do not exist are left out (see unknown_interfaces).
/// Deny entries are exact names, or prefixes when they end in '*'.
std::vector<std::string> select_interfaces(const std::vector<io::interface_address>& all,
                                           const mdns_options& o);

/// The allow-list names that no up interface has (for a warning).
std::vector<std::string> unknown_interfaces(const std::vector<io::interface_address>& all,
                                            const mdns_options& o);

/// Whether `name` matches a deny entry (exact, or prefix for "prefix*").
bool interface_denied(const std::string& name, const std::vector<std::string>& deny);

/// Counters of the service (all packets, both families, every interface).
struct mdns_stats {
  std::uint64_t packets_sent = 0, packets_received = 0, bytes_sent = 0, bytes_received = 0,
                malformed = 0;
  std::uint64_t send_errors = 0;         ///< sends the kernel refused (packet dropped)
  std::uint64_t queries_suppressed = 0;  ///< our queries skipped (RFC 6762 section 7.3)
};

/// The running mDNS discovery of a host. Create with start(); all calls on the host's
/// io_context thread. Destroying it shuts it down.
class mdns_service {
 public:
  struct callbacks {
    std::function<void(const mdns::peer_discovered&)> discovered;
    std::function<void(const mdns::peer_expired&)> expired;
    std::function<void(const std::string& peer_id, std::uint32_t ifindex)>
        seen;  ///< any later response
  };

  /// Opens the sockets (UDP 5353, bound to the group address, never 0.0.0.0), joins the group on
  /// each selected interface, and starts the core. Errors: invalid peer id (mdns::errc), or the
  /// socket error of the IPv4 socket (e.g. no permission); the reason is also logged as one
  /// line "mdns: <what>: <error>". IPv6 is skipped (logged) when the kernel has none.
  static result<std::unique_ptr<mdns_service>> start(host& h, mdns_options o, callbacks cb);

  ~mdns_service();
  mdns_service(const mdns_service&) = delete;
  mdns_service& operator=(const mdns_service&) = delete;

  /// The host's listen addresses changed: recompute per-interface announcements.
  void listen_addrs_changed();
  /// Re-reads the interfaces now (also done every `rescan`).
  void rescan();
  /// Sends goodbyes and closes the sockets (idempotent). The destructor calls it.
  void shutdown();
  /// Names of the interfaces in use now, sorted.
  std::vector<std::string> interfaces() const;
  /// A snapshot of the counters.
  mdns_stats stats() const;
  /// Our random mDNS peer name (for logs and tests).
  const std::string& peer_name() const;

  struct impl;

 private:
  explicit mdns_service(std::shared_ptr<impl> p);
  std::shared_ptr<impl> m_impl;
};

}  // namespace starling::node
