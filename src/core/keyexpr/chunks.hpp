#pragma once
/// Internal: a valid key expression split into chunk views without allocating.

#include <array>
#include <cstddef>
#include <string_view>

#include "core/keyexpr/errors.hpp"

namespace starling::keyexpr::detail {

/// The chunks of an already validated expression, as views into its text.
class chunks {
 public:
  /// Splits `valid` (must have passed validate(); at most max_chunks chunks).
  explicit chunks(std::string_view valid) noexcept {
    std::size_t start = 0;
    for (;;) {
      const std::size_t slash = valid.find('/', start);
      m_items[m_size++] = valid.substr(start, slash - start);
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
  }

  /// Number of chunks (at least 1).
  std::size_t size() const noexcept { return m_size; }
  /// Chunk `i`, i < size().
  std::string_view operator[](std::size_t i) const noexcept { return m_items[i]; }

 private:
  std::array<std::string_view, max_chunks> m_items{};
  std::size_t m_size = 0;
};

/// True for the chunk "*".
inline bool is_star(std::string_view c) noexcept {
  return c == "*";
}
/// True for the chunk "**".
inline bool is_dstar(std::string_view c) noexcept {
  return c == "**";
}

}  // namespace starling::keyexpr::detail
