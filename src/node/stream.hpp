#pragma once
/// A negotiated stream as protocol handlers see it, and the handler interface.

#include <cstdint>
#include <memory>
#include <string>

#include "core/common/bytes.hpp"
#include "core/multiformats/peer_id.hpp"
#include "core/yamux/frame.hpp"

namespace starling::node {

class connection;

/// One Yamux stream after multistream-select chose its protocol. Owned by its connection;
/// handlers get a reference in each callback and must not keep it past on_closed().
class stream {
 public:
  /// The negotiated protocol id.
  const std::string& protocol() const noexcept { return m_protocol; }
  /// True if the peer opened the stream.
  bool inbound() const noexcept { return m_inbound; }
  /// The remote peer.
  const multiformats::peer_id& peer() const noexcept;
  /// The connection carrying the stream.
  connection& conn() noexcept { return m_conn; }

  /// Queues bytes for sending. Everything is accepted; flow control shows in buffered():
  /// a sender that produces data on its own (perf) writes only while buffered() is low and
  /// continues in on_writable().
  void write(bytes_view data);
  /// Bytes the muxer takes now, straight from the caller's buffer (0 while anything is
  /// queued here). A sender that writes at most this much is never copied into the stream's
  /// own queue; writing when it is 0 queues the bytes and on_writable() follows.
  std::size_t write_room() const noexcept;
  /// Bytes queued by write() that the muxer has not taken yet.
  std::size_t buffered() const noexcept { return m_out.size() - m_out_pos; }
  /// Half-close: FIN after the queued bytes.
  void close_write();
  /// Abort the stream both ways (RST). No callbacks follow except on_closed().
  void reset();
  /// True after close_write() or reset().
  bool write_closed() const noexcept { return m_close_write_requested || m_reset; }

 private:
  friend class connection;
  stream(connection& c, yamux::stream_id id, bool inbound)
      : m_conn(c), m_id(id), m_inbound(inbound) {}

  connection& m_conn;
  yamux::stream_id m_id;
  bool m_inbound;
  std::string m_protocol;
  bytes m_out;
  std::size_t m_out_pos = 0;
  bool m_close_write_requested = false;
  bool m_close_write_sent = false;
  bool m_reset = false;
};

/// What a protocol implementation provides. All calls are on the network thread.
class stream_handler {
 public:
  virtual ~stream_handler() = default;
  /// The protocol was negotiated; the stream is ready.
  virtual void on_open(stream&) {}
  /// Bytes from the peer (valid only during the call).
  virtual void on_data(stream&, bytes_view data) = 0;
  /// The peer closed its write side (EOF).
  virtual void on_read_closed(stream&) {}
  /// The muxer can take more bytes (buffered() went down).
  virtual void on_writable(stream&) {}
  /// The stream ended: closed both ways, reset by either side, or its connection closed.
  /// `ec` is empty for a clean close.
  virtual void on_closed(stream&, std::error_code /*ec*/) {}
};

}  // namespace starling::node
