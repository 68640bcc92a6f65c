#pragma once
/// The local control channel between a running node and the CLI: a Unix stream socket in the
/// data directory, owner-only, carrying JSON objects one per line ('\n'-terminated).
///
/// Every client first sends one request line. Two kinds of exchange follow:
/// - one-shot (`starling peers`, `known`, `status`): the server answers one response line and
///   closes; the whole exchange has a deadline (2 s).
/// - session (`starling sub`, `alive`, `reply`...): when the request's "cmd" has a session
///   handler (control_server::set_session_handler), the connection stays open with no deadline.
///   The node sends lines whenever it likes (control_session::send), the client may send
///   further lines (control_session::on_message), and the node learns when the client goes away
///   (control_session::on_close). By convention the first line the node sends says whether the
///   request was accepted: {"ok":true,...}, or {"ok":false,"error":...} and then it closes.
///   The CLI's end is control_session_client.
///
/// Bounds: request and client lines 64 KiB; 8 one-shot clients and, separately, 64 sessions;
/// each session queues at most 1 MiB for a client that reads slowly, after which the session is
/// closed (see control_session::send). A client sending anything but JSON objects gets an
/// error line and is closed.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
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
  closed,               ///< the other side closed the connection (end of a session)
  bad_request,          ///< the client sent a line that is not a JSON object, or too long a line
  too_slow,             ///< the client did not read a session's lines fast enough
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
  std::size_t max_request_bytes = 64 * 1024;  ///< a request (or session) line longer is refused
  std::size_t max_clients = 8;  ///< one-shot clients beyond this get {"ok":false,...} at once
  std::chrono::milliseconds client_deadline{2000};  ///< whole exchange; then the client is dropped
  std::size_t max_sessions = 64;  ///< sessions beyond this get {"ok":false,...} and are closed
  /// Bytes a session may hold for a client that reads slowly (see control_session::send).
  std::size_t max_session_queue_bytes = 1024 * 1024;
  /// How long the last lines of a session the node closed may take to drain.
  std::chrono::milliseconds session_close_linger{2000};
};

namespace detail {
struct control_conn;

/// Splits a byte stream into '\n'-terminated lines of at most `max_line` bytes (both ends of
/// the control socket use it, so lines split across reads or sharing one read are handled).
class line_reader {
 public:
  /// A reader refusing lines longer than `max_line` bytes (the '\n' not counted).
  explicit line_reader(std::size_t max_line) : m_max(max_line) {}
  /// Appends received bytes (first dropping the lines already taken).
  void append(std::string_view bytes);
  /// The next complete line without its '\n' (nor a '\r' before it), valid until the next
  /// append() or take_rest(); nullopt when none is complete yet, or when the line in front is
  /// too long (then too_long() holds and the stream cannot be resynchronised: close it).
  std::optional<std::string_view> next();
  /// True when the line in front is longer than the limit, complete or not.
  bool too_long() const noexcept { return m_too_long; }
  /// Removes and returns the bytes of an incomplete last line (at the end of the stream).
  std::string take_rest();
  /// Bytes held: taken lines not yet dropped, and the incomplete tail.
  std::size_t buffered() const noexcept { return m_buf.size() - m_pos; }

 private:
  std::string m_buf;
  std::size_t m_pos = 0;   // start of the first line not taken
  std::size_t m_scan = 0;  // m_buf[m_pos, m_scan) holds no '\n'
  std::size_t m_max;
  bool m_too_long = false;
};
}  // namespace detail

/// The node's end of one long-lived exchange with a client, handed to a session handler.
/// Lives on the io_context's thread: every member must be called there. A cheap handle: the
/// connection stays open while the client stays, the node keeps a handle and nobody calls
/// close(); destroying the last handle closes the session as close() does. Callbacks are
/// dropped when the session ends, so they may capture the handle itself.
class control_session {
 public:
  /// Called with each further line the client sends (always a JSON object). A line that is
  /// not one gets the client {"ok":false,"error":...} and ends the session (bad_request).
  using message_handler = std::function<void(const nlohmann::json& message)>;
  /// Called once when the session ends because of the client or the socket: closed (the
  /// client closed its end or its process died), bad_request, too_slow, or the socket error.
  /// Not called when the node itself calls close(), nor by control_server::stop().
  using close_handler = std::function<void(std::error_code reason)>;

  /// Queues `message` as one line for the client; never blocks. Returns false when the
  /// session is closed or closing (the line is dropped), and also when this line would take
  /// the queue past max_session_queue_bytes (1 MiB): the client is not keeping up, so the
  /// session ends: the unsent lines are dropped, the client gets {"ok":false,"error":"too
  /// slow..."} after what is already being written, a warning is logged, and on_close
  /// (too_slow) is called from a posted handler, never from inside send(). A single line
  /// larger than the bound is accepted into an empty queue.
  bool send(const nlohmann::json& message);
  /// Sets the message handler; set it inside the session handler, or lines that arrive
  /// before it is set are dropped. Ignored once the session has ended. An exception it throws
  /// is logged and ends the session with {"ok":false,"error":"internal error: ..."}, without
  /// on_close.
  void on_message(message_handler h);
  /// Sets the close handler (see close_handler); ignored once the session has ended.
  void on_close(close_handler h);
  /// Ends the session: no more callbacks; queued lines are still written, for at most
  /// session_close_linger (2 s), then the connection closes. Idempotent.
  void close();

  /// True until the session ends (the client left, close(), or too slow).
  bool is_open() const noexcept;
  /// Bytes queued for the client and not yet written to the socket (at most the bound).
  std::size_t queued_bytes() const noexcept;
  /// A number naming this session in logs, unique within its server.
  std::uint64_t id() const noexcept;
  /// The request that opened the session.
  const nlohmann::json& request() const noexcept;

  /// Internal: made by the server for a connection that became a session.
  explicit control_session(std::shared_ptr<detail::control_conn> c);
  ~control_session();
  control_session(const control_session&) = delete;
  control_session& operator=(const control_session&) = delete;

 private:
  std::shared_ptr<detail::control_conn> m_conn;
};

/// A Unix stream socket at `path` (data_dir/"control.sock"), mode 0600. Each client sends one
/// JSON request line; a one-shot request gets one JSON response line and the connection
/// closes, a session request (set_session_handler) keeps it open. Requests are bounded
/// (64 KiB), at most 8 one-shot clients at once, each with a 2 s deadline, and at most 64
/// sessions, with no deadline.
/// Runs entirely on the io_context's thread (one thread): the handlers are called there, and
/// stop() and the destructor must be called there too (or while the io_context is not running).
class control_server {
 public:
  /// Computes the response to one request (a JSON object). Exceptions it throws are caught and
  /// answered with {"ok":false,"error":...}. A response without "ok" gets "ok":true.
  using handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  /// Takes over one session: keeps `session` (or it closes when the handler returns), sets its
  /// callbacks and sends its lines. An exception it throws sends the client {"ok":false,
  /// "error":"internal error: ..."} and closes the session.
  using session_handler =
      std::function<void(const nlohmann::json& request, std::shared_ptr<control_session> session)>;

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

  /// Requests whose "cmd" is `cmd` open a session handled by `h` instead of going to the
  /// one-shot handler; an empty `h` removes the command. When max_sessions (64) are open, such
  /// a request is answered {"ok":false,"error":"too many control sessions..."} and closed.
  void set_session_handler(std::string cmd, session_handler h);

  /// Closes the listener, every client and every session (without calling their handlers),
  /// unlinks the socket file and releases the lock (idempotent). No handler is called
  /// afterwards.
  void stop();
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  /// The socket path.
  const std::filesystem::path& path() const noexcept { return m_path; }
  /// One-shot clients being served now.
  std::size_t active_clients() const noexcept;
  /// Sessions open now (including those draining their last lines).
  std::size_t active_sessions() const noexcept;
  /// Bytes queued for clients over all sessions.
  std::size_t queued_bytes() const noexcept;

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

/// The CLI's end of a session (`starling sub`, `alive`, `reply`): blocking calls on a plain
/// socket, for one thread, no io_context. Move-only; the destructor closes the connection,
/// which the node sees as the client going away.
class control_session_client {
 public:
  /// No timeout: read_line() waits as long as it takes.
  static constexpr std::chrono::milliseconds forever{-1};

  /// Connects to the node at `path` and sends `request`, within `timeout`. Errors:
  /// no_node_running, path_too_long, timeout, or the socket error (e.g. permission denied).
  /// The node's answer (usually {"ok":true} or {"ok":false,"error":...}) is the first
  /// read_line(): a node that does not know the command answers {"ok":false,...} and closes.
  static result<control_session_client> open(
      const std::filesystem::path& path, const nlohmann::json& request,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

  /// The next line from the node, waiting at most `timeout` (`forever`: no limit). Errors:
  /// timeout (nothing complete yet; call again), closed (the node closed the connection after
  /// every line before was returned), bad_response (not a JSON object, or a line over 16 MiB:
  /// the session is unusable, close it), std::errc::interrupted (a signal arrived: check your
  /// flag and call again), or the socket error.
  result<nlohmann::json> read_line(std::chrono::milliseconds timeout = forever);
  /// Sends `message` as one line, waiting at most `timeout` for room. Errors: timeout (part of
  /// the line may have gone: close the session), closed (the node has gone),
  /// std::errc::interrupted (a signal arrived while waiting: the line may be cut, close the
  /// session), or the socket error.
  result<void> send(const nlohmann::json& message,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  /// Closes the connection (idempotent); read_line and send then return closed.
  void close() noexcept;
  /// True until close() (or the move that emptied this object).
  bool is_open() const noexcept { return m_fd >= 0; }

  control_session_client(control_session_client&& o) noexcept;
  control_session_client& operator=(control_session_client&& o) noexcept;
  ~control_session_client();

 private:
  explicit control_session_client(int fd);

  int m_fd = -1;
  detail::line_reader m_lines;
  bool m_eof = false;
};

}  // namespace starling::node

template <>
struct std::is_error_code_enum<starling::node::control_errc> : std::true_type {};
