#pragma once
/// Error codes of the Yamux session core.

#include <system_error>

namespace starling::yamux {

/// Errors from the frame codec and the session. Values below `session_dead` are protocol
/// violations by the peer: the session answers them with GoAway(protocol error) and dies.
enum class errc {
  // --- protocol violations by the peer (session sends GoAway(1) and is dead) ---
  bad_version = 1,   ///< header version is not 0
  bad_type,          ///< header type is not Data, WindowUpdate, Ping or GoAway
  bad_flags,         ///< unknown flag bits, or a combination not allowed for the type
  bad_stream_id,     ///< stream id 0 on Data/WindowUpdate, non-zero on Ping/GoAway,
                     ///< or a SYN with the parity of our own ids
  stream_id_reused,  ///< SYN for an id that is live or older than the newest inbound id
  window_exceeded,   ///< a Data frame longer than the receive window we granted
  // --- local conditions ---
  session_dead = 32,  ///< the session has failed or closed; no call will succeed again
  going_away,         ///< a GoAway was sent or received: no new streams
  too_many_unacked,   ///< open_stream: max_unacked_outbound streams still wait for an ACK
  ids_exhausted,      ///< open_stream: the 31-bit stream id space is used up
  unknown_stream,     ///< no live stream with that id (closed, reset or never opened)
  write_closed,       ///< write/close_write after close_write on that stream
  bad_consume,        ///< consume(n) with n above the bytes received and not yet consumed
  keepalive_timeout,  ///< our ping got no reply within ping_timeout
  remote_go_away,     ///< the peer sent GoAway with a non-zero (error) code
};

/// The "yamux" error category.
const std::error_category& category() noexcept;
/// Makes a std::error_code of the yamux category.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}
/// True for the codes that mean "the peer broke the protocol" (answered with GoAway(1)).
inline bool is_protocol_error(std::error_code ec) noexcept {
  return ec.category() == category() && ec.value() > 0 &&
         ec.value() < static_cast<int>(errc::session_dead);
}

}  // namespace starling::yamux

template <>
struct std::is_error_code_enum<starling::yamux::errc> : std::true_type {};
