#pragma once
/// What the commands that talk to a running node share (`put`, `sub`, `get`, `reply`,
/// `alive`, `peers`, `status`): finding its control socket, opening a session and reading
/// its lines until a signal asks to stop. The lines themselves are node/control_api.hpp's types.

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "node/control.hpp"
#include "node/control_api.hpp"

namespace starling::app {

/// The control socket of the node whose data directory is `data_dir` (empty:
/// node::default_data_dir()).
std::filesystem::path control_socket_for(const std::string& data_dir);

/// From now on SIGINT and SIGTERM set stop_requested() instead of ending the process. Without
/// SA_RESTART: a wait in read_line() returns std::errc::interrupted.
void catch_stop_signals();
/// True once SIGINT or SIGTERM arrived after catch_stop_signals().
bool stop_requested();

/// Opens a session on `sock` with `request` and reads its first line (within 3 s). When that
/// fails, or the node answers {"ok":false} (its "error", else `refused`), prints why as one
/// line and returns nullopt.
std::optional<node::control_session_client> open_session(
    const std::filesystem::path& sock, const nlohmann::json& request,
    const std::string& refused = "the node refused the request");

/// The session's next line, waiting at most `timeout` (a wait that a signal cut short starts
/// again). nullopt when stop_requested() (nothing printed), or when reading failed (timeout,
/// the node went away, a bad line: the reason printed as one line).
std::optional<nlohmann::json> next_line(
    node::control_session_client& s, const std::filesystem::path& sock,
    std::chrono::milliseconds timeout = node::control_session_client::forever);

/// One one-shot request to the node of `data_dir`: its {"ok":true,...} answer, or nullopt after
/// printing why as one line (no node running, the node's "error").
std::optional<nlohmann::json> ask_node(const std::string& data_dir,
                                       const node::api::request& request);

/// Prints "`a` `b`\n" on stdout, bytes as they are, and flushes.
void write_line(const std::string& a, const std::string& b);
/// Prints `j` as one line of JSON on stdout (invalid UTF-8 replaced by U+FFFD) and flushes.
void write_json_line(const nlohmann::json& j);

}  // namespace starling::app
