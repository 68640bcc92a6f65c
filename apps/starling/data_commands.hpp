#pragma once
/// `starling put`, `starling del` and `starling sub`: the data layer of the running node,
/// through its control socket (src/node/control.hpp).

#include <cstdint>
#include <optional>
#include <string>

namespace starling::app {

/// Options of `starling put KEY VALUE` / `starling del KEY`.
struct put_options {
  std::string data_dir;  ///< empty: node::default_data_dir()
  std::string key;
  std::string value;     ///< "-": read the value from standard input
  std::string encoding;  ///< content type, e.g. text/plain ("" = none)
};

/// Options of `starling sub KEYEXPR`.
struct sub_options {
  std::string data_dir;
  std::string expr;
  std::optional<std::uint64_t> count;  ///< exit after this many samples
  bool json = false;                   ///< one JSON object per line
  bool latest = false;                 ///< the current values (from storages) first
};

/// `starling put`: exit 0 once the node took the sample, 1 after one "starling: ..." line.
int run_put(const put_options& o);
/// `starling del`: as run_put, for a delete.
int run_del(const put_options& o);
/// `starling sub`: prints one line per sample (`key value`, or JSON), flushed per line, until
/// COUNT samples, a signal, or the node going away (exit 1 with a line saying so).
int run_sub(const sub_options& o);

}  // namespace starling::app
