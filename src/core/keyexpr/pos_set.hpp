#pragma once
/// Internal: a set of positions 0..max_chunks in a key expression, as two words.

#include <compare>
#include <cstddef>
#include <cstdint>

#include "core/keyexpr/errors.hpp"

namespace starling::keyexpr::detail {

/// A set of small integers in [0, 128); positions go up to max_chunks (64).
struct pos_set {
  std::uint64_t lo = 0;  ///< members 0..63
  std::uint64_t hi = 0;  ///< members 64..127

  /// Adds `p`.
  void set(std::size_t p) noexcept { (p < 64 ? lo : hi) |= std::uint64_t{1} << (p % 64); }
  /// True when `p` is a member.
  bool test(std::size_t p) const noexcept { return ((p < 64 ? lo : hi) >> (p % 64)) & 1; }
  /// True when there is no member.
  bool empty() const noexcept { return lo == 0 && hi == 0; }
  /// Same members.
  friend bool operator==(const pos_set&, const pos_set&) = default;
  /// Some total order, for sorting; the empty set is the least.
  friend std::strong_ordering operator<=>(const pos_set&, const pos_set&) = default;
};
static_assert(max_chunks < 128);

}  // namespace starling::keyexpr::detail
