#pragma once
/// multistream-select 1.0: constants, error codes and the message codec shared by the dialer and
/// the listener. See docs/interop.md for how go, rust and js differ.

#include <cstddef>
#include <optional>
#include <string_view>
#include <system_error>

#include "core/common/bytes.hpp"

namespace starling::mss {

/// The multistream-select header, sent first by both sides.
inline constexpr std::string_view header = "/multistream/1.0.0";
/// Largest message payload we accept or send, the trailing '\n' included (js and go use 1024).
inline constexpr std::size_t max_message = 1024;
/// Most proposals (answered "na" or "ls") a listener serves before giving up.
inline constexpr std::size_t max_attempts = 32;

enum class errc {
  malformed = 1,       ///< bad length prefix, empty message or no trailing '\n'
  too_long,            ///< a message over max_message bytes
  wrong_header,        ///< the first message is not /multistream/1.0.0
  invalid_protocol,    ///< a protocol id that is empty, too long or does not start with '/'
  no_protocol,         ///< dialer: the listener answered "na" to every protocol we proposed
  rejected,            ///< lazy dialer: the listener answered "na" to our only protocol
  unexpected_message,  ///< a message that makes no sense in the current state
  already_done,        ///< feed() after negotiation finished: hand bytes to the next layer
  too_many_attempts,   ///< listener: more than max_attempts proposals
  invalid_argument,    ///< bad constructor arguments (no protocols; lazy with several)
};
/// The "mss" error category.
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

namespace detail {

/// Appends `uvarint(len(text)+1) || text || '\n'` to `out`.
void write_message(std::string_view text, bytes& out);

/// One message read from the start of a buffer.
struct message {
  std::string_view text;  ///< without the trailing '\n'; points into the input
  std::size_t consumed;   ///< bytes to drop from the input
};

/// Reads one message at the start of `in`. Returns nullopt with `ec` clear when more bytes are
/// needed, nullopt with `ec` set (malformed, too_long) when the bytes are invalid.
std::optional<message> read_message(bytes_view in, std::error_code& ec) noexcept;

/// True for a protocol id we are willing to send or compare: starts with '/', no '\n',
/// fits in a message.
bool valid_protocol(std::string_view id) noexcept;

}  // namespace detail
}  // namespace starling::mss

template <>
struct std::is_error_code_enum<starling::mss::errc> : std::true_type {};
