#pragma once
/// Support for the interop tests: child processes whose stdout is read by the test's own
/// io_context (no threads, no sleeps), the js-libp2p reference peer (peer.mjs) driven by JSON
/// lines, the `starling` binary as a subprocess, and an in-process node::host with its events.
///
/// Everything runs on the test thread: run_until() turns the io_context until a predicate holds
/// or a deadline passes, so host sockets, timers and the children's pipes progress together.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/conn/connection.hpp"
#include "core/crypto/crypto.hpp"
#include "core/multiformats/multiaddr.hpp"
#include "core/yamux/session.hpp"
#include "io/clock.hpp"
#include "node/host.hpp"
#include "node/services.hpp"

extern char** environ;

namespace starling::interop {

namespace asio = boost::asio;
using json = nlohmann::json;
using namespace std::chrono_literals;
using multiformats::multiaddr;

/// tests/interop in the source tree (peer.mjs, node_modules).
inline std::filesystem::path interop_dir() {
  return std::filesystem::path(STARLING_TEST_DATA) / "interop";
}
/// The `starling` binary built next to the tests.
inline std::filesystem::path starling_binary() {
  return std::filesystem::path(STARLING_BINARY_DIR) / "bin" / "starling";
}

/// `name` found on PATH, or nullopt.
inline std::optional<std::filesystem::path> find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return std::nullopt;
  std::string p(path);
  std::size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::filesystem::path cand = std::filesystem::path(p.substr(start, end - start)) / name;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return std::nullopt;
}

/// Empty when node and the npm install are there; otherwise what the user must do.
inline std::string js_prerequisites() {
  if (!find_on_path("node"))
    return "`node` is not on PATH: install Node.js 20 (Debian package nodejs)";
  if (!std::filesystem::exists(interop_dir() / "node_modules" / "libp2p")) {
    return "js-libp2p is not installed: run `npm ci` in " + interop_dir().string() +
           " (scripts/test.sh does this)";
  }
  return {};
}

/// Fails the test (never skips) when the js peer cannot run.
#define STARLING_REQUIRE_JS()                                         \
  do {                                                                \
    const std::string why_ = ::starling::interop::js_prerequisites(); \
    if (!why_.empty()) FAIL() << why_;                                \
  } while (0)

/// Turns `ctx` until `pred()` holds or `timeout` passes; false on timeout, or when nothing is
/// left that could make `pred()` true (no pending work).
inline bool run_until(asio::io_context& ctx, const std::function<bool()>& pred,
                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    if (ctx.stopped()) ctx.restart();
    if (ctx.run_one_for(deadline - now) == 0 && ctx.stopped()) {
      ctx.restart();
      return pred();
    }
  }
  return true;
}

/// Runs `ctx` for `d`, or until `stop()` holds (then returns false).
inline bool run_for(asio::io_context& ctx, std::chrono::milliseconds d,
                    const std::function<bool()>& stop) {
  const auto deadline = std::chrono::steady_clock::now() + d;
  run_until(
      ctx, [&] { return stop() || std::chrono::steady_clock::now() >= deadline; }, d + 1s);
  return !stop();
}

/// A child process with stdout (and optionally stdin) on pipes; stdout lines are collected by
/// reads running on the test's io_context. The destructor always ends and reaps the child.
class child_process {
 public:
  child_process(asio::io_context& ctx, std::vector<std::string> argv,
                const std::filesystem::path& cwd, bool pipe_stdin)
      : m_out(std::make_shared<pipe_state>(ctx)) {
    int out[2] = {-1, -1};
    int in[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || (pipe_stdin && ::pipe2(in, O_CLOEXEC) != 0)) {
      throw std::runtime_error("pipe2 failed");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    if (pipe_stdin) posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&m_pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    if (pipe_stdin) ::close(in[0]);
    if (rc != 0) {
      ::close(out[0]);
      if (pipe_stdin) ::close(in[1]);
      throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    m_stdin = pipe_stdin ? in[1] : -1;
    m_pidfd = static_cast<int>(::syscall(SYS_pidfd_open, m_pid, 0));
    m_out->sd.assign(out[0]);
    read_more(m_out);
  }
  ~child_process() {
    close_stdin();
    if (!m_reaped && !wait_exit(3000ms)) {
      ::kill(m_pid, SIGKILL);
      wait_exit(10000ms);
    }
    if (m_pidfd >= 0) ::close(m_pidfd);
    boost::system::error_code ignored;
    m_out->sd.close(ignored);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return m_pid; }
  /// Every complete stdout line so far.
  const std::vector<std::string>& lines() const noexcept { return m_out->lines; }
  /// True once stdout reached EOF.
  bool stdout_closed() const noexcept { return m_out->eof; }
  /// Called for every stdout line as it arrives.
  void on_line(std::function<void(const std::string&)> f) { m_out->on_line = std::move(f); }

  /// Writes one line to stdin (blocking; the lines are short).
  void write_line(const std::string& line) {
    if (m_stdin < 0) return;
    std::string s = line + "\n";
    const char* p = s.data();
    std::size_t left = s.size();
    while (left > 0) {
      const ssize_t n = ::write(m_stdin, p, left);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  void close_stdin() {
    if (m_stdin >= 0) ::close(m_stdin);
    m_stdin = -1;
  }
  void kill(int sig) { ::kill(m_pid, sig); }

  /// Waits up to `d` for the child to exit (pidfd poll, no sleeping loop) and reaps it.
  bool wait_exit(std::chrono::milliseconds d) {
    if (m_reaped) return true;
    if (m_pidfd >= 0) {
      pollfd p{m_pidfd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(d.count())) <= 0) return false;
    }
    int status = 0;
    if (::waitpid(m_pid, &status, m_pidfd >= 0 ? 0 : WNOHANG) != m_pid) return false;
    m_reaped = true;
    m_status = status;
    return true;
  }
  /// Exit code (or 128 + signal) once wait_exit() succeeded.
  std::optional<int> exit_code() const {
    if (!m_reaped) return std::nullopt;
    if (WIFEXITED(m_status)) return WEXITSTATUS(m_status);
    if (WIFSIGNALED(m_status)) return 128 + WTERMSIG(m_status);
    return -1;
  }

 private:
  struct pipe_state {
    explicit pipe_state(asio::io_context& ctx) : sd(ctx) {}
    asio::posix::stream_descriptor sd;
    std::array<char, 16384> buf{};
    std::string partial;
    std::vector<std::string> lines;
    bool eof = false;
    std::function<void(const std::string&)> on_line;
  };
  static void read_more(const std::shared_ptr<pipe_state>& st) {
    st->sd.async_read_some(asio::buffer(st->buf),
                           [st](boost::system::error_code ec, std::size_t n) {
                             if (ec) {
                               st->eof = true;
                               return;
                             }
                             st->partial.append(st->buf.data(), n);
                             std::size_t pos;
                             while ((pos = st->partial.find('\n')) != std::string::npos) {
                               std::string line = st->partial.substr(0, pos);
                               st->partial.erase(0, pos + 1);
                               st->lines.push_back(line);
                               if (st->on_line) st->on_line(line);
                             }
                             read_more(st);
                           });
  }

  std::shared_ptr<pipe_state> m_out;
  pid_t m_pid = -1;
  int m_stdin = -1;
  int m_pidfd = -1;
  bool m_reaped = false;
  int m_status = 0;
};

/// Options of one js peer (peer.mjs flags).
struct js_options {
  bool early_muxer = true;
  bool connection_monitor = false;  ///< js's default is on; most tests turn it off for determinism
  std::optional<int>
      monitor_interval_ms;  ///< js's connection-monitor ping interval (js default 10 s)
  std::optional<int> max_streams;
  std::string agent = "js-interop-peer/1.0";
};

/// The js-libp2p reference peer: spawned in tests/interop, events parsed from its stdout.
class js_peer {
 public:
  js_peer(asio::io_context& ctx, const js_options& o) : m_ctx(ctx) {
    std::vector<std::string> argv = {find_on_path("node")->string(),
                                     "--import",
                                     "./polyfill.mjs",
                                     "peer.mjs",
                                     "--timeout",
                                     "170",
                                     "--agent",
                                     o.agent};
    if (!o.early_muxer) argv.push_back("--no-early-muxer");
    if (!o.connection_monitor) argv.push_back("--no-connection-monitor");
    if (o.monitor_interval_ms) {
      argv.push_back("--monitor-interval");
      argv.push_back(std::to_string(*o.monitor_interval_ms));
    }
    if (o.max_streams) {
      argv.push_back("--max-streams");
      argv.push_back(std::to_string(*o.max_streams));
    }
    m_proc = std::make_unique<child_process>(ctx, argv, interop_dir(), true);
    m_proc->on_line([this](const std::string& line) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_discarded()) {
        ADD_FAILURE() << "js peer printed a non-JSON line: " << line;
        return;
      }
      if (j.value("event", "") == "error")
        std::fprintf(stderr, "js peer error: %s\n", line.c_str());
      m_events.push_back(std::move(j));
    });
  }

  /// Waits for the "listening" event; false if it did not come within `d`.
  [[nodiscard]] bool start(std::chrono::milliseconds d = 20s) {
    auto l = wait_event([](const json& e) { return e["event"] == "listening"; }, d);
    if (!l) return false;
    m_peer_id = (*l)["peerId"];
    m_addr = (*l)["addrs"][0];
    m_protocols = (*l)["protocols"].get<std::vector<std::string>>();
    return true;
  }

  const std::string& peer_id() const noexcept { return m_peer_id; }
  /// First listen address, with /p2p/<id>.
  const std::string& addr() const noexcept { return m_addr; }
  multiaddr maddr() const { return *multiaddr::parse(m_addr); }
  const std::vector<std::string>& protocols() const noexcept { return m_protocols; }
  const std::vector<json>& events() const noexcept { return m_events; }
  child_process& proc() noexcept { return *m_proc; }

  /// Sends a command (an id is added) and returns its id.
  int send(json cmd) {
    cmd["id"] = ++m_next_id;
    m_proc->write_line(cmd.dump());
    return m_next_id;
  }
  /// The first event matching `pred` (already seen or arriving within `d`), or nullopt.
  std::optional<json> wait_event(const std::function<bool(const json&)>& pred,
                                 std::chrono::milliseconds d) {
    std::size_t checked = 0;
    const json* found = nullptr;
    run_until(
        m_ctx,
        [&] {
          for (; checked < m_events.size() && !found; ++checked) {
            if (pred(m_events[checked])) found = &m_events[checked];
          }
          return found != nullptr || m_proc->stdout_closed();
        },
        d);
    if (!found) {  // stdout may have closed right after the line we want
      for (; checked < m_events.size() && !found; ++checked) {
        if (pred(m_events[checked])) found = &m_events[checked];
      }
    }
    if (!found) return std::nullopt;
    return *found;
  }
  /// The result of command `id`, or a json with ok=false and an error saying it timed out.
  json result(int id, std::chrono::milliseconds d) {
    auto r = wait_event(
        [id](const json& e) { return e["event"] == "result" && e.value("id", -1) == id; }, d);
    if (!r) return json{{"ok", false}, {"error", "no result from the js peer within the deadline"}};
    return *r;
  }
  /// Sends `cmd` and waits for its result.
  json call(json cmd, std::chrono::milliseconds d = 30s) { return result(send(std::move(cmd)), d); }
  /// Events named `name`.
  std::vector<json> named(const std::string& name) const {
    std::vector<json> out;
    for (auto& e : m_events) {
      if (e.value("event", "") == name) out.push_back(e);
    }
    return out;
  }

 private:
  asio::io_context& m_ctx;
  std::unique_ptr<child_process> m_proc;
  std::vector<json> m_events;
  std::string m_peer_id, m_addr;
  std::vector<std::string> m_protocols;
  int m_next_id = 0;
};

/// `starling node` as a subprocess on 127.0.0.1 with a fresh data directory (`serve_perf`
/// adds --serve-perf).
class starling_node_process {
 public:
  starling_node_process(asio::io_context& ctx, bool early_muxer, bool serve_perf = false)
      : m_ctx(ctx) {
    char tmpl[] = "/tmp/starling-interop-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    m_dir = tmpl;
    std::vector<std::string> argv = {
        starling_binary().string(), "node",     "--data-dir", m_dir.string(), "--listen",
        "/ip4/127.0.0.1/tcp/0",     "--no-mdns"};
    if (!early_muxer) argv.push_back("--no-early-muxer");
    if (serve_perf) argv.push_back("--serve-perf");
    m_proc = std::make_unique<child_process>(ctx, argv, std::filesystem::path(), false);
  }
  ~starling_node_process() {
    m_proc->kill(SIGTERM);
    m_proc.reset();
    std::error_code ignored;
    std::filesystem::remove_all(m_dir, ignored);
  }
  /// Waits for the peer id and the first listen address; false on timeout or exit.
  [[nodiscard]] bool start(std::chrono::milliseconds d = 10s) {
    run_until(
        m_ctx, [&] { return m_proc->lines().size() >= 2 || m_proc->stdout_closed(); }, d);
    if (m_proc->lines().size() < 2) return false;
    m_peer_id = m_proc->lines()[0];
    m_addr = m_proc->lines()[1];
    return true;
  }
  const std::string& peer_id() const noexcept { return m_peer_id; }
  const std::string& addr() const noexcept { return m_addr; }
  child_process& proc() noexcept { return *m_proc; }

 private:
  asio::io_context& m_ctx;
  std::filesystem::path m_dir;
  std::unique_ptr<child_process> m_proc;
  std::string m_peer_id, m_addr;
};

/// Runs a `starling` CLI command to completion; returns its stdout lines and exit code.
struct cli_result {
  std::vector<std::string> lines;
  std::optional<int> exit_code;
};
inline cli_result run_starling_cli(asio::io_context& ctx, std::vector<std::string> args,
                                   std::chrono::milliseconds d = 60s) {
  args.insert(args.begin(), starling_binary().string());
  child_process p(ctx, args, std::filesystem::path(), false);
  run_until(
      ctx, [&] { return p.stdout_closed(); }, d);
  if (!p.stdout_closed()) p.kill(SIGKILL);
  p.wait_exit(5000ms);
  return {p.lines(), p.exit_code()};
}

/// An in-process node::host listening on 127.0.0.1 (ephemeral port), recording its events.
/// It serves ping and perf besides identify.
class test_host {
 public:
  explicit test_host(asio::io_context& ctx, node::host_config cfg = default_config()) {
    EXPECT_TRUE(crypto::init());
    if (const char* lvl = std::getenv("STARLING_LOG"))
      spdlog::set_level(spdlog::level::from_str(lvl));
    crypto::system_rng rng;
    m_host = std::make_unique<node::host>(ctx, crypto::ed25519_generate(rng), cfg);
    node::register_ping_service(*m_host);
    node::register_perf_service(*m_host);
    m_host->on_event([this](const node::host_event& e) { m_events.push_back(e); });
    auto a = m_host->listen(*multiaddr::parse("/ip4/127.0.0.1/tcp/0"));
    EXPECT_TRUE(a.has_value());
    if (a) m_addr = *a;
  }
  ~test_host() {
    m_host->on_event({});  // the host reports disconnections while it is destroyed
    m_host.reset();
  }
  test_host(const test_host&) = delete;
  test_host& operator=(const test_host&) = delete;
  static node::host_config default_config() {
    node::host_config c;
    c.agent_version = "starling-interop/1.0";
    return c;
  }

  node::host& operator*() noexcept { return *m_host; }
  node::host* operator->() noexcept { return m_host.get(); }
  /// Listen address with /p2p/.
  const multiaddr& addr() const noexcept { return m_addr; }
  const std::vector<node::host_event>& events() const noexcept { return m_events; }

  /// The first event of type T for which pred holds, or null.
  template <class T>
  const T* find(const std::function<bool(const T&)>& pred = [](const T&) { return true; }) const {
    for (auto& e : m_events) {
      if (auto* t = std::get_if<T>(&e); t && pred(*t)) return t;
    }
    return nullptr;
  }
  /// The established connection to `peer`, or null.
  std::shared_ptr<node::connection> connection_to(const std::string& peer) const {
    for (auto& c : m_host->connections()) {
      if (c->established() && !c->closed() && c->peer().to_string() == peer) return c;
    }
    return nullptr;
  }
  /// Dials `addr` and runs until the dial completes; null (with a test failure) on error.
  std::shared_ptr<node::connection> dial(asio::io_context& ctx, const multiaddr& addr) {
    auto rp = std::make_shared<std::optional<result<std::shared_ptr<node::connection>>>>();
    auto& r = *rp;
    m_host->dial(addr, [rp](result<std::shared_ptr<node::connection>> c) { *rp = std::move(c); });
    if (!run_until(
            ctx, [&] { return r.has_value(); }, 20s)) {
      ADD_FAILURE() << "dial " << addr.to_string() << " did not complete";
      return nullptr;
    }
    if (!*r) {
      ADD_FAILURE() << "dial " << addr.to_string() << " failed: " << r->error().message();
      return nullptr;
    }
    return **r;
  }

 private:
  std::unique_ptr<node::host> m_host;
  multiaddr m_addr;
  std::vector<node::host_event> m_events;
};

}  // namespace starling::interop
