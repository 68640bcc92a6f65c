#pragma once
/// Stream handlers the interop tests register on (or open from) an in-process host: echo and
/// sink servers matching peer.mjs's protocols, and clients that record what happened.

#include <cstring>
#include <memory>
#include <string>
#include <system_error>

#include "core/common/bytes.hpp"
#include "node/host.hpp"
#include "node/stream.hpp"

namespace starling::interop {

inline constexpr const char* echo_protocol = "/starling/test/echo/1.0.0";
inline constexpr const char* sink_protocol = "/starling/test/sink/1.0.0";

/// What the server-side handlers saw, over all their streams.
struct server_stats {
  int opened = 0;
  int closed_ok = 0;
  int closed_error = 0;
  int reset_by_peer = 0;
  std::uint64_t bytes_in = 0;
};

/// Echo until the peer's FIN, then FIN.
class echo_server final : public node::stream_handler {
 public:
  explicit echo_server(std::shared_ptr<server_stats> st) : m_st(std::move(st)) {}
  void on_open(node::stream&) override { ++m_st->opened; }
  void on_data(node::stream& s, bytes_view data) override {
    m_st->bytes_in += data.size();
    s.write(data);
  }
  void on_read_closed(node::stream& s) override { s.close_write(); }
  void on_closed(node::stream&, std::error_code ec) override {
    if (!ec) {
      ++m_st->closed_ok;
    } else {
      ++m_st->closed_error;
      if (ec == node::host_errc::stream_reset_by_peer) ++m_st->reset_by_peer;
    }
  }

 private:
  std::shared_ptr<server_stats> m_st;
};

/// Read to EOF, reply with the byte count as 8-byte big-endian, FIN.
class sink_server final : public node::stream_handler {
 public:
  explicit sink_server(std::shared_ptr<server_stats> st) : m_st(std::move(st)) {}
  void on_open(node::stream&) override { ++m_st->opened; }
  void on_data(node::stream&, bytes_view data) override {
    m_st->bytes_in += data.size();
    m_count += data.size();
  }
  void on_read_closed(node::stream& s) override {
    bytes out(8);
    for (int i = 0; i < 8; ++i)
      out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(m_count >> (56 - 8 * i));
    s.write(out);
    s.close_write();
  }
  void on_closed(node::stream&, std::error_code ec) override {
    ec ? ++m_st->closed_error : ++m_st->closed_ok;
  }

 private:
  std::shared_ptr<server_stats> m_st;
  std::uint64_t m_count = 0;
};

/// Registers echo and sink on `h`; returns their shared counters.
inline std::shared_ptr<server_stats> register_test_protocols(node::host& h) {
  auto st = std::make_shared<server_stats>();
  h.set_handler(echo_protocol, [st] { return std::make_unique<echo_server>(st); });
  h.set_handler(sink_protocol, [st] { return std::make_unique<sink_server>(st); });
  return st;
}

/// Outcome of one client stream.
struct client_outcome {
  bool opened = false;
  bool open_failed = false;
  bool eof = false;       ///< the peer's FIN arrived
  bool closed = false;    ///< on_closed ran
  std::error_code error;  ///< from on_closed / open failure
  bytes received;
};

/// Writes `data`, half-closes, and reads to EOF. With `reset_after` > 0 it instead resets
/// the stream once that many bytes came back (without half-closing).
class sending_client final : public node::stream_handler {
 public:
  sending_client(std::shared_ptr<client_outcome> out, bytes data, std::size_t reset_after = 0,
                 bool half_close = true)
      : m_out(std::move(out)),
        m_data(std::move(data)),
        m_reset_after(reset_after),
        m_half_close(half_close) {}
  void on_open(node::stream& s) override {
    m_out->opened = true;
    s.write(m_data);
    if (m_half_close && m_reset_after == 0) s.close_write();
    if (m_reset_after == 0 && !m_half_close) s.reset();  // reset right away, mid-transfer
  }
  void on_data(node::stream& s, bytes_view data) override {
    append(m_out->received, data);
    if (m_reset_after > 0 && m_out->received.size() >= m_reset_after) s.reset();
  }
  void on_read_closed(node::stream&) override { m_out->eof = true; }
  void on_closed(node::stream&, std::error_code ec) override {
    m_out->closed = true;
    m_out->error = ec;
  }

 private:
  std::shared_ptr<client_outcome> m_out;
  bytes m_data;
  std::size_t m_reset_after;
  bool m_half_close;
};

/// Opens a sending_client stream on `c`; the outcome records an open failure too.
inline std::shared_ptr<client_outcome> open_client(node::connection& c, const std::string& protocol,
                                                   bytes data, std::size_t reset_after = 0,
                                                   bool half_close = true) {
  auto out = std::make_shared<client_outcome>();
  c.open_stream({protocol},
                std::make_unique<sending_client>(out, std::move(data), reset_after, half_close),
                [out](std::error_code ec) {
                  out->open_failed = true;
                  out->closed = true;
                  out->error = ec;
                });
  return out;
}

/// `n` pseudo-random bytes (deterministic per seed).
inline bytes pattern(std::size_t n, std::uint32_t seed) {
  bytes b(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& v : b) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    v = static_cast<std::uint8_t>(x);
  }
  return b;
}

}  // namespace starling::interop
