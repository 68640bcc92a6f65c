#include "node/metrics.hpp"

#include "core/conn/connection.hpp"
#include "core/mss/errors.hpp"
#include "core/noise/errc.hpp"
#include "core/yamux/errc.hpp"

namespace starling::node {

failure_class classify_handshake_failure(std::error_code ec) noexcept {
  if (ec == conn::errc::handshake_timeout) return failure_class::timeout;
  if (ec.category() == mss::category()) return failure_class::negotiation;
  if (ec == conn::errc::unsupported_muxer) return failure_class::negotiation;
  if (ec.category() == noise::category()) return failure_class::security;
  // Socket errors arrive in the system category or Asio's own categories (converted).
  if (ec.category() == conn::category() || ec.category() == yamux::category())
    return failure_class::other;
  return failure_class::io;
}

bool is_protocol_violation(std::error_code ec) noexcept {
  if (yamux::is_protocol_error(ec)) return true;
  if (ec.category() == mss::category()) return true;
  if (ec.category() == noise::category()) {
    // A wrong peer id is a mismatch of expectations, not malformed input.
    return ec != noise::errc::peer_id_mismatch;
  }
  return ec.category() == conn::category() && ec == conn::errc::unsupported_muxer;
}

std::string_view to_string(failure_class c) noexcept {
  switch (c) {
    case failure_class::timeout:
      return "timeout";
    case failure_class::negotiation:
      return "negotiation";
    case failure_class::security:
      return "security";
    case failure_class::io:
      return "io";
    case failure_class::other:
      return "other";
  }
  return "other";
}

void metrics::count_handshake_failure(failure_class c) noexcept {
  switch (c) {
    case failure_class::timeout:
      ++handshake_failures_timeout;
      break;
    case failure_class::negotiation:
      ++handshake_failures_negotiation;
      break;
    case failure_class::security:
      ++handshake_failures_security;
      break;
    case failure_class::io:
      ++handshake_failures_io;
      break;
    case failure_class::other:
      ++handshake_failures_other;
      break;
  }
}

void metrics::count(stream_event e) noexcept {
  switch (e) {
    case stream_event::opened_inbound:
      ++streams_opened_inbound;
      break;
    case stream_event::opened_outbound:
      ++streams_opened_outbound;
      break;
    case stream_event::reset_by_peer:
      ++streams_reset_by_peer;
      break;
    case stream_event::reset_locally:
      ++streams_reset_locally;
      break;
    case stream_event::refused:
      ++streams_refused;
      break;
    case stream_event::negotiation_timed_out:
      ++stream_negotiation_timeouts;
      ++stream_negotiation_failures;
      break;
    case stream_event::negotiation_failed:
      ++stream_negotiation_failures;
      break;
  }
}

}  // namespace starling::node
