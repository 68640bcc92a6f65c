#pragma once
// The `starling` binary as scripts use it, for the CLI tests: fork/exec with stdout and stderr
// on pipes, reads bounded by a deadline (poll, never sleep), children always killed and
// reaped; and a fixture with a fresh temporary data directory per test.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace starling::test {

using namespace std::chrono_literals;

/// The number of complete lines ('\n'-terminated) in `s`.
inline std::size_t line_count(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

/// `starling` run with `args` (the binary of this build), its stdout and stderr on pipes;
/// killed and reaped on destruction.
class child {
 public:
  explicit child(std::vector<std::string> args) {
    static const std::string binary = STARLING_BINARY_DIR "/bin/starling";
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    if (::pipe2(err, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      return;
    }
    m_pid = ::fork();
    if (m_pid == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      std::vector<char*> argv{const_cast<char*>(binary.c_str())};
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    m_out = out[0];
    m_err = err[0];
  }
  ~child() {
    kill();
    if (m_out >= 0) ::close(m_out);
    if (m_err >= 0) ::close(m_err);
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  /// Sends `sig` and waits (at most 5 s, then SIGKILL) for the child to end.
  void kill(int sig = SIGKILL) {
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_pid, sig);
      wait(5s);
    }
  }
  /// Sends `sig` and returns at once.
  void signal(int sig) {
    if (m_pid > 0 && !m_reaped) ::kill(m_pid, sig);
  }
  /// Reads until `n` complete stdout lines are there, EOF, or the deadline.
  std::vector<std::string> lines(std::size_t n, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (line_count(m_stdout) < n && !m_out_eof) {
      if (!pump(end)) break;
    }
    return split(m_stdout);
  }
  /// Reads until stderr contains `text`, EOF, or the deadline; true when it does.
  bool wait_stderr(const std::string& text, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (m_stderr.find(text) == std::string::npos && !m_err_eof) {
      if (!pump(end)) break;
    }
    return m_stderr.find(text) != std::string::npos;
  }
  /// Reads both pipes to EOF and reaps the child; returns its exit code (-1 on timeout or
  /// signal; the child is killed then).
  int wait(std::chrono::milliseconds limit = 20s) {
    if (m_pid <= 0) return m_code;  // it never started: no pid to signal or reap
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!(m_out_eof && m_err_eof)) {
      if (!pump(end)) break;
    }
    if (m_reaped) return m_code;
    if (!(m_out_eof && m_err_eof)) ::kill(m_pid, SIGKILL);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_reaped = true;
    m_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return m_code;
  }
  const std::string& out() const { return m_stdout; }
  const std::string& err() const { return m_stderr; }

 private:
  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    for (std::size_t nl; (nl = s.find('\n', pos)) != std::string::npos; pos = nl + 1)
      out.push_back(s.substr(pos, nl - pos));
    return out;
  }
  /// One poll round; false on timeout.
  bool pump(std::chrono::steady_clock::time_point end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left <= 0ms) return false;
    pollfd fds[2] = {{m_out_eof ? -1 : m_out, POLLIN, 0}, {m_err_eof ? -1 : m_err, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count())) <= 0) return false;
    read_into(fds[0], m_out, m_stdout, m_out_eof);
    read_into(fds[1], m_err, m_stderr, m_err_eof);
    return true;
  }
  static void read_into(const pollfd& p, int fd, std::string& to, bool& eof) {
    if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) return;
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0)
      eof = true;
    else
      to.append(buf, static_cast<std::size_t>(n));
  }

  pid_t m_pid = -1;
  int m_out = -1, m_err = -1;
  bool m_out_eof = false, m_err_eof = false, m_reaped = false;
  int m_code = -1;
  std::string m_stdout, m_stderr;
};

/// A test with a fresh temporary directory (removed afterwards), named `prefix`-pid-random,
/// and the way to start `starling node`s in it on 127.0.0.1 without mDNS.
class cli_fixture : public ::testing::Test {
 protected:
  explicit cli_fixture(std::string prefix) : m_prefix(std::move(prefix)) {}
  void SetUp() override {
    std::random_device rd;
    m_dir = std::filesystem::temp_directory_path() /
            (m_prefix + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(m_dir);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
  }
  /// `name` in the temporary directory.
  std::string dir(const std::string& name) const { return (m_dir / name).string(); }

  /// Reads a starting node's first two lines: its peer id and its one listen address.
  std::pair<std::string, std::string> start_node(child& c) {
    auto l = c.lines(2);
    EXPECT_GE(l.size(), 2u) << c.err();
    if (l.size() < 2) return {};
    return {l[0], l[1]};
  }
  /// `starling node` with the data directory dir(`name`), on 127.0.0.1 port 0, no mDNS.
  std::vector<std::string> node_args(const std::string& name) const {
    return {"node", "--data-dir", dir(name), "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"};
  }

  std::string m_prefix;
  std::filesystem::path m_dir;
};

}  // namespace starling::test
