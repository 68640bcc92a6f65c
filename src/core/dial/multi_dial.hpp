#pragma once
/// Decisions of a dial to one peer at several candidate addresses (node::host::dial_any), and
/// the rule that settles a simultaneous dial. Sans-I/O: the shell starts the TCP connects,
/// reports how each ended, and does what next() says.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <system_error>
#include <variant>

#include "core/conn/connection.hpp"
#include "core/multiformats/peer_id.hpp"

namespace starling::dial {

/// Every TCP connect of a multi-address dial starts at once; the sockets that connect queue up
/// in the order they connected, and one handshake runs at a time, on the oldest queued socket.
/// The dial ends with the first handshake that succeeds, or once every attempt failed (with
/// the last error seen), or early when the shell reports no room or a shutdown.
///
/// Attempts are numbered 0..attempts-1 (the shell's addresses, in its order).
class multi_dial {
 public:
  /// Nothing to do until the shell reports more.
  struct wait {};
  /// Run the handshake on the socket of `attempt` (taken out of the queue).
  struct start_handshake {
    std::size_t attempt;
  };
  /// Why a dial ended without a connection, besides the last attempt's own error.
  enum class end_reason {
    connected,      ///< a handshake succeeded (on `attempt`)
    failed,         ///< every attempt failed; `error` is the last one's error
    no_room,        ///< a connection limit was reached before the next handshake
    shutting_down,  ///< the shell is closing
  };
  /// The dial is over: close every socket still connecting or queued, then report.
  struct finish {
    end_reason reason;
    std::error_code error;    ///< with `failed`: the last error (else empty)
    std::size_t attempt = 0;  ///< with `connected`: the attempt whose handshake won
  };
  using step = std::variant<wait, start_handshake, finish>;

  /// A dial with `attempts` TCP connects, all started now. `no_address` is the error reported
  /// when there are none, or when every attempt fails without an error of its own.
  multi_dial(std::size_t attempts, std::error_code no_address);

  /// The TCP connect of `attempt` succeeded: its socket joins the queue. False once the dial is
  /// finished: the shell closes that socket.
  bool on_connected(std::size_t attempt);
  /// The TCP connect of `attempt` failed with `ec` (already mapped by the shell, e.g. a
  /// cancelled connect to a timeout); `ec` becomes the last error.
  void on_connect_failed(std::size_t attempt, std::error_code ec);
  /// The handshake started by next() failed with `ec` (the last error now).
  void on_handshake_failed(std::size_t attempt, std::error_code ec);
  /// The handshake started by next() produced the connection: the dial is won.
  void on_handshake_done(std::size_t attempt);

  /// What to do now. `room`: a new connection is allowed (checked before each handshake);
  /// `shutting_down`: the shell is closing. Returns `finish` exactly once; afterwards `wait`.
  step next(bool room, bool shutting_down);

  /// TCP connects not yet reported.
  std::size_t connecting() const noexcept { return m_connecting; }
  /// Connected sockets waiting for their handshake, oldest first.
  const std::deque<std::size_t>& queued() const noexcept { return m_queue; }
  bool handshaking() const noexcept { return m_handshaking; }
  bool finished() const noexcept { return m_finished; }
  const std::error_code& last_error() const noexcept { return m_last_error; }

 private:
  finish end(end_reason r, std::error_code ec = {}, std::size_t attempt = 0);

  std::size_t m_connecting;
  std::deque<std::size_t> m_queue;
  bool m_handshaking = false;
  bool m_finished = false;
  bool m_won = false;
  std::size_t m_winner = 0;
  std::error_code m_last_error;
};

/// Which of two established connections to the same peer both ends keep.
enum class survivor { older, newer };

/// The simultaneous-dial rule. When two connections to the same peer are up, both ends keep the
/// one dialled by the peer with the smaller id, so they close the same one without talking
/// about it; when the same side dialled both, the older stays. `older_dir` and `newer_dir` are
/// the connections' directions as seen by `local`.
survivor resolve_duplicate(const multiformats::peer_id& local, const multiformats::peer_id& remote,
                           conn::direction older_dir, conn::direction newer_dir) noexcept;

}  // namespace starling::dial
