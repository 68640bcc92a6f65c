#pragma once
/// The one result type used across core, io and node boundaries.
/// See docs/decisions/0001-result-type.md for why this is boost::system::result.

#include <boost/system/result.hpp>
#include <system_error>

namespace starling {

/// A value or a std::error_code. `result<void>` carries only success or an error.
template <class T>
using result = boost::system::result<T, std::error_code>;

/// Propagate an error from an expression returning result<...>; yields its value otherwise.
/// Usage: `auto v = STARLING_TRY(parse(x));` (GCC/Clang statement expression).
#define STARLING_TRY(expr)                                \
  __extension__({                                         \
    auto starling_try_r_ = (expr);                        \
    if (!starling_try_r_) return starling_try_r_.error(); \
    std::move(starling_try_r_).value();                   \
  })

}  // namespace starling
