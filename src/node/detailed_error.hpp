#pragma once
/// The error of a node-level call that a person reads: the code a program branches on and the
/// sentence that names what failed (a path, an address, SQLite's own words). One value, so a
/// call has one error channel: no `std::string&` out-parameter beside the result and no
/// thread-local "last error" (docs/decisions/0001-result-type.md; config_error and
/// storage_error carry only a message because no caller branches on their cause).

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <stdexcept>
#include <string>
#include <system_error>

namespace starling::node {

/// A code and one line for a person (never empty when made by Starling).
struct detailed_error {
  std::error_code code;
  std::string message;
};

/// A value or a detailed_error.
template <class T>
using detailed_result = boost::system::result<T, detailed_error>;

/// Called by `detailed_result::value()` on an error (found by argument-dependent lookup):
/// throws std::runtime_error with the message. Check the result first.
[[noreturn]] inline void throw_exception_from_error(const detailed_error& e,
                                                    const boost::source_location&) {
  throw std::runtime_error(e.message);
}

}  // namespace starling::node
