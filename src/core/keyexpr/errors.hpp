#pragma once
/// Key expressions: limits, error codes and the parse error that carries where the text went
/// wrong. One error channel: parsing returns `parse_result<T>`, whose error is a `parse_error`
/// (code, byte offset, an excerpt of the text); it converts to `std::error_code`, so a caller
/// that returns `starling::result<T>` can pass it on and drop the detail.

#include <boost/system/result.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace starling::keyexpr {

/// Longest key expression we accept, in bytes.
inline constexpr std::size_t max_size = 1024;
/// Most chunks (`/`-separated parts) in a key expression.
inline constexpr std::size_t max_chunks = 64;

enum class errc {
  empty = 1,           ///< the text is empty
  too_long,            ///< more than max_size bytes
  too_many_chunks,     ///< more than max_chunks chunks
  empty_chunk,         ///< a leading or trailing '/', or "//"
  reserved_character,  ///< '?', '#' or '$' (reserved for later use, as in Zenoh)
  control_character,   ///< NUL, another byte below 0x20, or DEL (0x7f)
  wildcard_in_chunk,   ///< '*' in a chunk that is neither "*" nor "**" (e.g. "te*p", "***")
  wildcard_in_key,     ///< a wildcard where a key (no wildcards) is required
};
/// The "keyexpr" error category.
const std::error_category& category() noexcept;
/// Makes `errc` values usable as std::error_code.
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Why a text is not a valid key expression, and where.
struct parse_error {
  errc code{};             ///< what is wrong
  std::size_t offset = 0;  ///< byte offset of the problem in the text that was parsed
  std::string excerpt;     ///< the text, printable: control bytes as \xNN, cut after 100 bytes

  /// Builds the error for `text`, taking the excerpt from it.
  static parse_error at(errc code, std::size_t offset, std::string_view text);

  /// "<excerpt>: <what> at byte <offset>", e.g. "home//temp: empty chunk at byte 5".
  std::string message() const;

  /// The code alone, for callers that return `starling::result<T>` (drops offset and text).
  operator std::error_code() const noexcept { return make_error_code(code); }
};

/// A value or a parse_error.
template <class T>
using parse_result = boost::system::result<T, parse_error>;

/// Called by `parse_result::value()` on an error (a caller bug: test the result first). Throws
/// boost::system::system_error with the code, as `starling::result::value()` does.
[[noreturn]] void throw_exception_from_error(const parse_error& e,
                                             const boost::source_location& loc);

}  // namespace starling::keyexpr

template <>
struct std::is_error_code_enum<starling::keyexpr::errc> : std::true_type {};
