#pragma once
/// multistream-select 1.0, listener side: answers proposals until one is supported.

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/mss/errors.hpp"

namespace starling::mss {

/// Listener core. Sans-I/O: feed the bytes read from the stream, send what poll_transmit()
/// hands out after every feed(), before waiting for more input.
///
/// Our header is queued at construction (as go does); the caller may flush it at once or
/// together with the first answer. Both are safe because every dialer (go, rust, js) sends its
/// header without waiting for ours.
///
/// go and rust dialers write application data right after the protocol line, before our echo:
/// those bytes are kept and handed over by take_remaining() once is_done().
class listener {
 public:
  /// Decides whether a proposed protocol is served.
  using predicate = std::function<bool(std::string_view)>;

  /// Serves exactly the ids in `supported` (also the answer to "ls").
  explicit listener(std::vector<std::string> supported);
  /// Serves every id `accept` returns true for; "ls" is answered with `advertised`.
  explicit listener(predicate accept, std::vector<std::string> advertised = {});

  /// Consumes bytes read from the stream. Errors: malformed, too_long, wrong_header,
  /// too_many_attempts (more than max_attempts "na"/"ls" answers), already_done (negotiation
  /// had finished: the caller should have handed bytes to the next layer). After an error the
  /// caller resets the stream; every later call returns the same error.
  [[nodiscard]] result<void> feed(bytes_view in);

  /// Appends the bytes to send (header, "na", "ls" answers, the echo) to `out`.
  void poll_transmit(bytes& out);

  /// True once a protocol was selected and its echo queued.
  bool is_done() const noexcept { return m_state == state::done; }

  /// The selected protocol (empty until is_done()).
  const std::string& selected() const noexcept { return m_selected; }

  /// Hands over (and clears) the bytes that followed the selected protocol's line.
  bytes take_remaining() { return std::exchange(m_remaining, {}); }

 private:
  enum class state { await_header, await_proposal, done, failed };
  result<void> fail(errc e);
  result<void> on_proposal(std::string_view proposal);
  void write_ls();
  bool accepts(std::string_view proposal) const;

  predicate m_accept;  ///< empty: match m_advertised exactly
  std::vector<std::string> m_advertised;
  std::size_t m_attempts = 0;
  state m_state = state::await_header;
  std::error_code m_error;
  std::string m_selected;
  bytes m_in;
  bytes m_out;
  bytes m_remaining;
};

}  // namespace starling::mss
