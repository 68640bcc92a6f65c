#pragma once
/// The node's network side: listeners, dialing, the connection table with its limits, and
/// identify (and identify push), which every host serves. Other protocols, ping and perf
/// included, are registered by whoever wants them (set_handler, node/services.hpp).

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/abuse/scoreboard.hpp"
#include "core/conn/connection.hpp"
#include "core/crypto/crypto.hpp"
#include "core/multiformats/multiaddr.hpp"
#include "core/multiformats/peer_id.hpp"
#include "io/interfaces.hpp"
#include "io/tcp_driver.hpp"
#include "node/connection.hpp"
#include "node/detailed_error.hpp"
#include "node/metrics.hpp"
#include "node/timer.hpp"

namespace starling::node {

/// Limits and options of a host. Defaults suit a LAN device.
struct host_config {
  std::string agent_version = "starling/0.1.0";
  /// Established + handshaking connections at most; more inbound ones are refused at accept.
  std::size_t max_connections = 512;
  /// Inbound connections still in the handshake at most (slow-loris bound).
  std::size_t max_pending_handshakes = 64;
  /// Of those, from one IPv4 address or one IPv6 /64 at most: a single host cannot take every
  /// pending slot and lock out the rest of the network until its handshakes time out.
  /// (0 refuses every inbound connection.)
  std::size_t max_pending_per_ip = 8;
  /// Connections to one peer at most, counting ones still closing. A connection over the
  /// limit is closed as soon as its handshake reveals the peer (metrics::refused_per_peer).
  /// Keep it at 2 or more: a simultaneous dial briefly needs two.
  std::size_t max_per_peer = 2;
  std::chrono::milliseconds handshake_timeout{10000};
  std::chrono::milliseconds dial_timeout{5000};
  /// Offer the muxer inside the Noise handshake (used when the peer offers it too).
  bool early_muxer = true;
  /// Yamux keep-alive interval (0 disables) and ping timeout.
  std::chrono::milliseconds keepalive{10000};
  std::chrono::milliseconds keepalive_timeout{10000};
  /// Streams the peer may have open at once on one connection (Yamux; more are RST).
  std::size_t max_inbound_streams = 256;
  /// Inbound streams of one connection still in multistream-select; more are reset.
  std::size_t max_negotiating_streams = 32;
  /// A stream must agree on its protocol within this time, or it is reset.
  std::chrono::milliseconds stream_negotiation_timeout{10000};
  /// After our FIN, how long a closing connection waits for the peer's EOF.
  std::chrono::milliseconds close_linger{1000};
};

/// What a host reads from its surroundings, injected so that node logic runs without the real
/// ones (a fake clock, a seeded RNG, a made-up interface list). Each empty member means the
/// real thing. The host keeps pointers: what they point to must outlive the host.
struct host_env {
  /// The clock of the host, its connections and the services made with it (timestamps,
  /// stream negotiation deadlines, ping RTTs); null: steady_clock_source(). The Noise and Yamux
  /// timers inside a connection stay on the steady clock (io::tcp_driver reads it).
  const clock_source* clock = nullptr;
  /// Randomness for handshakes and services; null: the host's own crypto::system_rng.
  crypto::rng* rng = nullptr;
  /// The machine's interface addresses, which a wildcard listener announces; empty:
  /// io::list_interface_addresses().
  std::function<std::vector<io::interface_address>()> interfaces;
};

/// Errors of the host (socket errors come as system errors).
enum class host_errc {
  not_tcp = 1,           ///< the multiaddr is not /ip4|ip6/.../tcp/N
  too_many_connections,  ///< a connection limit was reached
  connection_closed,     ///< the connection closed before the operation finished
  dial_timeout,          ///< TCP connect or handshake took longer than allowed
  identify_mismatch,     ///< identify's public key does not match the peer id
  shutting_down,         ///< the host is closing
  stream_reset_by_peer,  ///< the peer reset the stream
  stream_reset_locally,  ///< we reset the stream
  negotiation_timeout,   ///< the stream's protocol negotiation took too long
  banned,                ///< the peer is temporarily banned for misbehaviour
};
const std::error_category& host_category() noexcept;
inline std::error_code make_error_code(host_errc e) noexcept {
  return {static_cast<int>(e), host_category()};
}

/// What the host reports to its owner (the daemon logs them; tests assert on them).
struct peer_connected {
  multiformats::peer_id peer;
  multiformats::multiaddr addr;
  conn::direction dir;
  bool early_muxer;
};
struct peer_identified {
  multiformats::peer_id peer;
  identify::info info;
};
struct peer_disconnected {
  multiformats::peer_id peer;
  std::error_code reason;  ///< empty for a clean close
};
struct connection_failed {
  multiformats::multiaddr addr;
  std::error_code reason;
};
using host_event =
    std::variant<peer_connected, peer_identified, peer_disconnected, connection_failed>;

/// Decides who a connection's peer is to this node (node::membership implements it).
class admission_hook {
 public:
  /// The membership proof sent in every handshake (empty: none).
  virtual bytes handshake_proof() const = 0;
  /// Called once per handshake, before any stream is served or any event reported: the peer's
  /// class, or why it is refused (the host logs the sentence, counts refused_not_member and
  /// closes the connection).
  virtual detailed_result<peer_class> admit(const connection& c, const conn::established& e) = 0;

 protected:
  ~admission_hook() = default;
};

/// Makes a handler for one inbound stream of a protocol.
using handler_factory = std::function<std::unique_ptr<stream_handler>()>;
/// Completion of dial(): the established connection, or why not.
using dial_fn = std::function<void(result<std::shared_ptr<connection>>)>;

/// Owned by the application; all calls on the io_context's (single) thread.
class host final : private connection_owner, private metrics_sink {
 public:
  host(boost::asio::io_context& ctx, const crypto::ed25519_keypair& identity, host_config cfg = {},
       host_env env = {});
  ~host();
  host(const host&) = delete;
  host& operator=(const host&) = delete;

  const multiformats::peer_id& id() const noexcept { return m_id; }
  const crypto::ed25519_keypair& identity() const noexcept { return m_identity; }
  crypto::rng& rng() noexcept { return m_rng; }
  /// The host's clock (host_env::clock).
  const clock_source& clock() const noexcept { return m_clock; }
  const host_config& config() const noexcept { return m_cfg; }
  boost::asio::io_context& context() noexcept { return m_ctx; }

  /// Binds a TCP listener. Returns the bound address with the real port and our /p2p/ id.
  /// Errors: not_tcp, or the socket error (address in use, cannot assign address, ...).
  result<multiformats::multiaddr> listen(const multiformats::multiaddr& addr);
  /// Every bound listen address, with /p2p/<id>.
  const std::vector<multiformats::multiaddr>& listen_addrs() const noexcept {
    return m_listen_addrs;
  }
  /// Every listener as bound: wildcard addresses stay wildcards (with the real port, no /p2p/).
  /// Discovery uses these to work out what each interface can reach.
  const std::vector<multiformats::multiaddr>& bound_addrs() const noexcept { return m_bound_addrs; }

  /// Dials a peer. A trailing /p2p/<id> is verified in the handshake (peer id mismatch fails
  /// the dial). An already established connection to that peer is reused. When the peer
  /// dials us at the same moment, the connection handed out may be the one both sides then
  /// close as the duplicate (it closes gracefully); connections() holds the survivor.
  void dial(const multiformats::multiaddr& addr, dial_fn done);

  /// Dials a peer at several candidate addresses at once, as discovery needs: every TCP
  /// connect starts together, each bounded by `attempt_timeout`; the first socket to connect
  /// goes on to the handshake, and others that connect meanwhile wait in reserve in case that
  /// handshake fails (a stale or spoofed address pointing at another node). With `expected`,
  /// every handshake checks the peer id. `done` gets the connection, or the last error once
  /// every address failed. An established connection to `expected` is reused. Addresses
  /// that are not TCP are skipped (not_tcp if none is left).
  void dial_any(std::optional<multiformats::peer_id> expected,
                std::vector<multiformats::multiaddr> addrs,
                std::chrono::milliseconds attempt_timeout, dial_fn done);

  /// Registers the handler for inbound streams of `protocol` (also listed in identify).
  void set_handler(std::string protocol, handler_factory f);
  /// Protocols we serve, sorted.
  std::vector<std::string> protocols() const;
  /// Those of them `c`'s peer may open, sorted (a guest: the guest protocols only).
  std::vector<std::string> protocols_for(const connection& c) const override;

  /// Who decides admission (null, the default: every peer is a member). Must outlive the host
  /// or be reset to null first.
  void set_admission(admission_hook* h) noexcept { m_admission = h; }
  /// The protocols a guest may open (default: identify and ping).
  void set_guest_protocols(std::vector<std::string> p) { m_guest_protocols = std::move(p); }

  /// A layer saw `peer` misbehave (a malformed frame, a bad signature, an access violation, a
  /// flood): the peer's score grows (core/abuse/scoreboard.hpp); at the limit the peer is
  /// banned for a while, doubling on each repeat: its connections close at once and new ones
  /// are refused after the handshake. Each ban is logged (warning) and counted
  /// (misbehaviour_reports, peers_banned, refused_banned). Our own id is never scored.
  void report_misbehaviour(const multiformats::peer_id& peer, abuse::offence o,
                           std::uint32_t count = 1);
  /// When `peer`'s ban ends, if it is banned now.
  std::optional<time_point> banned_until(const multiformats::peer_id& peer) const {
    return m_scores.banned_until(peer, m_clock.now());
  }
  /// Peers banned now.
  std::size_t banned_peers() const { return m_scores.banned(m_clock.now()); }

  /// Sends our current identify record to every connected peer (/ipfs/id/push/1.0.0). Called
  /// by listen() and set_handler() when what we announce changes while peers are connected.
  void push_identify();

  /// Every connection, established or handshaking.
  std::vector<std::shared_ptr<connection>> connections() const;

  /// A snapshot of the counters (byte counts include live connections).
  node::metrics metrics() const;

  /// Runs, at clock().now(), the deadlines the host keeps on its own clock (stream negotiation
  /// timeouts). Only a clock that jumps (manual_clock) needs it, after each move; with the
  /// steady clock the timers do it.
  void on_clock_advanced();

  /// Receives host events (on the network thread).
  void on_event(std::function<void(const host_event&)> f) { m_on_event = std::move(f); }

  /// Stops listening and closes every connection gracefully; `done` runs when all are gone
  /// or after `grace`, whichever is first.
  void shutdown(std::function<void()> done,
                std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

 private:
  friend void register_identify_services(host&);
  struct listener;
  struct multi_dial;
  void multi_dial_next(const std::shared_ptr<multi_dial>& d);
  // connection_owner and metrics_sink: what connections call
  void connection_established(const std::shared_ptr<connection>& c,
                              const conn::established& e) override;
  void connection_closed(const std::shared_ptr<connection>& c, std::error_code ec) override;
  std::unique_ptr<stream_handler> make_handler(const connection& c,
                                               const std::string& protocol) const override;
  bool serves(const connection& c, std::string_view protocol) const override;
  void count(stream_event e) noexcept override { m_metrics.count(e); }

  void accept_next(const std::shared_ptr<listener>& l);
  std::shared_ptr<connection> add_connection(io::tcp::socket s, conn::direction dir,
                                             std::optional<multiformats::peer_id> expected);
  void run_identify(const std::shared_ptr<connection>& c);
  /// A verified identify record (request or push) arrived on `c`.
  void identify_received(connection& c, identify::info info);
  void emit(host_event e);
  /// Hands the dials waiting on `c` out (and forgets them).
  std::vector<dial_fn> take_waiters(const connection* c);
  /// Counters and the one log line of a connection that went away.
  void account_closed(const connection& c, std::error_code ec);
  bool has_other_announced(const connection& c) const;
  conn::config conn_config(conn::direction dir) const;

  boost::asio::io_context& m_ctx;
  crypto::ed25519_keypair m_identity;
  crypto::system_rng m_own_rng;
  crypto::rng& m_rng;
  const clock_source& m_clock;
  std::function<std::vector<io::interface_address>()> m_interfaces;
  host_config m_cfg;
  multiformats::peer_id m_id;
  std::vector<std::shared_ptr<listener>> m_listeners;
  std::vector<multiformats::multiaddr> m_listen_addrs;
  std::vector<multiformats::multiaddr> m_bound_addrs;
  std::vector<std::shared_ptr<connection>> m_conns;
  std::map<std::string, handler_factory, std::less<>> m_handlers;
  admission_hook* m_admission = nullptr;
  std::vector<std::string> m_guest_protocols;
  /// When each refused peer was last logged at info level.
  std::map<std::string, time_point> m_refusals_logged;
  std::function<void(const host_event&)> m_on_event;
  /// Dials waiting for their connection's handshake, keyed by connection.
  std::multimap<const connection*, dial_fn> m_dial_waiters;
  node::metrics m_metrics;
  abuse::scoreboard m_scores;
  std::shared_ptr<bool> m_alive = std::make_shared<bool>(true);  ///< false once destroyed
  bool m_shutting_down = false;
  std::function<void()> m_shutdown_done;
  /// Ends shutdown() after its grace period.
  timer m_shutdown_timer;
};

/// The identify record this host sends to `c`'s peer. Its protocols are those `c`'s peer may
/// open (`protocols_for`): a guest hears of identify, ping and join only.
identify::info make_identify_info(host& h, const connection& c);

}  // namespace starling::node

template <>
struct std::is_error_code_enum<starling::node::host_errc> : std::true_type {};
