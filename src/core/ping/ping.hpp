#pragma once
/// libp2p ping (ping/ping.md): the dialer sends 32 random bytes, the listener echoes them; the
/// dialer may repeat on the same stream until it closes its write side. js pings every
/// connection every 10 s and drops it on failure, so every node serves ping.

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/common/time.hpp"
#include "core/crypto/crypto.hpp"

namespace starling::ping {

/// The protocol id.
inline constexpr std::string_view protocol_id = "/ipfs/ping/1.0.0";
/// Size of one ping payload.
inline constexpr std::size_t payload_size = 32;

enum class errc {
  mismatch = 1,     ///< the echo differs from what we sent
  timeout,          ///< no echo before the deadline
  unexpected_data,  ///< client: bytes while no ping is outstanding
  busy,             ///< client: start() while a ping is outstanding
  backlog,          ///< server: too many echo bytes not yet taken by poll_transmit()
};
/// The "ping" error category.
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Dialer side: one ping at a time, repeatable on one stream.
class client {
 public:
  /// A client whose pings fail after `timeout` without a full echo.
  explicit client(clock_duration timeout = std::chrono::seconds(10)) : m_timeout(timeout) {}

  /// Draws 32 bytes from `rng`, queues them for poll_transmit() and starts the timer at `now`.
  /// Errors: busy (a ping is outstanding), or the error that failed the client earlier.
  [[nodiscard]] result<void> start(time_point now, crypto::rng& rng);

  /// Appends the queued payload (if any) to `out`.
  void poll_transmit(bytes& out);

  /// Consumes echoed bytes. When all 32 arrived and match, the round trip time becomes
  /// available from poll_event(). Errors: mismatch, unexpected_data (more bytes than the
  /// outstanding ping). Any error is final: the caller resets the stream.
  [[nodiscard]] result<void> feed(bytes_view in, time_point now);

  /// The round trip time of the last completed ping, once.
  std::optional<clock_duration> poll_event() { return std::exchange(m_rtt, std::nullopt); }

  /// When on_deadline() must be called; no_deadline when no ping is outstanding.
  time_point next_deadline() const noexcept;

  /// Checks the timer. Errors: timeout when `now` reached the deadline of an outstanding ping
  /// (final: the caller resets the stream).
  [[nodiscard]] result<void> on_deadline(time_point now);

  /// True while a ping waits for its echo.
  bool in_flight() const noexcept { return m_in_flight; }

 private:
  result<void> fail(errc e);

  clock_duration m_timeout;
  std::array<std::uint8_t, payload_size> m_payload{};
  std::size_t m_received = 0;
  bool m_in_flight = false;
  bool m_to_send = false;
  time_point m_sent_at{};
  std::optional<clock_duration> m_rtt;
  std::error_code m_error;
};

/// Listener side: echoes each complete 32-byte payload; a partial one waits for the rest.
class server {
 public:
  /// Bytes of echoes that may wait for poll_transmit() before feed() fails with backlog.
  static constexpr std::size_t max_backlog = 64 * payload_size;

  /// Consumes bytes read from the stream. Errors: backlog (the caller did not drain
  /// poll_transmit(); reset the stream).
  [[nodiscard]] result<void> feed(bytes_view in);

  /// Appends the echoes ready to send to `out`.
  void poll_transmit(bytes& out);

  /// True when no partial payload is buffered (a clean place for the stream to end).
  bool idle() const noexcept { return m_partial_size == 0; }

 private:
  std::array<std::uint8_t, payload_size> m_partial{};
  std::size_t m_partial_size = 0;
  bytes m_out;
};

}  // namespace starling::ping

template <>
struct std::is_error_code_enum<starling::ping::errc> : std::true_type {};
