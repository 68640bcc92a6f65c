#pragma once
/// Time as cores see it: a point on the monotonic clock, always passed in by the caller.

#include <chrono>

namespace starling {

using clock_duration = std::chrono::nanoseconds;
/// A point in time; cores never read a clock, they take `now` as an argument.
using time_point = std::chrono::time_point<std::chrono::steady_clock, clock_duration>;
/// "No deadline".
inline constexpr time_point no_deadline = time_point::max();

}  // namespace starling
