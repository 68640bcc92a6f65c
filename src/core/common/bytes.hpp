#pragma once
/// Byte buffers shared by every core.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace starling {

/// An owned byte string.
using bytes = std::vector<std::uint8_t>;
/// A read-only view of bytes; never owns.
using bytes_view = std::span<const std::uint8_t>;

/// View the characters of a string as bytes.
inline bytes_view as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// View bytes as characters.
inline std::string_view as_chars(bytes_view b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// Append a view to an owned buffer.
inline void append(bytes& out, bytes_view in) {
  out.insert(out.end(), in.begin(), in.end());
}

/// Lower-case hex encoding.
std::string to_hex(bytes_view b);

/// Decodes hex (either case). Returns false on odd length or a non-hex character.
bool from_hex(std::string_view hex, bytes& out);

}  // namespace starling
