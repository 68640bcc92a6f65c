#pragma once
/// libp2p mDNS discovery (libp2p/specs discovery/mdns.md) as a sans-I/O core. It sends PTR
/// queries for `_p2p._udp.local`, answers them with our `dnsaddr=` TXT records, announces at
/// start, says goodbye at shutdown, and turns other peers' responses into discovery events.
///
/// Wire shape (see ../shared/INTEROP.md "mDNS"): a response carries no question; its Answers
/// hold `_p2p._udp.local PTR <name>._p2p._udp.local`; its Additionals hold one TXT record
/// `dnsaddr=<addr>/p2p/<id>` per address (rust reads TXT only there), an SRV and A/AAAA records
/// for go's zeroconf. Received TXT is read from Answers and Additionals (js puts it in Answers).
/// A goodbye is the PTR alone with TTL 0.
///
/// The core never decides reachability: the caller lists, per interface, the addresses reachable
/// through it, and hands every packet with the index of the interface it came in on. Every
/// packet it emits goes to the mDNS group (224.0.0.251 / ff02::fb port 5353) on the given
/// interface; the shell picks the socket.
///
/// Bounds: one response per interface per `min_response_interval` (later queries are
/// coalesced into one delayed answer), responses of at most `max_packet_bytes` (addresses that
/// do not fit are left out), at most `max_peers` tracked peers (least recently seen evicted)
/// with at most `max_addrs_per_peer` addresses each, and bounded event and transmit queues.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/common/time.hpp"
#include "core/crypto/crypto.hpp"
#include "core/dns/message.hpp"
#include "core/multiformats/multiaddr.hpp"
#include "core/multiformats/peer_id.hpp"

namespace starling::mdns {

/// The DNS-SD service name libp2p uses.
inline constexpr std::string_view service_name = "_p2p._udp.local";
/// The mDNS port and IPv4/IPv6 groups (for the shell).
inline constexpr std::uint16_t port = 5353;
inline constexpr std::string_view group_v4 = "224.0.0.251";
inline constexpr std::string_view group_v6 = "ff02::fb";

/// Errors of the mDNS core.
enum class errc {
  invalid_peer_id = 1,  ///< config: the peer id does not parse
  invalid_address,      ///< config: an address does not parse, or ends in another peer's /p2p/
  unknown_interface,    ///< feed: a packet from an interface the config does not list
};
/// The "mdns" error category.
const std::error_category& category() noexcept;
/// Makes `errc` values usable as std::error_code.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// One interface we run on and the multiaddrs (text, with or without our /p2p/ suffix) that
/// peers on its link can reach us at. An empty list: we query but announce and answer nothing.
struct interface_config {
  std::uint32_t index = 0;
  std::vector<std::string> addrs;
};

/// Settings; the defaults suit a LAN.
struct config {
  std::string peer_id;  ///< our peer id, text form
  std::vector<interface_config> interfaces;
  /// Delays after start() of the first queries; then one every query_interval.
  std::vector<std::chrono::milliseconds> initial_queries{std::chrono::milliseconds{0},
                                                         std::chrono::milliseconds{250},
                                                         std::chrono::milliseconds{1000}};
  std::chrono::milliseconds query_interval{10'000};
  std::chrono::seconds ttl{120};  ///< TTL of the records we send
  /// Longest a peer is kept without being heard again, whatever TTL it announced.
  std::chrono::seconds max_peer_ttl{3600};
  std::chrono::milliseconds min_response_interval{1000};  ///< per interface
  std::size_t max_packet_bytes = 1400;
  std::size_t max_peers = 1024;
  std::size_t max_addrs_per_peer = 32;
  std::size_t max_ip_records = 8;  ///< A plus AAAA records per response
  std::size_t max_pending_events = 4096;
  /// Duplicate-question suppression (RFC 6762 section 7.3): a scheduled query is skipped on an
  /// interface where someone else sent the same plain query (PTR `_p2p._udp.local`, no
  /// known answers, multicast reply wanted) since our last one; the responses to it reach us
  /// too. A query seen within `own_echo_window` after we sent ours is taken for our own packet
  /// looped back by the kernel and does not count.
  bool suppress_duplicate_queries = true;
  std::chrono::milliseconds own_echo_window{100};
};

/// A packet to multicast on an interface.
struct outgoing {
  std::uint32_t interface_index = 0;
  bytes packet;
};

/// A peer seen on an interface for the first time, or again with other addresses or another
/// name (it restarted). `addrs` are canonical multiaddr text without the /p2p/ suffix.
struct peer_discovered {
  std::string peer_id;
  std::vector<std::string> addrs;
  std::uint32_t interface_index = 0;
  std::string source;  ///< the packet's source, as the shell gave it (for logs)
};
/// A peer no longer announced on an interface: goodbye, TTL ran out, or evicted to make room.
struct peer_expired {
  std::string peer_id;
  std::uint32_t interface_index = 0;
};
/// A tracked peer answered again on an interface with nothing new (same name, same addresses):
/// it is still there. Emitted for every such response (peer_discovered covers changes).
struct peer_seen {
  std::string peer_id;
  std::uint32_t interface_index = 0;
};
/// What poll_event() returns.
using event = std::variant<peer_discovered, peer_expired, peer_seen>;

/// The discovery state machine. Not thread-safe; one owner drives it.
class core {
 public:
  /// Validates the config and draws a random peer name (32 to 63 lowercase alphanumeric
  /// characters) from `rng`. Errors: invalid_peer_id, invalid_address. The caller fixes the
  /// config; nothing runs until start().
  [[nodiscard]] static result<core> create(config cfg, crypto::rng& rng);

  /// Queues an announcement and a query on every interface and schedules the next ones.
  void start(time_point now);
  /// Queues a goodbye on every interface that announced, and stops all activity.
  void shutdown();

  /// Handles one received UDP payload. Queries for `_p2p._udp.local` (PTR or ANY) schedule an
  /// answer; responses produce events. Packets that are neither, and every packet before
  /// start() or after shutdown(), are ignored (returns success). Our own packets, looped back
  /// by the kernel, are recognised by our peer name and id and ignored.
  /// Errors: the dns::errc parse errors, unknown_interface. The caller drops the packet, maybe
  /// logs, and carries on; the core is unaffected.
  [[nodiscard]] result<void> feed(bytes_view packet, std::uint32_t interface_index,
                                  std::string_view source, time_point now);

  /// Replaces (or adds) an interface's addresses. After start(), queues a query and an
  /// announcement on it (or a goodbye when the list became empty). Errors: invalid_address.
  [[nodiscard]] result<void> set_interface(const interface_config& iface, time_point now);
  /// Stops using an interface; queues a goodbye on it if we had announced there, and expires
  /// the peers tracked on it.
  void remove_interface(std::uint32_t index);

  /// The next packet to send, or nullopt.
  std::optional<outgoing> poll_transmit();
  /// The next event, or nullopt.
  std::optional<event> poll_event();
  /// When on_deadline() must next be called (no_deadline when idle).
  time_point next_deadline() const;
  /// Runs what is due at `now`: queries, delayed answers, peer expiry.
  void on_deadline(time_point now);

  /// Our random peer name (the first label of `<name>._p2p._udp.local`).
  const std::string& peer_name() const noexcept { return m_name; }
  /// Number of (interface, peer) pairs tracked.
  std::size_t peer_count() const noexcept { return m_peers.size(); }
  /// Scheduled queries skipped so far because another node had just asked the same.
  std::uint64_t queries_suppressed() const noexcept { return m_queries_suppressed; }

 private:
  struct iface_state {
    std::uint32_t index = 0;
    std::vector<multiformats::multiaddr> addrs;  ///< without /p2p/
    time_point last_response = time_point::min();
    std::optional<time_point> response_due;
    bool announced = false;
    time_point last_query = time_point::min();  ///< when we last sent a query here
    bool foreign_query_seen = false;            ///< someone asked our question since our last query
  };
  struct tracked_peer {
    std::uint32_t iface = 0;
    std::string peer_id;
    std::string name;  ///< the PTR target it announced
    std::vector<std::string> addrs;
    time_point expires;
    time_point last_seen;
  };

  core(config cfg, multiformats::peer_id id, std::string name);

  iface_state* find_iface(std::uint32_t index);
  void queue_query(iface_state& s, time_point now);
  void queue_response(iface_state& s, time_point now);
  void request_response(iface_state& s, time_point now);
  void queue_goodbye(const iface_state& s);
  void handle_query(const dns::message& m, iface_state& s, time_point now);
  void handle_response(const dns::message& m, std::uint32_t index, std::string_view source,
                       time_point now);
  void expire(std::size_t peer_index);
  void push_event(event e);

  config m_cfg;
  multiformats::peer_id m_id;
  std::string m_id_text;
  std::string m_name;
  std::string m_full_name;  ///< <name>._p2p._udp.local
  std::vector<iface_state> m_ifaces;
  std::vector<tracked_peer> m_peers;
  std::deque<outgoing> m_tx;
  std::deque<event> m_events;
  bool m_running = false;
  std::size_t m_query_step = 0;
  std::uint64_t m_queries_suppressed = 0;
  time_point m_started{};
  time_point m_next_query = no_deadline;
};

namespace detail {
/// The query packet we send.
bytes build_query();
/// Our response for peer name `name` (first label) and these addresses (without /p2p/): PTR in
/// Answers; SRV, A/AAAA (at most `max_ip_records`) and one TXT per address in Additionals, each
/// added only if the packet stays within `max_bytes`. Empty when not even the PTR fits.
bytes build_response(std::string_view name, std::string_view peer_id_text,
                     const std::vector<multiformats::multiaddr>& addrs, std::uint32_t ttl,
                     std::size_t max_bytes, std::size_t max_ip_records);
/// The goodbye packet for peer name `name`: our PTR alone, TTL 0.
bytes build_goodbye(std::string_view name);
}  // namespace detail

}  // namespace starling::mdns

template <>
struct std::is_error_code_enum<starling::mdns::errc> : std::true_type {};
