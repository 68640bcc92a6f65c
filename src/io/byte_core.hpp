#pragma once
/// The seam between the Asio shell and a sans-I/O core that owns one byte stream.

#include <span>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/common/time.hpp"

namespace starling::io {

/// What the shell needs from a core to drive it over a socket. All calls happen on the
/// network thread.
class byte_core {
 public:
  virtual ~byte_core() = default;
  /// Bytes read from the socket. An error closes the connection (the core has already queued
  /// whatever goodbye it wants sent; the shell flushes it first).
  virtual result<void> feed(bytes_view in, time_point now) = 0;
  /// feed() for the shell's own read buffer, which the core may overwrite (e.g. decrypt in
  /// place); the shell leaves it untouched until on_progress has returned.
  virtual result<void> feed_inplace(std::span<std::uint8_t> in, time_point now) {
    return feed(in, now);
  }
  /// Append every byte the core wants written.
  virtual void poll_transmit(bytes& out) = 0;
  /// When on_deadline must next be called; `no_deadline` if never.
  virtual time_point next_deadline() const = 0;
  /// A deadline passed. An error closes the connection like feed's.
  virtual result<void> on_deadline(time_point now) = 0;
  /// The core is finished (clean close): the shell flushes, shuts the socket down and stops.
  virtual bool finished() const = 0;
  /// True when the owner's on_progress may have work after poll_transmit() produced output:
  /// a core may queue events while it fills `out` (Yamux: a stream got room again, a stream
  /// closed once its FIN left). After writing such output the shell calls on_progress once
  /// more: at once when the write happened inside one of its own callbacks, otherwise from a
  /// deferred handler (never from inside the owner's own call to flush()). The default, always
  /// true, is correct but costs that deferred handler (one more reactor round) for every write
  /// the owner starts; an owner that knows better (e.g. "the conn core has events") says so.
  virtual bool wants_progress() const { return true; }
  /// Called once the shell has handled a read and written what it produced, when nobody waits
  /// on this connection: a core may do here work that would otherwise delay its next message
  /// (Noise computes the next key streams). Must not produce output or events.
  virtual void prepare() {}
};

}  // namespace starling::io
