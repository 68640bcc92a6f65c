#pragma once
/// One stream's state inside a session (internal).

#include <cstdint>

#include "core/common/bytes.hpp"
#include "core/yamux/flow_control.hpp"

namespace starling::yamux::detail {

/// Everything the session keeps per live stream. A stream is erased when we reset it, or when
/// its stream_closed / stream_reset event is handed out.
struct stream {
  stream(std::uint32_t id_, bool outbound_, std::uint32_t window) noexcept
      : id(id_), outbound(outbound_), recv(window) {}

  std::uint32_t id;
  bool outbound;
  // opening handshake
  bool syn_pending = false;  ///< outbound: SYN not sent yet (rides on the first frame)
  bool ack_pending = false;  ///< inbound: ACK not sent yet (rides on the first frame)
  bool acked = false;        ///< outbound: the peer ACKed (no longer in the ACK backlog)
  // closing
  bool fin_queued = false;  ///< close_write() called
  bool fin_sent = false;
  bool remote_fin = false;
  bool closed = false;  ///< both FINs done or RST received; waiting for its event
  // bookkeeping for the session's queues
  bool data_event_queued = false;
  bool in_send_queue = false;
  bool in_ctrl_queue = false;
  bool write_blocked = false;  ///< a write() was cut short: report stream_writable later

  send_window send;
  receive_window recv;
  bytes tx;  ///< written, not yet transmitted: tx[tx_head..]
  std::size_t tx_head = 0;
  bytes rx;  ///< received, not yet handed out in a stream_data event

  std::size_t tx_pending() const noexcept { return tx.size() - tx_head; }
  std::uint16_t take_handshake_flags() noexcept {
    std::uint16_t f = 0;
    if (syn_pending) f |= flags::syn;
    if (ack_pending) f |= flags::ack;
    syn_pending = ack_pending = false;
    return f;
  }
  bool handshake_pending() const noexcept { return syn_pending || ack_pending; }
  /// Something can go out in a Data (or FIN) frame right now.
  bool sendable() const noexcept {
    if (closed) return false;
    if (tx_pending() > 0) return send.available() > 0;
    return fin_queued && !fin_sent;
  }
};

}  // namespace starling::yamux::detail
