#pragma once
/// Errors of the public API: a code to branch on and a message written for a person.

#include <string>
#include <utility>

#include "starling/export.hpp"

namespace starling {

/// What went wrong, coarsely; error::message() says exactly what.
enum class errc {
  invalid_argument = 1,  ///< bad input: a key expression, a multiaddr, an option (fix the call)
  identity,              ///< the identity key in the data directory cannot be read or created
  io,                    ///< a socket or file operation failed (address in use, unreachable, ...)
  timeout,               ///< nothing happened within the time allowed (recv, connect, get)
  closed,       ///< the session is closed (or the handle is empty, moved from; a query finished)
  would_block,  ///< a call that would wait was made on the network thread (in a handler)
  refused,      ///< the data layer refused it (payload over 512 KiB, too many declarations)
  not_found,    ///< nothing matched: a get whose selector no reachable queryable matches
};

/// The name of a code, e.g. "invalid_argument".
STARLING_API const char* to_string(errc code) noexcept;

/// An error: its code and a readable message, e.g. for a bad key expression the parser's
/// message with the byte offset: "bad key expression 'home//temp': home//temp: empty chunk at
/// byte 5".
class error {
 public:
  /// Makes an error.
  error(errc code, std::string message) : m_code(code), m_message(std::move(message)) {}
  /// The code.
  errc code() const noexcept { return m_code; }
  /// The message (one line, no trailing newline).
  const std::string& message() const noexcept { return m_message; }

 private:
  errc m_code;
  std::string m_message;
};

}  // namespace starling
