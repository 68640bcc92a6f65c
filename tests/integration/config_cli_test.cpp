// `starling node --config <file>` with a bad file: one line on stderr naming the file, the
// line and the key, a non-zero exit, and a node that never started (nothing on stdout, no
// identity or control socket created). Children are bounded by a poll deadline and killed if
// they outlive it; a good file is checked to start and stop cleanly.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string binary = STARLING_BINARY_DIR "/bin/starling";

/// `starling` run with `args`, stdout and stderr on pipes; killed and reaped on destruction.
class starling_process {
 public:
  explicit starling_process(std::vector<std::string> args) {
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
    m_fds[0] = out[0];
    m_fds[1] = err[0];
  }
  ~starling_process() {
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
    for (int fd : m_fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  starling_process(const starling_process&) = delete;
  starling_process& operator=(const starling_process&) = delete;

  /// Reads until stdout holds `n` lines, both pipes are closed, or the deadline passes.
  void read_lines(std::size_t n, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::count(m_text[0].begin(), m_text[0].end(), '\n') < static_cast<long>(n) &&
           pump(end)) {
    }
  }
  /// Reads both pipes to the end and reaps the child: its exit code, or -1 if it had to be
  /// killed at the deadline or died of a signal.
  int wait(std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (pump(end)) {
    }
    if (m_fds[0] >= 0 || m_fds[1] >= 0) ::kill(m_pid, SIGKILL);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_reaped = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void signal(int sig) { ::kill(m_pid, sig); }
  const std::string& out() const { return m_text[0]; }
  const std::string& err() const { return m_text[1]; }

 private:
  /// One poll round over the open pipes; false when both are closed or the deadline passed.
  bool pump(std::chrono::steady_clock::time_point end) {
    if (m_fds[0] < 0 && m_fds[1] < 0) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left <= 0ms) return false;
    pollfd p[2] = {{m_fds[0], POLLIN, 0}, {m_fds[1], POLLIN, 0}};
    if (::poll(p, 2, static_cast<int>(left.count())) <= 0) return false;
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t got = ::read(m_fds[i], buf, sizeof buf);
      if (got > 0) {
        m_text[i].append(buf, static_cast<std::size_t>(got));
      } else {
        ::close(m_fds[i]);
        m_fds[i] = -1;
      }
    }
    return true;
  }

  pid_t m_pid = -1;
  bool m_reaped = false;
  int m_fds[2] = {-1, -1};
  std::string m_text[2];
};

class ConfigCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    m_dir = fs::temp_directory_path() /
            ("starling-config-cli-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(m_dir);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }
  std::string write_config(const std::string& text) {
    const auto path = m_dir / "node.toml";
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }
  /// Runs `starling node` on the config; every test node is on loopback without mDNS, and the
  /// data directory is given in the file so that a node which starts would show in it.
  void expect_refused(const std::string& body, const std::string& message) {
    const std::string data = (m_dir / "data").string();
    const std::string path = write_config("data_dir = \"" + data + "\"\n" + body);
    starling_process p({"node", "--config", path, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"});
    EXPECT_EQ(p.wait(), 1) << p.err();
    EXPECT_EQ(p.err(), "starling: " + path + ":" + message + "\n");
    EXPECT_EQ(p.out(), "");
    EXPECT_FALSE(fs::exists(data)) << "the node started far enough to create its data directory";
  }

  fs::path m_dir;
};

TEST_F(ConfigCli, listen_given_a_number) {
  expect_refused("listen = 5\n", "2: listen: expected an array of strings, got an integer");
}

TEST_F(ConfigCli, target_connections_given_a_string) {
  expect_refused("[mesh]\ntarget_connections = \"x\"\n",
                 "3: mesh.target_connections: expected an integer, got a string");
}

TEST_F(ConfigCli, misspelt_key) {
  expect_refused("lisen = [\"/ip4/127.0.0.1/tcp/0\"]\n",
                 "2: unknown key 'lisen' (did you mean 'listen'?)");
}

TEST_F(ConfigCli, bad_storage_expression) {
  expect_refused("[[storage]]\nexpr = \"home//temp\"\n",
                 "3: storage[0].expr: home//temp: empty chunk at byte 5");
}

TEST_F(ConfigCli, missing_file) {
  const std::string path = (m_dir / "absent.toml").string();
  starling_process p({"node", "--config", path, "--data-dir", (m_dir / "data").string(), "--listen",
                      "/ip4/127.0.0.1/tcp/0", "--no-mdns"});
  EXPECT_EQ(p.wait(), 1) << p.err();
  EXPECT_EQ(p.err(), "starling: cannot read config " + path + ": No such file or directory\n");
  EXPECT_EQ(p.out(), "");
  EXPECT_FALSE(fs::exists(m_dir / "data"));
}

TEST_F(ConfigCli, good_file_starts_and_flags_win) {
  // The file says 127.0.0.2 (loopback too, never a wildcard in a test); the flag must win.
  const std::string data = (m_dir / "data").string();
  const std::string path =
      write_config("data_dir = \"" + data +
                   "\"\nlisten = [\"/ip4/127.0.0.2/tcp/0\"]\n"
                   "[mdns]\nenabled = false\n[mesh]\ndead_peer_timeout_ms = 0\n");
  starling_process p({"node", "--config", path, "--listen", "/ip4/127.0.0.1/tcp/0"});
  p.read_lines(2);
  const auto nl = p.out().find('\n');
  ASSERT_NE(nl, std::string::npos) << p.err();
  const std::string addr = p.out().substr(nl + 1, p.out().find('\n', nl + 1) - nl - 1);
  EXPECT_EQ(addr.rfind("/ip4/127.0.0.1/tcp/", 0), 0u) << p.out();
  EXPECT_TRUE(fs::exists(fs::path(data) / "identity.key"));
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(), 0) << p.err();
  EXPECT_EQ(std::count(p.out().begin(), p.out().end(), '\n'), 2) << p.out();
}

}  // namespace
