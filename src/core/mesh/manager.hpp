#pragma once
/// The mesh manager: a sans-I/O core that decides whom the node dials and when.
///
/// It learns peers from mDNS, bootstrap addresses, peer exchange, the peer store, identify and
/// inbound connections, and hands out dial requests (poll_dial) up to `target_connections`
/// connected-or-dialling peers and `max_parallel_dials` outstanding dials, healthiest peers
/// first. Failed dials back off exponentially with jitter (randomness only from the injected
/// rng); a lost connection is re-dialled after a random delay of at most 200 ms; a fresh mDNS
/// sighting of a peer in backoff re-dials it early (not sooner than min_redial_interval after
/// the last attempt), so a healed partition reconnects within one mDNS query interval.
///
/// The caller (the daemon) reports facts: discovered / lost / connected / disconnected /
/// dial_finished, and after each of them (and after on_deadline) drains poll_dial() until it
/// returns nullopt, then arms its timer at next_deadline(). next_deadline() only names a time at
/// which poll_dial() will return a dial (or no_deadline), so the timer never spins.
///
/// Memory is bounded: at most max_known_peers peers (bootstrap, connected and dialling peers
/// are never evicted; a connection from an unknown peer is always recorded), at most
/// max_addrs_per_peer addresses each (plus explicit bootstrap addresses, which are pinned), at
/// most max_bootstrap_addrs bootstrap addresses.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/common/result.hpp"
#include "core/common/time.hpp"
#include "core/crypto/crypto.hpp"

namespace starling::mesh {

/// Where a peer was learned from; known_peer::sources is a bit set of these.
enum class source : unsigned {
  mdns = 1,
  bootstrap = 2,
  pex = 4,
  store = 8,
  identify = 16,
  inbound = 32
};

/// The bit of `s` in a sources set.
constexpr unsigned bit(source s) noexcept {
  return static_cast<unsigned>(s);
}

/// Errors of the mesh manager.
enum class errc {
  invalid_multiaddr = 1,  ///< add_bootstrap: the text is not a multiaddr
  own_address,            ///< add_bootstrap: the address ends in our own /p2p/ id
  too_many_bootstraps,    ///< add_bootstrap: more than max_bootstrap_addrs addresses
};
/// The "mesh" error category.
const std::error_category& category() noexcept;
/// Makes `errc` values usable as std::error_code.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Most bootstrap addresses one manager keeps.
inline constexpr std::size_t max_bootstrap_addrs = 256;
/// Upper bound of the random delay before re-dialling a peer whose connection closed.
inline constexpr std::chrono::milliseconds reconnect_delay_max{200};

/// Settings; the defaults suit a LAN of a few dozen nodes.
struct config {
  std::size_t target_connections = 32;  ///< auto-dial while fewer peers are connected
  std::size_t max_parallel_dials = 8;   ///< dial requests outstanding at once
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{30000};
  double backoff_jitter = 0.25;  ///< +-25 %
  /// A fresh mDNS sighting re-dials a peer in backoff, but not sooner than this after the last try.
  std::chrono::milliseconds min_redial_interval{2000};
  /// For a peer first found by mDNS, the node with the higher peer id text waits this long.
  std::chrono::milliseconds tie_break_delay{1000};
  std::size_t max_known_peers = 1024;
  std::size_t max_addrs_per_peer = 16;
  /// A connection that closes sooner than this after it came up counts as a failed dial (the
  /// peer refused us after the handshake: another network, a revoked key), so the re-dial
  /// backs off instead of looping; one that lasted this long resets the failures.
  std::chrono::milliseconds stable_after{500};
  std::uint32_t forget_after_failures =
      8;  ///< pex/store-only peers dropped after this many failures
};

/// Where a known peer stands.
enum class peer_state { idle, dialing, connected, backoff };

/// One known peer (a snapshot; see manager::peers()).
struct known_peer {
  std::string peer_id;             ///< canonical base58btc text
  std::vector<std::string> addrs;  ///< multiaddr text without /p2p/, newest first
  unsigned sources = 0;            ///< bit set of source
  peer_state state = peer_state::idle;
  time_point first_seen{}, last_seen{}, last_connected{}, next_attempt{};
  std::uint32_t failures = 0;   ///< consecutive failed dials
  std::uint32_t sightings = 0;  ///< mDNS responses that named it (saturates)
};

/// A dial the caller should start; report its outcome with dial_finished(dial_id, ...).
struct dial_request {
  std::uint64_t dial_id = 0;
  std::string peer_id;             ///< empty: a bootstrap address without /p2p/
  std::vector<std::string> addrs;  ///< dial all in parallel; may be 1 (bootstrap)
};

/// One bootstrap address as the manager tracks it (for status output).
struct bootstrap_status {
  std::string addr;     ///< multiaddr text without /p2p/
  std::string peer_id;  ///< given in the address or learned from a dial; empty until then
  peer_state state = peer_state::idle;
  std::uint32_t failures = 0;
  time_point next_attempt{};
};

/// The mesh manager core. Not thread-safe: one owner (the network thread) calls it.
class manager {
 public:
  /// `self_peer_id` is never dialled; `rng` (for backoff jitter and reconnect delays) must
  /// outlive the manager.
  manager(config cfg, std::string self_peer_id, crypto::rng& rng);

  /// A bootstrap address (text, with or without /p2p/). Kept forever, dialled at start and
  /// re-dialled (with backoff) whenever it is not connected. An address without /p2p/ is keyed
  /// by the address and dialled with an empty peer id; the id that answers becomes the
  /// bootstrap peer. Adding the same address again is a no-op.
  /// Errors: invalid_multiaddr, own_address, too_many_bootstraps; the caller logs the address
  /// and carries on without it.
  result<void> add_bootstrap(std::string_view multiaddr_text, time_point now);

  /// Addresses for a peer from a source. Unknown peers are added (bounded; evicts the worst
  /// non-bootstrap, non-connected peer). New addresses are merged (newest first, bounded).
  /// An mDNS sighting of a peer in backoff re-dials it (respecting min_redial_interval).
  /// A bad peer id, our own id, bad addresses and addresses naming another /p2p/ id are
  /// silently dropped; an unknown peer without any valid address is not added. `src` may not
  /// be source::bootstrap (ignored: use add_bootstrap).
  void discovered(std::string_view peer_id, const std::vector<std::string>& addrs, source src,
                  time_point now);

  /// mDNS expiry/goodbye: the source bit is cleared; a peer with no source left and not
  /// connected (or dialling) is forgotten.
  void lost(std::string_view peer_id, source src, time_point now);

  /// A connection to the peer is established (any direction); the peer is added if unknown
  /// (source inbound). Repeated calls are harmless. Failures are reset once the connection has
  /// lasted config::stable_after (see disconnected()).
  void connected(std::string_view peer_id, time_point now);

  /// The last connection to the peer closed. After a connection that lasted stable_after, it
  /// is re-dialled soon (a random delay of at most reconnect_delay_max, then exponential
  /// backoff with jitter while dials fail); after a shorter one the close counts as a failure
  /// and the re-dial backs off. A peer with no source left is forgotten.
  void disconnected(std::string_view peer_id, time_point now);

  /// The outcome of a dial_request: the peer id that answered, or the error. A dial that
  /// reached a different peer id than requested (or our own id) counts as a failure. Success
  /// also counts as connected(peer) when that has not been called yet, so report
  /// dial_finished before any disconnected() of that connection. Unknown dial ids are ignored.
  void dial_finished(std::uint64_t dial_id, result<std::string> connected_peer, time_point now);

  /// The next dial to start, or nullopt (nothing due, or a limit reached: max_parallel_dials;
  /// target_connections counts connected plus dialling peers and does not hold back bootstrap
  /// peers). Call repeatedly until nullopt.
  std::optional<dial_request> poll_dial(time_point now);

  /// When poll_dial() will next have a dial to hand out (possibly already past: poll now), or
  /// no_deadline when only an event (dial_finished, disconnected, ...) can make one due.
  time_point next_deadline() const;
  /// Timer expiry; dials that became due are then returned by poll_dial(now).
  void on_deadline(time_point now);

  /// Snapshot of every known peer, any order (bootstrap addresses without a learned id are not
  /// peers; see bootstraps()).
  std::vector<known_peer> peers() const;
  /// The peer with this id (any valid text form), or nullptr. Valid until the next call of a
  /// non-const member.
  const known_peer* find(std::string_view peer_id) const;
  /// Peers connected now.
  std::size_t connected_count() const;
  /// Dials handed out and not finished yet.
  std::size_t dialing_count() const { return m_dials.size(); }
  /// The bootstrap addresses and their state.
  std::vector<bootstrap_status> bootstraps() const;
  /// The configuration in use.
  const config& settings() const noexcept { return m_cfg; }

 private:
  struct peer_entry {
    known_peer info;
    std::vector<std::string> pinned;  ///< explicit bootstrap addresses (never dropped)
    time_point last_attempt{};
    bool has_attempted = false;
    bool explicit_bootstrap = false;  ///< added by add_bootstrap with /p2p/
    bool keyless_bootstrap = false;   ///< learned from a bootstrap address without /p2p/
  };
  struct bootstrap_entry {
    std::string addr;     ///< without /p2p/
    std::string peer_id;  ///< learned (keyless) or given
    bool keyless = true;
    bool is_self = false;  ///< the address answered with our own id: never dialled again
    peer_state state = peer_state::idle;
    std::uint32_t failures = 0;
    time_point next_attempt{};
    time_point last_connected{};
  };
  struct dial_target {
    std::string peer_id;  ///< requested id (empty for keyless bootstrap)
    std::size_t bootstrap =
        0;                  ///< index into m_bootstraps + 1 for a keyless bootstrap dial, else 0
    bool unproven = false;  ///< see unproven()
  };

  using peer_map = std::map<std::string, peer_entry, std::less<>>;

  /// A peer we know of from a single mDNS packet and nothing else (never connected, not a
  /// bootstrap, not learned from an authenticated peer). A flood of fake announcements is all
  /// of this kind, so such dials get at most half the parallel slots: real peers, which
  /// answer every query and so are seen again within a second, are dialled past the flood.
  static bool unproven(const peer_entry& p);
  std::size_t unproven_dials() const;
  std::size_t unproven_cap() const;

  std::optional<std::string> canonical_id(std::string_view text) const;
  peer_entry* lookup(std::string_view id);
  const peer_entry* lookup(std::string_view id) const;
  peer_entry* add_peer(const std::string& id, time_point now, bool must_add);
  bool evict_one();
  void merge_addrs(peer_entry& p, const std::vector<std::string>& fresh);
  void forget_if_unused(const std::string& id);
  void mark_connected(peer_entry& p, time_point now);
  void fail_peer(peer_entry& p, time_point now);
  void fail_bootstrap(bootstrap_entry& b, time_point now);
  void link_bootstrap(bootstrap_entry& b, const std::string& id, time_point now);
  std::chrono::nanoseconds backoff_delay(std::uint32_t failures);
  std::chrono::nanoseconds random_below(std::chrono::nanoseconds max);

  bool peer_candidate(const peer_entry& p) const;
  bool bootstrap_candidate(const bootstrap_entry& b) const;
  bool target_room() const;
  const bootstrap_entry* bootstrap_for(const std::string& peer_id) const;

  config m_cfg;
  std::string m_self;
  crypto::rng& m_rng;
  peer_map m_peers;
  std::vector<bootstrap_entry> m_bootstraps;
  std::map<std::uint64_t, dial_target> m_dials;
  std::uint64_t m_next_dial_id = 1;
  std::size_t m_connected = 0;
};

}  // namespace starling::mesh

template <>
struct std::is_error_code_enum<starling::mesh::errc> : std::true_type {};
