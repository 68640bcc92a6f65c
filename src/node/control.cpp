#include "node/control.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <algorithm>
#include <array>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

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
      case control_errc::closed:
        return "the connection was closed";
      case control_errc::bad_request:
        return "the client sent an invalid line";
      case control_errc::too_slow:
        return "the client did not read fast enough";
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
  if (ec == control_errc::closed)
    return "the node running with data directory " + d + " closed the connection";
  if (ec == std::errc::permission_denied)
    return "cannot use the control socket " + socket_path.string() +
           ": permission denied (does the node run as another user?)";
  return "control socket " + socket_path.string() + ": " + ec.message();
}

// ---------------------------------------------------------------- line framing

namespace detail {

void line_reader::append(std::string_view bytes) {
  if (m_pos != 0) {
    m_buf.erase(0, m_pos);
    m_scan -= m_pos;
    m_pos = 0;
  }
  m_buf.append(bytes);
}

std::optional<std::string_view> line_reader::next() {
  if (m_too_long) return std::nullopt;
  const auto nl = m_buf.find('\n', m_scan);
  if (nl == std::string::npos) {
    m_scan = m_buf.size();
    m_too_long = m_scan - m_pos > m_max;
    return std::nullopt;
  }
  std::string_view line = std::string_view(m_buf).substr(m_pos, nl - m_pos);
  if (line.size() > m_max) {
    m_too_long = true;
    return std::nullopt;
  }
  m_pos = m_scan = nl + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

std::string line_reader::take_rest() {
  std::string rest = m_buf.substr(m_pos);
  m_buf.clear();
  m_pos = m_scan = 0;
  if (!rest.empty() && rest.back() == '\r') rest.pop_back();
  return rest;
}

}  // namespace detail

// ---------------------------------------------------------------- server

namespace {

/// One line parsed as a JSON object, or the error to send back.
struct parsed_line {
  json value;
  std::string error;  // empty: `value` is an object
};

parsed_line parse_object(std::string_view line, std::string_view what) {
  parsed_line p;
  try {
    p.value = json::parse(line, nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    p.value = json::value_t::discarded;
  }
  if (p.value.is_discarded()) {
    p.error = "malformed JSON " + std::string(what);
  } else if (!p.value.is_object()) {
    p.error = "the " + std::string(what) + " must be a JSON object";
  }
  return p;
}

/// A read or write error that only says the client has gone.
bool client_gone(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return std::string("internal error: ") + x.what();
  } catch (...) {
  }
  return "internal error";
}

}  // namespace

struct control_server::state : std::enable_shared_from_this<control_server::state> {
  state(asio::io_context& ctx, handler hd, const control_server_options& o)
      : acceptor(ctx), retry(ctx), h(std::move(hd)), opts(o) {}

  local::acceptor acceptor;
  asio::steady_timer retry;  // after an accept error (EMFILE...), wait instead of spinning
  handler h;
  std::map<std::string, session_handler, std::less<>> session_handlers;
  control_server_options opts;
  std::unordered_set<detail::control_conn*> clients;   // reading a request or answering it
  std::unordered_set<detail::control_conn*> sessions;  // open or draining their last lines
  std::uint64_t next_id = 1;
  bool stopped = false;

  void accept();
  void refuse_busy(local::socket& s);
  json answer(const json& request);
  void stop();
};

namespace detail {

/// One client connection: reads the request line (bounded, within the deadline), then either
/// answers it and closes (one-shot) or becomes a session. Holds itself alive through its
/// pending operations; a control_session handle holds it too.
struct control_conn : std::enable_shared_from_this<control_conn> {
  enum class phase { request, answering, session, closing, closed };

  control_conn(std::shared_ptr<control_server::state> s, local::socket sock)
      : st(std::move(s)),
        socket(std::move(sock)),
        timer(socket.get_executor()),
        lines(st->opts.max_request_bytes),
        id(st->next_id++) {}
  ~control_conn() {
    st->clients.erase(this);
    st->sessions.erase(this);
  }

  std::shared_ptr<control_server::state> st;
  local::socket socket;
  asio::steady_timer timer;  // the one-shot deadline, later a closing session's linger
  line_reader lines;
  std::array<char, 4096> rbuf{};
  // Lines to write; the first `in_flight` are being written. A deque keeps the strings in
  // place while more are queued behind them.
  std::deque<std::string> out;
  std::size_t in_flight = 0;
  std::size_t queued = 0;  // bytes in `out`
  std::vector<asio::const_buffer> wbufs;
  json request;
  std::string cmd;
  control_session::message_handler on_message;
  control_session::close_handler on_close;
  phase ph = phase::request;
  std::uint64_t id;

  void begin() {
    st->clients.insert(this);
    timer.expires_after(st->opts.client_deadline);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      // The deadline of a one-shot exchange, or the end of a closing session's linger.
      if (!ec && self->ph != phase::session) self->close_now();
    });
    read();
  }

  void read() {
    socket.async_read_some(asio::buffer(rbuf),
                           [self = shared_from_this()](boost::system::error_code ec,
                                                       std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (ph == phase::closed || st->stopped) return close_now();
    if (ph == phase::answering) return;  // the request is in: the rest is not read
    if (ec) return on_read_error(ec);
    if (ph == phase::closing) return read();  // nobody listens any more: drop and look for EOF
    lines.append(std::string_view(rbuf.data(), n));
    while (ph == phase::request || ph == phase::session) {
      auto line = lines.next();
      if (line) {
        on_line(*line);
        continue;
      }
      if (lines.too_long()) on_too_long();
      break;
    }
    if (ph == phase::request || ph == phase::session || ph == phase::closing) read();
  }

  void on_read_error(boost::system::error_code ec) {
    if (ph == phase::closing) return close_now();
    if (ec == asio::error::eof && !lines.too_long() && lines.buffered() != 0) {
      // A last line without '\n' before the client shut down its side.
      const std::string last = lines.take_rest();
      on_line(last);
      if (ph == phase::request || ph == phase::session) read();  // meets the EOF again
      return;
    }
    if (ph != phase::session) return close_now();
    ended(client_gone(ec) ? std::error_code(control_errc::closed) : to_std(ec));
  }

  void on_too_long() {
    const std::string limit = std::to_string(st->opts.max_request_bytes);
    if (ph == phase::request)
      return respond(error_response("request too large (limit " + limit + " bytes)"));
    refuse_message("message too large (limit " + limit + " bytes)");
  }

  void on_line(std::string_view line) {
    if (ph == phase::session) return on_session_line(line);
    auto req = parse_object(line, "request");
    if (!req.error.empty()) return respond(error_response(std::move(req.error)));
    if (auto c = req.value.find("cmd"); c != req.value.end() && c->is_string()) {
      auto h = st->session_handlers.find(c->get_ref<const std::string&>());
      if (h != st->session_handlers.end()) return open_session(std::move(req.value), h->second);
    }
    respond(st->answer(req.value));
  }

  void on_session_line(std::string_view line) {
    if (line.empty()) return;  // blank lines carry nothing
    auto msg = parse_object(line, "message");
    if (!msg.error.empty()) return refuse_message(std::move(msg.error));
    if (!on_message) return;
    auto h = on_message;  // the handler may replace or drop itself (close())
    try {
      h(msg.value);
    } catch (...) {
      const std::string what = what_of(std::current_exception());
      spdlog::error("control session {} ({}): the message handler threw ({})", id, cmd, what);
      if (ph == phase::session) close_with(error_response(what));
    }
  }

  void open_session(json req, control_server::session_handler h) {
    if (st->sessions.size() >= st->opts.max_sessions) {
      return respond(error_response("too many control sessions (limit " +
                                    std::to_string(st->opts.max_sessions) + "), try again"));
    }
    st->clients.erase(this);
    st->sessions.insert(this);
    ph = phase::session;
    timer.cancel();
    cmd = req["cmd"].get<std::string>();
    request = std::move(req);
    spdlog::debug("control session {} ({}) opened", id, cmd);
    auto handle = std::make_shared<control_session>(shared_from_this());
    try {
      h(request, handle);
    } catch (...) {
      const std::string what = what_of(std::current_exception());
      spdlog::error("control session {} ({}): the session handler threw ({})", id, cmd, what);
      if (ph == phase::session) close_with(error_response(what));
    }
    // `handle` goes here: unless the handler kept it, the session closes (as close()).
  }

  /// One-shot answer: written, then the connection closes (still within the deadline).
  void respond(const json& j) {
    ph = phase::answering;
    push(to_line(j));
    write();
  }

  bool send(const json& j) {
    if (ph != phase::session) return false;
    std::string line = to_line(j);
    const std::size_t limit = st->opts.max_session_queue_bytes;
    if (queued != 0 && queued + line.size() > limit) {
      too_slow();
      return false;
    }
    push(std::move(line));
    write();
    return true;
  }

  void too_slow() {
    const std::size_t limit = st->opts.max_session_queue_bytes;
    spdlog::warn(
        "control session {} ({}): the client is not reading ({} bytes queued, limit {}); closing",
        id, cmd, queued, limit);
    while (out.size() > in_flight) {  // what is being written goes, to keep the lines whole
      queued -= out.back().size();
      out.pop_back();
    }
    auto cb = std::move(on_close);
    close_with(error_response("too slow: the client did not read fast enough (" +
                              std::to_string(limit) + " bytes queued)"));
    if (cb) {
      // Never from inside send(): the caller may be walking the very table its handler edits.
      asio::post(socket.get_executor(), [self = shared_from_this(), cb = std::move(cb)] {
        if (!self->st->stopped) cb(control_errc::too_slow);
      });
    }
  }

  /// The client sent something that is not a message: tell it, close, tell the node.
  void refuse_message(std::string error) {
    spdlog::info("control session {} ({}): {}; closing", id, cmd, error);
    auto cb = std::move(on_close);
    close_with(error_response(std::move(error)));
    if (cb) cb(control_errc::bad_request);
  }

  /// The client or the socket ended the session: close at once and tell the node.
  void ended(std::error_code reason) {
    spdlog::debug("control session {} ({}) ended: {}", id, cmd, reason.message());
    auto cb = std::move(on_close);
    close_now();
    if (cb) cb(reason);
  }

  /// Ends a session from the node's side: a last line (if any), then drain and close.
  void close_with(const std::optional<json>& last) {
    if (ph != phase::session) return;
    ph = phase::closing;
    on_message = nullptr;
    on_close = nullptr;
    if (last) push(to_line(*last));
    if (out.empty()) return close_now();
    timer.expires_after(st->opts.session_close_linger);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && self->ph == phase::closing) self->close_now();
    });
    write();
  }

  void push(std::string line) {
    queued += line.size();
    out.push_back(std::move(line));
  }

  void write() {
    if (in_flight != 0 || out.empty() || ph == phase::closed) return;
    wbufs.clear();
    for (const auto& l : out) {
      wbufs.push_back(asio::buffer(l));
      if (wbufs.size() == 64) break;
    }
    in_flight = wbufs.size();
    asio::async_write(socket, wbufs,
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        self->on_written(ec);
                      });
  }

  void on_written(boost::system::error_code ec) {
    if (ph == phase::closed) return;
    for (; in_flight != 0; --in_flight) {
      queued -= out.front().size();
      out.pop_front();
    }
    if (ec) {
      if (ph == phase::session)
        return ended(client_gone(ec) ? std::error_code(control_errc::closed) : to_std(ec));
      return close_now();
    }
    if (!out.empty()) return write();
    if (ph == phase::answering || ph == phase::closing) close_now();
  }

  /// Closes the socket without calling anybody. Pending operations finish as aborted.
  void close_now() {
    if (ph == phase::closed) return;
    ph = phase::closed;
    on_message = nullptr;
    on_close = nullptr;
    boost::system::error_code ec;
    socket.shutdown(local::socket::shutdown_both, ec);
    socket.close(ec);
    timer.cancel();
    st->clients.erase(this);
    st->sessions.erase(this);
  }
};

}  // namespace detail

// ---------------------------------------------------------------- session handle

control_session::control_session(std::shared_ptr<detail::control_conn> c) : m_conn(std::move(c)) {}

control_session::~control_session() {
  close();
}

bool control_session::send(const json& message) {
  return m_conn->send(message);
}

void control_session::on_message(message_handler h) {
  if (m_conn->ph == detail::control_conn::phase::session) m_conn->on_message = std::move(h);
}

void control_session::on_close(close_handler h) {
  if (m_conn->ph == detail::control_conn::phase::session) m_conn->on_close = std::move(h);
}

void control_session::close() {
  m_conn->close_with(std::nullopt);
}

bool control_session::is_open() const noexcept {
  return m_conn->ph == detail::control_conn::phase::session;
}

std::size_t control_session::queued_bytes() const noexcept {
  return m_conn->queued;
}

std::uint64_t control_session::id() const noexcept {
  return m_conn->id;
}

const json& control_session::request() const noexcept {
  return m_conn->request;
}

// ---------------------------------------------------------------- server

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
    if (self->clients.size() >= self->opts.max_clients) {
      self->refuse_busy(s);
    } else {
      std::make_shared<detail::control_conn>(self, std::move(s))->begin();
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

json control_server::state::answer(const json& request) {
  // Where the handler's exceptions (and nlohmann's, from within it) are caught.
  try {
    json resp = h(request);
    if (!resp.is_object()) return error_response("internal error: the response is not an object");
    if (!resp.contains("ok")) resp["ok"] = true;
    return resp;
  } catch (...) {
    return error_response(what_of(std::current_exception()));
  }
}

void control_server::state::stop() {
  if (stopped) return;
  stopped = true;
  boost::system::error_code ec;
  acceptor.close(ec);
  retry.cancel();
  std::vector<detail::control_conn*> all(clients.begin(), clients.end());
  all.insert(all.end(), sessions.begin(), sessions.end());
  for (auto* c : all)
    c->close_now();
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

void control_server::set_session_handler(std::string cmd, session_handler h) {
  if (h) {
    m_state->session_handlers[std::move(cmd)] = std::move(h);
  } else {
    m_state->session_handlers.erase(cmd);
  }
}

std::size_t control_server::active_clients() const noexcept {
  return m_state->clients.size();
}

std::size_t control_server::active_sessions() const noexcept {
  return m_state->sessions.size();
}

std::size_t control_server::queued_bytes() const noexcept {
  std::size_t n = 0;
  for (const auto* c : m_state->sessions)
    n += c->queued;
  return n;
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

// ---------------------------------------------------------------- session client

namespace {

using steady = std::chrono::steady_clock;

/// Waits for `events` on `fd` until `deadline` (nullopt: forever). Errors: timeout,
/// std::errc::interrupted, or poll's error.
result<void> wait_for(int fd, short events, const std::optional<steady::time_point>& deadline) {
  int ms = -1;
  if (deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - steady::now());
    if (left.count() <= 0) return control_errc::timeout;
    ms = static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 1 << 30));
  }
  pollfd p{fd, events, 0};
  const int rc = ::poll(&p, 1, ms);
  if (rc < 0) return last_errno();  // EINTR included: the caller decides
  if (rc == 0) return control_errc::timeout;
  return {};
}

std::optional<steady::time_point> deadline_after(std::chrono::milliseconds timeout) {
  if (timeout < std::chrono::milliseconds::zero()) return std::nullopt;
  return steady::now() + timeout;
}

result<json> parse_response(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return json_error(control_errc::bad_response);
  return j;
}

}  // namespace

control_session_client::control_session_client(int fd) : m_fd(fd), m_lines(max_response_bytes) {}

control_session_client::control_session_client(control_session_client&& o) noexcept
    : m_fd(std::exchange(o.m_fd, -1)), m_lines(std::move(o.m_lines)), m_eof(o.m_eof) {}

control_session_client& control_session_client::operator=(control_session_client&& o) noexcept {
  if (this != &o) {
    close();
    m_fd = std::exchange(o.m_fd, -1);
    m_lines = std::move(o.m_lines);
    m_eof = o.m_eof;
  }
  return *this;
}

control_session_client::~control_session_client() {
  close();
}

void control_session_client::close() noexcept {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = -1;
}

result<control_session_client> control_session_client::open(const fs::path& path,
                                                            const json& request,
                                                            std::chrono::milliseconds timeout) {
  if (!path_fits(path)) return control_errc::path_too_long;
  const auto deadline = deadline_after(timeout);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return last_errno();
  control_session_client c(fd);
  // A Unix socket's connect() waits (up to SO_SNDTIMEO) only while the listener's backlog is
  // full, which is the one way a hung node can make it block.
  if (deadline) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
    timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;  // zero would mean no timeout
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.c_str(), path.native().size());
  int rc = 0;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    if (err == ECONNREFUSED || err == ENOENT || err == ENOTDIR)
      return control_errc::no_node_running;
    if (err == EAGAIN || err == EINPROGRESS) return control_errc::timeout;
    return std::error_code(err, std::system_category());
  }
  if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) return last_errno();
  const auto left =
      deadline ? std::chrono::ceil<std::chrono::milliseconds>(*deadline - steady::now()) : forever;
  auto sent = c.send(
      request, left < std::chrono::milliseconds::zero() ? std::chrono::milliseconds::zero() : left);
  // A busy node answers and closes without reading: its answer is the first read_line().
  if (!sent && sent.error() != control_errc::closed) return sent.error();
  return c;
}

result<void> control_session_client::send(const json& message, std::chrono::milliseconds timeout) {
  if (m_fd < 0) return control_errc::closed;
  const auto deadline = deadline_after(timeout);
  const std::string line = to_line(message);
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::send(m_fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (auto w = wait_for(m_fd, POLLOUT, deadline); !w) return w.error();
      continue;
    }
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return control_errc::closed;
    return last_errno();
  }
  return {};
}

result<json> control_session_client::read_line(std::chrono::milliseconds timeout) {
  if (m_fd < 0) return json_error(control_errc::closed);
  const auto deadline = deadline_after(timeout);
  std::array<char, 16384> buf;
  for (;;) {
    if (auto line = m_lines.next()) {
      if (line->empty()) continue;
      return parse_response(*line);
    }
    if (m_lines.too_long()) return json_error(control_errc::bad_response);
    if (m_eof) {
      const std::string last = m_lines.take_rest();  // a last line without '\n'
      if (last.empty()) return json_error(control_errc::closed);
      return parse_response(last);
    }
    const ssize_t n = ::recv(m_fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      m_lines.append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    } else if (n == 0 || errno == ECONNRESET) {
      m_eof = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto w = wait_for(m_fd, POLLIN, deadline); !w) return json_error(w.error());
    } else if (errno != EINTR) {
      return json_error(last_errno());
    }
  }
}

}  // namespace starling::node
