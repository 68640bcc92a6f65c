#pragma once
/// Unsigned varints as multiformats specifies them (LEB128, at most 9 bytes, minimal encoding),
/// and the uvarint-length-prefixed messages that multistream-select and identify use.

#include <cstdint>
#include <optional>
#include <system_error>

#include "core/common/bytes.hpp"

namespace starling::varint {

/// Largest value the multiformats spec allows (63 bits, 9 bytes).
inline constexpr std::uint64_t max_value = (std::uint64_t{1} << 63) - 1;
inline constexpr std::size_t max_bytes = 9;

enum class errc {
  overlong = 1,  ///< more than 9 bytes, or a value over 2^63-1
  non_minimal,   ///< trailing zero groups (e.g. 0x80 0x00)
  too_large,     ///< a length prefix above the caller's limit
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Appends the encoding of `v` (must be <= max_value) to `out`.
void encode(std::uint64_t v, bytes& out);
/// Number of bytes encode() writes for `v`.
std::size_t encoded_size(std::uint64_t v) noexcept;

/// The outcome of decoding from a possibly incomplete buffer.
struct decoded {
  std::uint64_t value = 0;
  std::size_t size = 0;  ///< bytes consumed; 0 means "need more bytes"
};

/// Decodes a varint at the start of `in`. Returns `size == 0` when `in` ends before the varint
/// does (feed more and retry); an error when the bytes can never form a valid varint.
/// Errors: overlong, non_minimal. The caller closes the stream on error.
[[nodiscard]] bool decode(bytes_view in, decoded& out, std::error_code& ec) noexcept;

/// A length-prefixed frame found at the start of a buffer.
struct frame {
  bytes_view payload;    ///< the message, without its length prefix
  std::size_t consumed;  ///< prefix + payload bytes to drop from the buffer
};

/// Finds one `uvarint length || payload` frame at the start of `in`. Returns nullopt with `ec`
/// clear when more bytes are needed; nullopt with `ec` set (overlong, non_minimal, too_large)
/// when the input is invalid or announces more than `max_len` bytes.
[[nodiscard]] std::optional<frame> read_frame(bytes_view in, std::size_t max_len,
                                              std::error_code& ec) noexcept;

/// Appends `uvarint(payload.size()) || payload` to `out`.
void write_frame(bytes_view payload, bytes& out);

}  // namespace starling::varint

template <>
struct std::is_error_code_enum<starling::varint::errc> : std::true_type {};
