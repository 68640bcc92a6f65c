#include "core/yamux/errc.hpp"

#include <string>

namespace starling::yamux {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "yamux"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::bad_version:
        return "yamux: unsupported frame version";
      case errc::bad_type:
        return "yamux: unknown frame type";
      case errc::bad_flags:
        return "yamux: invalid frame flags";
      case errc::bad_stream_id:
        return "yamux: invalid stream id for this frame";
      case errc::stream_id_reused:
        return "yamux: SYN reuses a stream id";
      case errc::window_exceeded:
        return "yamux: data frame exceeds the receive window";
      case errc::session_dead:
        return "yamux: session is closed";
      case errc::going_away:
        return "yamux: session is going away";
      case errc::too_many_unacked:
        return "yamux: too many streams wait for an ACK";
      case errc::ids_exhausted:
        return "yamux: stream ids exhausted";
      case errc::unknown_stream:
        return "yamux: unknown stream";
      case errc::write_closed:
        return "yamux: stream write side already closed";
      case errc::bad_consume:
        return "yamux: consumed more than was received";
      case errc::keepalive_timeout:
        return "yamux: keepalive ping timed out";
      case errc::remote_go_away:
        return "yamux: peer sent GoAway with an error code";
    }
    return "yamux: unknown error";
  }
};
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

}  // namespace starling::yamux
