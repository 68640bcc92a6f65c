#pragma once
/// multistream-select 1.0, dialer side: proposes protocols until the listener echoes one.

#include <string>
#include <utility>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/mss/errors.hpp"

namespace starling::mss {

/// How the dialer waits for the listener's answer.
enum class mode {
  /// js-style: send header + first protocol in one write, then wait for header + echo before
  /// any application data; on "na" propose the next protocol.
  wait_echo,
  /// go/rust-style V1Lazy, for exactly one protocol: send header + protocol and let the
  /// application write right away; the header + echo are still read and checked before any
  /// application bytes are handed on.
  lazy,
};

/// Dialer core. Sans-I/O: feed the bytes read from the stream, send what poll_transmit()
/// hands out. The header and first proposal are queued at construction, so the caller flushes
/// them without waiting for the listener (a js listener writes nothing until it has read).
class dialer {
 public:
  /// Builds a dialer proposing `protocols` in order. Errors: invalid_argument (empty list, or
  /// lazy with more than one protocol), invalid_protocol (an id not starting with '/', holding
  /// '\n' or over max_message bytes). The caller opens no stream on error.
  static result<dialer> create(std::vector<std::string> protocols, mode m = mode::wait_echo);

  /// Consumes bytes read from the stream. Errors: malformed, too_long, wrong_header,
  /// unexpected_message, no_protocol (wait_echo: every protocol refused), rejected (lazy: "na"),
  /// already_done (negotiation had finished: the caller should have stopped feeding). After an
  /// error the caller resets the stream; every later call returns the same error.
  [[nodiscard]] result<void> feed(bytes_view in);

  /// Appends the bytes to send (header, proposals) to `out`.
  void poll_transmit(bytes& out);

  /// True once the listener's header and echo were read: selected() is final and
  /// take_remaining() holds the application bytes that followed the echo.
  bool is_done() const noexcept { return m_state == state::done; }

  /// True when the application may write: at once in lazy mode, after is_done() otherwise.
  bool may_send_data() const noexcept {
    return m_mode == mode::lazy ? m_state != state::failed : is_done();
  }

  /// The protocol being proposed (final once is_done()).
  const std::string& selected() const noexcept { return m_protocols[m_index]; }

  /// Hands over (and clears) the bytes received after the echo; they belong to the next layer.
  bytes take_remaining() { return std::exchange(m_remaining, {}); }

 private:
  enum class state { await_header, await_reply, done, failed };
  dialer(std::vector<std::string> protocols, mode m);
  result<void> fail(errc e);

  std::vector<std::string> m_protocols;
  mode m_mode;
  std::size_t m_index = 0;
  state m_state = state::await_header;
  std::error_code m_error;
  bytes m_in;
  bytes m_out;
  bytes m_remaining;
};

}  // namespace starling::mss
