// `starling node --config <file>` with a bad file: one line on stderr naming the file, the
// line and the key, a non-zero exit, and a node that never started (nothing on stdout, no
// identity or control socket created). Children are bounded by a poll deadline and killed if
// they outlive it; a good file is checked to start and stop cleanly.
#include <signal.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "child_process.hpp"

namespace fs = std::filesystem;
using starling::test::child;

namespace {

class ConfigCli : public starling::test::cli_fixture {
 protected:
  ConfigCli() : cli_fixture("starling-config-cli-") {}
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
    child p({"node", "--config", path, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"});
    EXPECT_EQ(p.wait(), 1) << p.err();
    EXPECT_EQ(p.err(), "starling: " + path + ":" + message + "\n");
    EXPECT_EQ(p.out(), "");
    EXPECT_FALSE(fs::exists(data)) << "the node started far enough to create its data directory";
  }
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
  child p({"node", "--config", path, "--data-dir", (m_dir / "data").string(), "--listen",
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
  child p({"node", "--config", path, "--listen", "/ip4/127.0.0.1/tcp/0"});
  p.lines(2);
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
