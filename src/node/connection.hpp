#pragma once
/// One live connection to a peer: the socket (io::tcp_driver), the pure connection core
/// (conn::connection) and the streams running on it with their protocol handlers.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/conn/connection.hpp"
#include "core/conn/negotiations.hpp"
#include "core/identify/identify.hpp"
#include "core/multiformats/multiaddr.hpp"
#include "core/multiformats/peer_id.hpp"
#include "io/tcp_driver.hpp"
#include "node/metrics.hpp"
#include "node/stream.hpp"
#include "node/timer.hpp"

namespace starling::node {

class connection;

/// What the peer of a connection may reach, decided once its handshake is done
/// (host::set_admission): a member (or any peer of a node that belongs to no network) reaches
/// every service; a guest only identify, ping and the join protocol, and the host reports no
/// event about it.
enum class peer_class : std::uint8_t { member, guest };

/// The /ip4|ip6/.../tcp/PORT form of a socket endpoint.
multiformats::multiaddr to_multiaddr(const io::tcp::endpoint& ep);

/// Called when an outbound stream could not be opened or negotiated.
using open_failed_fn = std::function<void(std::error_code)>;

/// What a connection needs from its owner (the host): it reports its handshake and its end
/// there, and asks it what inbound streams may negotiate and for their handlers.
class connection_owner {
 public:
  /// The handshake completed; the owner may close `c` (a duplicate, over a limit).
  virtual void connection_established(const std::shared_ptr<connection>& c,
                                      const conn::established& e) = 0;
  /// `c` is gone (`ec` empty for a clean close); no callback of it follows.
  virtual void connection_closed(const std::shared_ptr<connection>& c, std::error_code ec) = 0;
  /// Whether an inbound stream on `c` may agree on `protocol`.
  virtual bool serves(const connection& c, std::string_view protocol) const = 0;
  /// Every protocol an inbound stream on `c` may agree on (what the mss listener lists).
  virtual std::vector<std::string> protocols_for(const connection& c) const = 0;
  /// The handler of a negotiated inbound stream of `protocol` on `c` (null if not served).
  virtual std::unique_ptr<stream_handler> make_handler(const connection& c,
                                                       const std::string& protocol) const = 0;

 protected:
  ~connection_owner() = default;
};

/// What a connection is given besides its socket. Everything referred to outlives it.
struct connection_env {
  connection_owner& owner;
  metrics_sink& metrics;
  const crypto::ed25519_keypair& identity;
  crypto::rng& rng;
  /// Timestamps and stream negotiation deadlines.
  const clock_source& clock;
  conn::negotiation_limits negotiation;
  /// After our FIN, how long a closing connection waits for the peer's EOF.
  std::chrono::milliseconds close_linger{1000};
};

/// Lives in a shared_ptr owned by the host's connection table. Network thread only.
class connection : public std::enable_shared_from_this<connection>, private io::byte_core {
 public:
  /// `now` is the time on env.clock (what since() reports).
  connection(const connection_env& env, io::tcp::socket socket, const conn::config& cfg,
             std::optional<multiformats::peer_id> expected, time_point now);
  ~connection() override;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Starts the handshake (reading, writing, the handshake timer).
  void start();

  /// Opens an outbound stream proposing `protocols` in order; `h` takes over once one is
  /// agreed. Before the handshake completes the request waits. `failed` is called (and `h`
  /// dropped) if the muxer refuses the stream, the peer supports none of the protocols, or the
  /// connection closes first.
  void open_stream(std::vector<std::string> protocols, std::unique_ptr<stream_handler> h,
                   open_failed_fn failed = {});
  /// Graceful close: our streams are half-closed, then Yamux GoAway(0), then TCP.
  void close();
  /// Immediate close with a reason (logged by the host).
  void abort(std::error_code ec);
  /// Closes the socket at once without calling any handler, dial or host callback (the
  /// host's destructor uses it).
  void drop();

  // --- what the host and `starling peers` show ---
  bool established() const noexcept { return m_established; }
  bool closed() const noexcept { return m_closed; }
  /// close() or abort() was called, the socket is gone, or the peer sent GoAway(0) (then we
  /// close as soon as the streams already open are done): no new streams, not reused.
  bool closing() const noexcept { return m_closing || m_closed || m_peer_going_away; }
  const multiformats::peer_id& peer() const noexcept { return m_peer; }
  conn::direction dir() const noexcept { return m_cfg.dir; }
  /// The peer's address as we see it (/ip4/../tcp/..).
  const multiformats::multiaddr& remote_addr() const noexcept { return m_remote_addr; }
  /// The remote end's IP address (unspecified if the socket never had one).
  boost::asio::ip::address remote_ip() const noexcept {
    return m_driver.remote_endpoint().address();
  }
  const multiformats::multiaddr& local_addr() const noexcept { return m_local_addr; }
  time_point since() const noexcept { return m_since; }
  /// Last Yamux ping round trip (zero until measured).
  clock_duration rtt() const noexcept;
  std::uint64_t bytes_in() const noexcept { return m_driver.stats().bytes_in; }
  std::uint64_t bytes_out() const noexcept { return m_driver.stats().bytes_out; }
  std::size_t stream_count() const noexcept { return m_streams.size(); }
  /// The peer's identify record, once received.
  const std::optional<identify::info>& identify_info() const noexcept { return m_identify; }
  void set_identify_info(identify::info i) { m_identify = std::move(i); }

  /// Writes whatever the cores queued (used after calls made from outside a callback).
  void flush();
  /// Resets the streams whose negotiation deadline has passed on the host's clock (the timers
  /// do it for the steady clock; host::on_clock_advanced() for a clock that jumps).
  void check_deadlines();

  /// Inbound streams still in multistream-select (bounded by max_negotiating_streams).
  std::size_t negotiating_streams() const noexcept { return m_negotiations.inbound(); }

  /// How the peer was admitted (member until the host's admission says otherwise).
  peer_class admitted_as() const noexcept { return m_class; }
  /// The membership proof the peer sent in its handshake (empty if none), kept for re-checks.
  const bytes& remote_proof() const noexcept { return m_remote_proof; }
  void set_admission(peer_class c, bytes proof) {
    m_class = c;
    m_remote_proof = std::move(proof);
  }

  /// The host reported this connection in a peer_connected event (host bookkeeping).
  bool announced() const noexcept { return m_announced; }
  void set_announced() noexcept { m_announced = true; }

 private:
  friend class stream;
  struct entry {
    std::unique_ptr<stream> s;
    std::optional<mss::listener> listener;  ///< inbound, negotiating
    std::optional<mss::dialer> dialer;      ///< outbound, negotiating
    std::unique_ptr<stream_handler> handler;
    open_failed_fn failed;
    bool open = false;  ///< negotiation finished; handler active
  };
  struct pending_open {
    std::vector<std::string> protocols;
    std::unique_ptr<stream_handler> handler;
    open_failed_fn failed;
  };

  // io::byte_core
  result<void> feed(bytes_view in, time_point now) override { return m_core.feed(in, now); }
  result<void> feed_inplace(std::span<std::uint8_t> in, time_point now) override {
    return m_core.feed_inplace(in, now);
  }
  void poll_transmit(bytes& out) override;
  time_point next_deadline() const override;
  result<void> on_deadline(time_point now) override;
  bool finished() const override { return m_core.finished(); }
  /// The driver's progress call after a write is needed only if the core queued events.
  bool wants_progress() const override { return m_core.has_events(); }
  void prepare() override { m_core.prepare(); }

  void on_progress();
  void on_closed(std::error_code ec);
  void on_established(const conn::established& e);
  void on_mux_event(const yamux::event& e);
  void start_open(pending_open p);
  void on_stream_data(entry& en, bytes_view data);
  void negotiate(entry& en, bytes_view data);
  void finish_stream(yamux::stream_id id, std::error_code ec);
  /// After the peer's GoAway(0): close once no stream is left.
  void close_if_peer_gone();
  void pump(stream& s);
  void pump_quietly(stream& s);
  void pump_all();
  bool all_streams_drained() const;
  void reap();
  void on_inbound_stream(yamux::stream_id id);
  /// Resets streams whose multistream-select outlived the negotiation timeout.
  void expire_negotiations(time_point now);
  /// The stream agreed on its protocol or went away: its mss state and deadline go.
  void leave_negotiation(entry& en);
  void note_local_reset();

  connection_owner& m_owner;
  metrics_sink& m_metrics;
  const clock_source& m_clock;
  conn::config m_cfg;
  conn::connection m_core;
  io::tcp_driver m_driver;
  std::optional<multiformats::peer_id> m_expected;
  multiformats::peer_id m_peer;
  multiformats::multiaddr m_remote_addr, m_local_addr;
  time_point m_since;
  bool m_established = false;
  bool m_closed = false;
  bool m_close_pending = false;  ///< close() asked; GoAway waits for the streams to drain
  bool m_in_progress = false;
  bool m_closing = false;
  bool m_peer_going_away = false;  ///< GoAway(0) received: close once m_streams is empty
  bool m_announced = false;
  peer_class m_class = peer_class::member;
  bytes m_remote_proof;
  /// Streams in multistream-select: the inbound bound and every stream's deadline.
  conn::negotiations m_negotiations;
  std::unordered_map<yamux::stream_id, entry> m_streams;
  std::vector<pending_open> m_pending_opens;
  /// Streams to finish once no callback is on the stack (stream::reset defers here).
  std::vector<std::pair<yamux::stream_id, std::error_code>> m_reap;
  std::optional<identify::info> m_identify;
};

}  // namespace starling::node
