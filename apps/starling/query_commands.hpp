#pragma once
/// `starling get`, `starling reply` and `starling alive`: queries and liveliness through the
/// running node's control socket (src/node/data_control.hpp).

#include <optional>
#include <string>
#include <vector>

namespace starling::app {

/// Options of `starling get SELECTOR`.
struct get_options {
  std::string data_dir;
  std::string selector;  ///< KEYEXPR[?PARAMETERS]
  double timeout = 10;   ///< seconds
  bool json = false;
  std::string target = "all";  ///< all, best or complete
  bool latest = false;         ///< one reply per key, the latest
  std::optional<std::string> value;
};

/// Options of `starling reply KEYEXPR -- COMMAND [ARG...]`.
struct reply_options {
  std::string data_dir;
  std::string expr;
  bool complete = false;
  std::vector<std::string> command;
  double command_timeout = 30;  ///< seconds a command may run
};

/// Options of `starling alive KEY` and `starling alive --watch KEYEXPR`.
struct alive_options {
  std::string data_dir;
  std::string key;
  bool watch = false;
};

/// Prints one line per reply (`key value`, or JSON); exit 0 when some queryable answered
/// (with a non-error reply), 1 otherwise with a line saying why.
int run_get(const get_options& o);
/// Answers queries until a signal: each runs COMMAND with STARLING_KEY and STARLING_PARAMS
/// (the query's value on its standard input); its standard output is the reply, a failure an
/// error reply.
int run_reply(const reply_options& o);
/// Declares a token until a signal, or prints `+ key` / `- key` lines with --watch.
int run_alive(const alive_options& o);

}  // namespace starling::app
