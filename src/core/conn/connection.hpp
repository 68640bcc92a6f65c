#pragma once
/// One libp2p connection as a sans-I/O core: multistream-select for the security protocol,
/// the Noise XX handshake, the muxer (inlined in Noise or negotiated with multistream-select
/// inside the secure channel) and the Yamux session, composed so that the shell only moves
/// raw socket bytes. See docs/architecture.md, "One connection, end to end".

#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/common/time.hpp"
#include "core/crypto/crypto.hpp"
#include "core/mss/dialer.hpp"
#include "core/mss/listener.hpp"
#include "core/noise/libp2p_handshake.hpp"
#include "core/noise/secure_channel.hpp"
#include "core/yamux/session.hpp"

namespace starling::conn {

inline constexpr const char* noise_protocol = "/noise";
inline constexpr const char* yamux_protocol = "/yamux/1.0.0";

/// Errors of the connection core itself (the cores inside report their own categories).
enum class errc {
  handshake_timeout = 1,  ///< security + muxer negotiation did not finish in time
  unsupported_muxer,      ///< the peer's Noise extension chose a muxer we do not run
  closed,                 ///< the connection was closed; no more input is accepted
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Which side dialled.
enum class direction { outbound, inbound };

/// Options of one connection.
struct config {
  direction dir = direction::outbound;
  /// Offer /yamux/1.0.0 in the Noise extension (used only if the peer offers it too).
  bool early_muxer = true;
  /// Dialer only: send the Noise message right after proposing /noise, before the echo
  /// (go/rust "lazy" multistream-select; saves a round trip).
  bool lazy_security = false;
  /// The key behind the /p2p/ id we dialled, if known: another key fails the handshake.
  std::optional<crypto::ed25519_public> expected_remote;
  /// Our membership proof, sent in the Noise handshake (noise::libp2p_config::membership);
  /// empty for a node that belongs to no network.
  bytes membership;
  /// Security and muxer negotiation must finish within this time.
  clock_duration handshake_timeout = std::chrono::seconds(10);
  /// Noise initiator only: how long Yamux output is held back after the handshake while the
  /// responder has sent no Yamux frame yet (see "The initiator's hold" in connection.cpp).
  /// 0 = never hold.
  clock_duration mux_hold = std::chrono::milliseconds(100);
  yamux::config mux;
};

/// The handshake finished: the peer is authenticated and streams may be opened.
struct established {
  crypto::ed25519_public remote_identity;
  bool early_muxer;  ///< the muxer was agreed in the Noise handshake
  /// The peer's membership proof from its handshake payload (empty if it sent none); the
  /// owner decides admission before any stream is served.
  bytes remote_membership;
};

/// What poll_event() hands out: the handshake result, then the Yamux session's events.
using event = std::variant<established, yamux::event>;

/// Not thread-safe; owned by the network thread.
class connection {
 public:
  /// `identity` is copied; `rng` supplies Noise's ephemeral and static keys and must outlive
  /// the connection. `now` starts the handshake timer.
  connection(const config& cfg, const crypto::ed25519_keypair& identity, crypto::rng& rng,
             time_point now);

  /// Raw bytes from the socket. Errors come from mss, noise, yamux or errc::closed; the
  /// connection is then dead: flush poll_transmit (it may hold a GoAway) and close.
  [[nodiscard]] result<void> feed(bytes_view raw, time_point now);
  /// feed() for a writable input the caller leaves untouched until it has drained
  /// poll_event(): once the muxer runs, Noise frames are decrypted in place inside `raw` and
  /// handed to Yamux without a copy. Same errors as feed().
  [[nodiscard]] result<void> feed_inplace(std::span<std::uint8_t> raw, time_point now);
  /// Appends raw bytes for the socket (handshake messages, or encrypted Yamux frames).
  void poll_transmit(bytes& out);
  /// Next event: `established` once, then Yamux events.
  std::optional<event> poll_event();
  /// True when poll_event() may return something (false: it certainly returns nullopt).
  bool has_events() const noexcept {
    return (m_established && m_mux) || (m_mux && m_mux->has_events());
  }

  /// The Yamux session; null until established. Calls into it must be followed by
  /// poll_transmit (the shell's flush).
  yamux::session* mux() noexcept { return m_mux ? &*m_mux : nullptr; }
  bool is_established() const noexcept { return m_stage == stage::muxed; }
  /// True while Yamux output is held back (Noise initiator, before the responder's first
  /// Yamux frame or the hold deadline). Handshake and muxer-negotiation bytes are never held.
  bool holding_mux_output() const noexcept { return m_holding; }

  /// Work for a moment when nobody waits (the shell calls it once it has written what a read
  /// produced): the key streams of the next Noise frame each way (secure_channel::prepare).
  void prepare() {
    if (m_channel && m_stage != stage::dead) m_channel->prepare();
  }

  /// The earliest of the handshake timer, the end of the initiator's hold and the Yamux
  /// session's timers; `no_deadline` when there is none.
  time_point next_deadline() const noexcept;
  /// Errors: handshake_timeout, or the Yamux session's keep-alive timeout. Ends the initiator's
  /// hold when its deadline passed (the caller then flushes poll_transmit as always).
  [[nodiscard]] result<void> on_deadline(time_point now);

  /// Encrypts `plain` and queues it for the socket as if the muxer had written it, bypassing
  /// Yamux (for tests and tools that must send malformed muxer frames; the node never does).
  /// Not subject to the initiator's hold: it goes out ahead of any held Yamux output.
  /// Errors: errc::closed before the secure channel exists or after the connection died.
  [[nodiscard]] result<void> inject_plaintext(bytes_view plain);

  /// Graceful close: GoAway(0) once written data is flushed. finished() turns true when the
  /// GoAway has been handed to poll_transmit.
  void close();
  /// True when the shell should flush and close the socket.
  bool finished() const noexcept;
  /// The error that killed the connection, if any.
  std::error_code error() const noexcept { return m_error; }

 private:
  enum class stage { security_mss, handshake, muxer_mss, muxed, dead };

  result<void> fail(std::error_code ec);
  result<void> run_security_mss(bytes_view in);
  result<void> run_handshake(bytes_view in);
  result<void> start_secure(noise::secure_channel ch);
  result<void> run_plaintext(bytes_view plain);
  void start_mux();
  result<void> feed_mux(bytes_view plain);

  config m_cfg;
  crypto::ed25519_keypair m_identity;
  crypto::rng& m_rng;
  stage m_stage = stage::security_mss;
  time_point m_handshake_deadline;
  time_point m_now;  ///< the latest time seen, for calls made from inside feed()
  std::error_code m_error;
  bool m_closing = false;
  bool m_holding = false;  ///< Yamux output held back (initiator, see mux_hold)
  time_point m_hold_until = no_deadline;

  std::optional<mss::dialer> m_sec_dialer;
  std::optional<mss::listener> m_sec_listener;
  std::optional<noise::libp2p_handshake> m_noise;
  std::optional<noise::secure_channel> m_channel;
  std::optional<mss::dialer> m_mux_dialer;
  std::optional<mss::listener> m_mux_listener;
  std::optional<yamux::session> m_mux;
  std::optional<established> m_established;  ///< not yet polled

  bytes m_out;                       ///< raw bytes queued for the socket
  bytes m_plain_in;                  ///< decrypted bytes (reused)
  bytes m_plain_out;                 ///< plaintext waiting to be encrypted (reused)
  std::vector<bytes_view> m_frames;  ///< plaintext views of feed_inplace (reused)
};

}  // namespace starling::conn

template <>
struct std::is_error_code_enum<starling::conn::errc> : std::true_type {};
