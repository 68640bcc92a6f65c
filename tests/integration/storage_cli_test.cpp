// Storages through the `starling` binary: `node --storage EXPR` keeps the latest value of each
// key, and a `sub --latest` started after the puts prints those values first (then live
// ones). Children on 127.0.0.1, port 0, temporary data directories; always killed and reaped.
// The child-process helper is a copy of the one in cli_test.cpp (kept apart on purpose).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const std::string binary = STARLING_BINARY_DIR "/bin/starling";

/// A child process with its stdout and stderr on pipes.
class child {
 public:
  explicit child(std::vector<std::string> args) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    m_pid = ::fork();
    if (m_pid == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(binary.c_str()));
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

  void kill(int sig = SIGKILL) {
    if (m_pid > 0 && !m_reaped) {
      ::kill(m_pid, sig);
      wait(5s);
    }
  }
  /// Reads until `n` complete stdout lines are there, EOF, or the deadline.
  std::vector<std::string> lines(std::size_t n, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (count_lines(m_stdout) < n && !m_out_eof) {
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
  static std::size_t count_lines(const std::string& s) {
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
  }
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

class storage_cli_test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    m_dir = fs::temp_directory_path() /
            ("starling-storage-cli-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    fs::create_directories(m_dir);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }
  std::string dir(const std::string& name) const { return (m_dir / name).string(); }

  /// Starts a node; returns its peer id and its one listen address.
  std::pair<std::string, std::string> start_node(child& c) {
    auto l = c.lines(2);
    EXPECT_GE(l.size(), 2u) << c.err();
    if (l.size() < 2) return {};
    return {l[0], l[1]};
  }
  std::vector<std::string> node_args(const std::string& name) const {
    return {"node", "--data-dir", dir(name), "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"};
  }

  fs::path m_dir;
};

// A node with --storage 'home/**'; several puts (two keys, one of them three times); then a
// late `sub --latest -c 3` prints the latest value of each key (from the storage, in any
// order) and then a live sample.
TEST_F(storage_cli_test, late_sub_latest_prints_the_kept_values_first) {
  auto args = node_args("n");
  args.insert(args.end(), {"--storage", "home/**"});
  child n(args);
  auto [id, addr] = start_node(n);
  ASSERT_FALSE(addr.empty()) << n.err();
  ASSERT_TRUE(n.wait_stderr("storage 'home/**': keep 1 per key, memory")) << n.err();
  for (const auto& [k, v] :
       std::vector<std::pair<std::string, std::string>>{{"home/kitchen/temp", "20"},
                                                        {"home/hall/temp", "17"},
                                                        {"home/kitchen/temp", "21"},
                                                        {"office/temp", "30"},
                                                        {"home/kitchen/temp", "22"}}) {
    child p({"put", "--data-dir", dir("n"), k, v});
    ASSERT_EQ(p.wait(), 0) << p.err();
  }
  child s({"sub", "--data-dir", dir("n"), "home/**", "--latest", "-c", "3"});
  auto first = s.lines(2);
  ASSERT_EQ(first.size(), 2u) << s.err();
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<std::string>{"home/hall/temp 17", "home/kitchen/temp 22"}));
  // The two values were printed, so the subscription is in place: a live put follows them.
  child p({"put", "--data-dir", dir("n"), "home/hall/temp", "18"});
  ASSERT_EQ(p.wait(), 0) << p.err();
  ASSERT_EQ(s.wait(), 0) << s.err();
  const auto all = s.lines(3);
  ASSERT_EQ(all.size(), 3u) << s.out();
  EXPECT_EQ(all[2], "home/hall/temp 18");

  // Without a storage on the expression, --latest has nothing to print first.
  child quiet({"sub", "--data-dir", dir("n"), "office/**", "--latest", "-c", "1", "--json"});
  child p2({"put", "--data-dir", dir("n"), "office/temp", "31"});
  // The put may race the subscription; put again until the subscriber has its line.
  std::vector<std::string> got = quiet.lines(1, 2s);
  for (int i = 0; i < 10 && got.empty(); ++i) {
    child again({"put", "--data-dir", dir("n"), "office/temp", "31"});
    ASSERT_EQ(again.wait(), 0) << again.err();
    got = quiet.lines(1, 1s);
  }
  ASSERT_EQ(p2.wait(), 0) << p2.err();
  ASSERT_EQ(got.size(), 1u) << quiet.err();
  auto j = nlohmann::json::parse(got[0]);
  EXPECT_EQ(j["value"], "31");
  EXPECT_GT(j["seq"].get<std::uint64_t>(), 0u);  // live, not from a storage
  EXPECT_EQ(quiet.wait(), 0) << quiet.err();

  child bad({"node", "--data-dir", dir("bad"), "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns",
             "--storage", "home//temp"});
  EXPECT_EQ(bad.wait(), 1);
  EXPECT_NE(bad.err().find("home//temp: empty chunk at byte 5"), std::string::npos) << bad.err();
  n.kill(SIGTERM);
  EXPECT_EQ(n.wait(), 0) << n.err();
}

}  // namespace
