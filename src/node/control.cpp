#include "node/control.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <unordered_set>

namespace starling::node {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using json = nlohmann::json;

namespace {

class control_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "control"; }
  std::string message(int c) const override {
    switch (static_cast<control_errc>(c)) {
      case control_errc::already_running:
        return "another node is already running with this data directory";
      case control_errc::no_node_running:
        return "no node is running with this data directory";
      case control_errc::timeout:
        return "the node did not answer in time";
      case control_errc::bad_response:
        return "the node sent an invalid response";
      case control_errc::path_too_long:
        return "control socket path is too long";
      case control_errc::insecure_directory:
        return "the control socket's directory is not private";
      case control_errc::not_a_socket:
        return "the control socket path exists and is not a socket";
    }
    return "control error";
  }
};

constexpr std::size_t max_response_bytes = 16 * 1024 * 1024;

std::error_code last_errno() {
  return {errno, std::system_category()};
}

/// Asio reports errno values in Boost's system category; give callers the std one so that
/// comparisons such as `ec == std::errc::permission_denied` hold.
std::error_code to_std(const boost::system::error_code& e) {
  if (e.category() == boost::system::system_category() ||
      e.category() == boost::system::generic_category())
    return {e.value(), std::system_category()};
  return e;
}

bool path_fits(const fs::path& p) {
  return !p.empty() && p.native().size() < sizeof(sockaddr_un{}.sun_path);
}

json error_response(std::string text) {
  return json{{"ok", false}, {"error", std::move(text)}};
}

std::string to_line(const json& j) {
  // Invalid UTF-8 in a string must not throw out of the server: replace it.
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

enum class probe_result { answers, refused };

/// Connects without blocking to see whether a process listens on `p`.
result<probe_result> probe(const fs::path& p) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return last_errno();
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, p.c_str(), p.native().size());
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  // EAGAIN: the listener's backlog is full, so somebody listens.
  if (rc == 0 || err == EAGAIN || err == EINPROGRESS) return probe_result::answers;
  if (err == ECONNREFUSED || err == ENOENT) return probe_result::refused;
  return std::error_code(err, std::system_category());
}

/// The directory must exist, be ours and writable only by us: otherwise another user could
/// replace the socket with their own.
result<void> check_directory(const fs::path& socket_path) {
  fs::path dir = socket_path.parent_path();
  if (dir.empty()) dir = ".";
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return last_errno();
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return control_errc::insecure_directory;
  return {};
}

/// Takes `path.lock` (flock, released when the fd closes, also when the process dies).
result<int> take_lock(const fs::path& socket_path) {
  fs::path lock = socket_path;
  lock += ".lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return last_errno();
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return control_errc::already_running;
    return std::error_code(err, std::system_category());
  }
  return fd;
}

/// Removes a stale socket file; refuses when something answers on it or it is not a socket.
result<void> clear_stale(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return last_errno();
  }
  if (!S_ISSOCK(st.st_mode)) return control_errc::not_a_socket;
  auto r = probe(p);
  if (!r) return r.error();
  if (*r == probe_result::answers) return control_errc::already_running;
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) return last_errno();
  return {};
}

}  // namespace

const std::error_category& control_category() noexcept {
  static const control_category_impl c;
  return c;
}

fs::path control_socket_path(const fs::path& data_dir) {
  return data_dir / "control.sock";
}

std::string describe_control_error(std::error_code ec, const fs::path& socket_path) {
  fs::path dir = socket_path.parent_path();
  if (dir.empty()) dir = ".";
  const std::string d = dir.string();
  if (ec == control_errc::already_running)
    return "another node is already running with data directory " + d;
  if (ec == control_errc::no_node_running) return "no node is running with data directory " + d;
  if (ec == control_errc::timeout)
    return "the node running with data directory " + d + " did not answer in time";
  if (ec == control_errc::bad_response)
    return "the node running with data directory " + d + " sent an invalid response";
  if (ec == control_errc::path_too_long)
    return "control socket path " + socket_path.string() + " is too long (" +
           std::to_string(socket_path.native().size()) + " bytes, at most " +
           std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + "): use a shorter data directory";
  if (ec == control_errc::insecure_directory)
    return "data directory " + d +
           " must exist, belong to you and not be writable by others (chmod 700 " + d + ")";
  if (ec == control_errc::not_a_socket)
    return socket_path.string() + " exists and is not a socket: move it away";
  if (ec == std::errc::permission_denied)
    return "cannot use the control socket " + socket_path.string() +
           ": permission denied (does the node run as another user?)";
  return "control socket " + socket_path.string() + ": " + ec.message();
}

// ---------------------------------------------------------------- server

namespace detail {
struct control_session;
}
using detail::control_session;

struct control_server::state : std::enable_shared_from_this<control_server::state> {
  state(asio::io_context& ctx, handler hd, const control_server_options& o)
      : acceptor(ctx), retry(ctx), h(std::move(hd)), opts(o) {}

  local::acceptor acceptor;
  asio::steady_timer retry;  // after an accept error (EMFILE...), wait instead of spinning
  handler h;
  control_server_options opts;
  std::unordered_set<control_session*> sessions;
  bool stopped = false;

  void accept();
  void refuse_busy(local::socket& s);
  json answer(std::string_view line);
  void stop();
};

namespace detail {

/// One client: read one line (bounded), answer, close; dropped at the deadline.
struct control_session : std::enable_shared_from_this<control_session> {
  control_session(std::shared_ptr<control_server::state> s, local::socket sock)
      : st(std::move(s)), socket(std::move(sock)), deadline(socket.get_executor()) {}
  ~control_session() { st->sessions.erase(this); }

  std::shared_ptr<control_server::state> st;
  local::socket socket;
  asio::steady_timer deadline;
  std::string in, out;
  bool closed = false;

  void begin() {
    st->sessions.insert(this);
    deadline.expires_after(st->opts.client_deadline);
    deadline.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->close();  // too slow: drop it without an answer
    });
    asio::async_read_until(socket, asio::dynamic_buffer(in, st->opts.max_request_bytes + 1), '\n',
                           [self = shared_from_this()](boost::system::error_code ec,
                                                       std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (closed || st->stopped) return close();
    std::string_view line;
    if (!ec) {
      line = std::string_view(in).substr(0, n - 1);
    } else if (ec == asio::error::not_found) {
      return respond(error_response("request too large (limit " +
                                    std::to_string(st->opts.max_request_bytes) + " bytes)"));
    } else if (ec == asio::error::eof && !in.empty()) {
      line = in;  // a last line without '\n' before the client shut down its side
    } else {
      return close();
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    respond(st->answer(line));
  }

  void respond(const json& j) {
    out = to_line(j);
    asio::async_write(
        socket, asio::buffer(out),
        [self = shared_from_this()](boost::system::error_code, std::size_t) { self->close(); });
  }

  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ec;
    socket.shutdown(local::socket::shutdown_both, ec);
    socket.close(ec);
    deadline.cancel();
    st->sessions.erase(this);
  }
};

}  // namespace detail

void control_server::state::accept() {
  acceptor.async_accept([self = shared_from_this()](boost::system::error_code ec, local::socket s) {
    if (self->stopped || ec == asio::error::operation_aborted) return;
    if (ec) {
      self->retry.expires_after(std::chrono::milliseconds(100));
      self->retry.async_wait([self](boost::system::error_code e) {
        if (!e && !self->stopped) self->accept();
      });
      return;
    }
    if (self->sessions.size() >= self->opts.max_clients) {
      self->refuse_busy(s);
    } else {
      std::make_shared<control_session>(self, std::move(s))->begin();
    }
    self->accept();
  });
}

void control_server::state::refuse_busy(local::socket& s) {
  boost::system::error_code ec;
  s.non_blocking(true, ec);
  const std::string line = to_line(error_response("too many control clients, try again"));
  s.write_some(asio::buffer(line), ec);  // a short line into an empty socket buffer: best effort
  s.close(ec);
}

json control_server::state::answer(std::string_view line) {
  // The one place where nlohmann exceptions (and the handler's) are caught.
  try {
    json req = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (req.is_discarded()) return error_response("malformed JSON request");
    if (!req.is_object()) return error_response("the request must be a JSON object");
    json resp = h(req);
    if (!resp.is_object()) return error_response("internal error: the response is not an object");
    if (!resp.contains("ok")) resp["ok"] = true;
    return resp;
  } catch (const std::exception& e) {
    return error_response(std::string("internal error: ") + e.what());
  } catch (...) {
    return error_response("internal error");
  }
}

void control_server::state::stop() {
  if (stopped) return;
  stopped = true;
  boost::system::error_code ec;
  acceptor.close(ec);
  retry.cancel();
  auto copy = sessions;
  for (auto* s : copy)
    s->close();
}

result<std::unique_ptr<control_server>> control_server::start(asio::io_context& ctx,
                                                              const fs::path& path, handler h) {
  return start(ctx, path, std::move(h), control_server_options{});
}

result<std::unique_ptr<control_server>> control_server::start(
    asio::io_context& ctx, const fs::path& path, handler h, const control_server_options& options) {
  if (!path_fits(path)) return control_errc::path_too_long;
  if (auto r = check_directory(path); !r) return r.error();
  auto lock = take_lock(path);
  if (!lock) return lock.error();
  auto fail = [&](std::error_code ec) -> result<std::unique_ptr<control_server>> {
    ::close(*lock);
    return ec;
  };
  if (auto r = clear_stale(path); !r) return fail(r.error());

  auto st = std::make_shared<state>(ctx, std::move(h), options);
  boost::system::error_code ec;
  st->acceptor.open(local(), ec);
  if (ec) return fail(to_std(ec));
  // Owner-only from the moment the file exists (umask), and chmod in case umask was ignored.
  const mode_t old_mask = ::umask(0177);
  st->acceptor.bind(local::endpoint(path.native()), ec);
  ::umask(old_mask);
  if (ec == asio::error::address_in_use) return fail(control_errc::already_running);
  if (ec) return fail(to_std(ec));
  if (::chmod(path.c_str(), 0600) != 0) {
    auto e = last_errno();
    ::unlink(path.c_str());
    return fail(e);
  }
  st->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    ::unlink(path.c_str());
    return fail(to_std(ec));
  }
  st->accept();
  return std::unique_ptr<control_server>(new control_server(path, std::move(st), *lock));
}

control_server::control_server(fs::path path, std::shared_ptr<state> s, int lock_fd)
    : m_path(std::move(path)), m_state(std::move(s)), m_lock_fd(lock_fd) {}

control_server::~control_server() {
  stop();
}

void control_server::stop() {
  if (m_lock_fd < 0) return;
  m_state->stop();
  ::unlink(m_path.c_str());  // before the lock goes: a new node may bind right after
  ::close(m_lock_fd);
  m_lock_fd = -1;
}

std::size_t control_server::active_clients() const noexcept {
  return m_state->sessions.size();
}

// ---------------------------------------------------------------- client

namespace {
// nlohmann::json converts from almost anything (enums included), so say which side is meant.
result<json> json_error(std::error_code ec) {
  return result<json>(boost::system::in_place_error, ec);
}
}  // namespace

result<json> control_request(const fs::path& path, const json& request,
                             std::chrono::milliseconds timeout) {
  if (!path_fits(path)) return json_error(control_errc::path_too_long);
  asio::io_context ctx;
  local::socket sock(ctx);
  const std::string out = to_line(request);
  std::string in;
  bool finished = false;
  boost::system::error_code connect_ec, read_ec;
  std::size_t line_len = 0;

  sock.async_connect(local::endpoint(path.native()), [&](boost::system::error_code ec) {
    if (ec) {
      connect_ec = ec;
      finished = true;
      return;
    }
    asio::async_write(sock, asio::buffer(out), [&](boost::system::error_code, std::size_t) {
      // Read even when the write failed: a busy server answers and closes without reading.
      asio::async_read_until(sock, asio::dynamic_buffer(in, max_response_bytes), '\n',
                             [&](boost::system::error_code ec2, std::size_t n) {
                               read_ec = ec2;
                               line_len = n;
                               finished = true;
                             });
    });
  });
  ctx.run_for(timeout);
  if (!finished) {
    boost::system::error_code ignored;
    sock.close(ignored);
    ctx.restart();
    ctx.run();  // completes the cancelled operations before their captures go away
    return json_error(control_errc::timeout);
  }
  if (connect_ec) {
    if (connect_ec == asio::error::connection_refused ||
        connect_ec == boost::system::errc::no_such_file_or_directory ||
        connect_ec == boost::system::errc::not_a_directory)
      return json_error(control_errc::no_node_running);
    return json_error(to_std(connect_ec));
  }
  std::string_view line;
  if (!read_ec) {
    line = std::string_view(in).substr(0, line_len - 1);
  } else if (read_ec == asio::error::eof && !in.empty()) {
    line = in;
  } else {
    return json_error(control_errc::bad_response);
  }
  json resp = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (resp.is_discarded() || !resp.is_object()) return json_error(control_errc::bad_response);
  return resp;
}

}  // namespace starling::node
