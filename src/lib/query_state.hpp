#pragma once
// Internal to libstarling: the state behind a public starling::query, shared by the handle
// classes (session.cpp makes it, query.cpp answers through it). Standard types only, like
// runtime.hpp.

#include <cstdint>
#include <memory>
#include <mutex>

#include "runtime.hpp"

namespace starling::lib {

/// One query handed to a queryable: what was asked, and the handle to answer it with. The
/// mutex orders replies and the finish of one query made from several threads.
struct query_state {
  std::shared_ptr<runtime> rt;
  incoming_query q;
  std::mutex mu;
  bool finished = false;
};

}  // namespace starling::lib
