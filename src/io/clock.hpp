#pragma once
/// The shell's one clock read: cores get `now` from here.

#include <chrono>

#include "core/common/time.hpp"

namespace starling::io {

/// The monotonic time now, as cores take it.
inline time_point now() noexcept {
  return std::chrono::time_point_cast<clock_duration>(std::chrono::steady_clock::now());
}

}  // namespace starling::io
