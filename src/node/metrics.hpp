#pragma once
/// Counters a host keeps about its connections and streams (read by tests, logs and, later,
/// `starling peers` and a metrics endpoint).

#include <cstdint>
#include <string_view>
#include <system_error>

namespace starling::node {

/// Why a connection that never finished its handshake failed.
enum class failure_class {
  timeout,      ///< handshake_timeout (slow or silent peer)
  negotiation,  ///< multistream-select for /noise or the muxer failed
  security,     ///< Noise failed (bad message, signature, peer id mismatch, ...)
  io,           ///< the socket failed or the peer closed it
  other,
};

/// Classifies the error that ended a handshake.
failure_class classify_handshake_failure(std::error_code ec) noexcept;
/// True when `ec` means the peer sent bytes that break a protocol (malformed or oversized
/// frames, bad Yamux headers, failed decryption, broken multistream-select).
bool is_protocol_violation(std::error_code ec) noexcept;
/// A short name of the class, for logs.
std::string_view to_string(failure_class c) noexcept;

/// What happened to a stream, as its connection reports it.
enum class stream_event {
  opened_inbound,   ///< negotiated; a handler runs
  opened_outbound,  ///< negotiated
  reset_by_peer,
  reset_locally,
  refused,                ///< inbound, over max_negotiating_streams (or the connection closing)
  negotiation_failed,     ///< multistream-select failed
  negotiation_timed_out,  ///< multistream-select outlived stream_negotiation_timeout
};

/// Plain counters; a snapshot is returned by host::metrics().
struct metrics {
  std::uint64_t connections_opened_inbound = 0;   ///< accepted and handed to the handshake
  std::uint64_t connections_opened_outbound = 0;  ///< TCP connected, handshake started
  std::uint64_t connections_closed_inbound = 0;
  std::uint64_t connections_closed_outbound = 0;
  std::uint64_t connections_established = 0;      ///< handshakes completed (both directions)
  std::uint64_t connections_closed_by_error = 0;  ///< established ones closed with an error

  std::uint64_t handshake_failures_timeout = 0;
  std::uint64_t handshake_failures_negotiation = 0;
  std::uint64_t handshake_failures_security = 0;
  std::uint64_t handshake_failures_io = 0;
  std::uint64_t handshake_failures_other = 0;

  /// Connections (established or handshaking) closed because the peer broke a protocol.
  std::uint64_t protocol_errors = 0;

  std::uint64_t inbound_refused_limit = 0;   ///< accept refused: max_connections / pending
  std::uint64_t inbound_refused_per_ip = 0;  ///< accept refused: max_pending_per_ip
  std::uint64_t refused_per_peer = 0;        ///< closed after the handshake: max_per_peer
  std::uint64_t refused_not_member = 0;      ///< closed after the handshake: admission refused
  std::uint64_t guests_admitted = 0;         ///< admitted as guests (identify, ping, join only)
  std::uint64_t duplicates_closed = 0;       ///< simultaneous-dial losers closed
  std::uint64_t misbehaviour_reports = 0;    ///< offences reported (host::report_misbehaviour)
  std::uint64_t peers_banned = 0;            ///< temporary bans started
  std::uint64_t refused_banned = 0;          ///< closed after the handshake: the peer is banned

  std::uint64_t streams_opened_inbound = 0;   ///< negotiated (a handler runs)
  std::uint64_t streams_opened_outbound = 0;  ///< negotiated
  std::uint64_t streams_reset_by_peer = 0;
  std::uint64_t streams_reset_locally = 0;
  std::uint64_t streams_refused = 0;              ///< inbound streams over max_negotiating_streams
  std::uint64_t stream_negotiation_failures = 0;  ///< mss failed or timed out on a stream
  std::uint64_t stream_negotiation_timeouts = 0;

  std::uint64_t bytes_in = 0;  ///< raw TCP bytes, closed and live connections
  std::uint64_t bytes_out = 0;

  void count_handshake_failure(failure_class c) noexcept;
  /// Counts `e` (a timeout counts as a negotiation failure too).
  void count(stream_event e) noexcept;
};

/// Where connections report what happens to their streams (the host adds it to its metrics).
class metrics_sink {
 public:
  /// One stream event; must not call back into the connection.
  virtual void count(stream_event e) noexcept = 0;

 protected:
  ~metrics_sink() = default;
};

}  // namespace starling::node
