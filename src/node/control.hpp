#pragma once
/// The local control channel between a running node and the CLI (`starling peers`,
/// `starling status`): a Unix stream socket in the data directory, owner-only. Each client
/// sends one JSON request line and gets one JSON response line; then the connection closes.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>

#include "core/common/result.hpp"

namespace starling::node {

/// Errors of the control channel. Use describe_control_error() for the line shown to a user:
/// the messages of the category cannot name the data directory.
enum class control_errc {
  already_running = 1,  ///< another process answers on the socket: one node per data directory
  no_node_running,      ///< no socket file, or nobody answers on it
  timeout,              ///< the node did not answer within the client's timeout
  bad_response,         ///< the answer is not one JSON object (or is too large)
  path_too_long,        ///< the socket path does not fit in sockaddr_un::sun_path
  insecure_directory,   ///< the socket's directory is missing, not ours, or writable by others
  not_a_socket,         ///< something other than a socket exists at the socket path
};
/// The category of control_errc ("control").
const std::error_category& control_category() noexcept;
/// Makes a std::error_code of control_category().
inline std::error_code make_error_code(control_errc e) noexcept {
  return {static_cast<int>(e), control_category()};
}

/// The control socket of a data directory: `data_dir/"control.sock"`.
std::filesystem::path control_socket_path(const std::filesystem::path& data_dir);

/// One line for a person describing an error of control_server::start or control_request on
/// `socket_path`, naming the data directory (the socket's parent), e.g. "no node is running
/// with data directory /home/pi/.local/share/starling". Other error codes are prefixed with
/// the socket path.
std::string describe_control_error(std::error_code ec, const std::filesystem::path& socket_path);

/// Limits of a control_server; the defaults are the documented ones (tests shorten them).
struct control_server_options {
  std::size_t max_request_bytes = 64 * 1024;  ///< a request line longer than this is refused
  std::size_t max_clients = 8;                ///< clients beyond this get {"ok":false,...} at once
  std::chrono::milliseconds client_deadline{2000};  ///< whole exchange; then the client is dropped
};

/// A Unix stream socket at `path` (data_dir/"control.sock"), mode 0600. Each client sends one
/// JSON request line, gets one JSON response line, and the connection closes. Requests are
/// bounded (64 KiB), at most 8 clients at once, each with a 2 s deadline.
/// Runs entirely on the io_context's thread (one thread): the handler is called there, and
/// stop() and the destructor must be called there too (or while the io_context is not running).
class control_server {
 public:
  /// Computes the response to one request (a JSON object). Exceptions it throws are caught and
  /// answered with {"ok":false,"error":...}. A response without "ok" gets "ok":true.
  using handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  /// Creates the socket and starts accepting. Errors: already_running (another process answers
  /// on that socket, or holds the lock file `path + ".lock"`: one node per data dir),
  /// path_too_long, insecure_directory (the directory must exist, be ours and not be writable
  /// by group or others), not_a_socket, or the socket error. A stale socket file (nobody
  /// answers) is replaced. The caller prints describe_control_error() and exits.
  static result<std::unique_ptr<control_server>> start(boost::asio::io_context& ctx,
                                                       const std::filesystem::path& path,
                                                       handler h);
  /// As above with explicit limits.
  static result<std::unique_ptr<control_server>> start(boost::asio::io_context& ctx,
                                                       const std::filesystem::path& path, handler h,
                                                       const control_server_options& options);

  /// Closes the listener and every client, unlinks the socket file and releases the lock
  /// (idempotent). The handler is not called afterwards.
  void stop();
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  /// The socket path.
  const std::filesystem::path& path() const noexcept { return m_path; }
  /// Clients being served now.
  std::size_t active_clients() const noexcept;

  struct state;  ///< internal (shared with pending asynchronous operations)

 private:
  control_server(std::filesystem::path path, std::shared_ptr<state> s, int lock_fd);

  std::filesystem::path m_path;
  std::shared_ptr<state> m_state;
  int m_lock_fd = -1;
};

/// Client: sends `request`, returns the response. Errors: no_node_running (no socket or nobody
/// answering: "no node is running with data directory X"), timeout, bad_response, path_too_long,
/// or the socket error (e.g. permission denied on another user's socket). Blocking, bounded by
/// `timeout` overall. A response {"ok":false,...} is returned as a value: the caller shows its
/// "error".
result<nlohmann::json> control_request(
    const std::filesystem::path& path, const nlohmann::json& request,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

}  // namespace starling::node

template <>
struct std::is_error_code_enum<starling::node::control_errc> : std::true_type {};
