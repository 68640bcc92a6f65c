// node::parse_config and node::load_config: what a config file may say, and the one line a
// user gets when it says something else.
#include "node/config.hpp"

#include "core/multiformats/multiaddr.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace {

using namespace std::chrono_literals;
using starling::node::config_file;
using starling::node::load_config;
using starling::node::parse_config;

/// The error message for `text` (named node.toml), or a note that it parsed.
std::string error_of(std::string_view text) {
  auto r = parse_config(text, "node.toml");
  return r ? std::string("(parsed)") : r.error().message;
}

/// The ```toml block of the README's configuration section.
std::string readme_example() {
  std::ifstream f(std::filesystem::path(STARLING_TEST_DATA) / ".." / "README.md");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string readme = ss.str();
  const auto start = readme.find("```toml\n");
  if (start == std::string::npos) return {};
  const auto body = start + 8;
  return readme.substr(body, readme.find("```", body) - body);
}

// --- the three cases of the issue ---

TEST(Config, listen_given_a_number) {
  EXPECT_EQ(error_of("listen = 5\n"),
            "node.toml:1: listen: expected an array of strings, got an integer");
}

TEST(Config, target_connections_given_a_string) {
  EXPECT_EQ(error_of("data_dir = \"/tmp/x\"\n[mesh]\ntarget_connections = \"x\"\n"),
            "node.toml:3: mesh.target_connections: expected an integer, got a string");
}

TEST(Config, misspelt_key_is_refused_with_a_suggestion) {
  EXPECT_EQ(error_of("lisen = [\"/ip4/127.0.0.1/tcp/0\"]\n"),
            "node.toml:1: unknown key 'lisen' (did you mean 'listen'?)");
}

// --- good files ---

TEST(Config, empty_file_sets_nothing) {
  auto r = parse_config("# nothing here\n", "node.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->data_dir);
  EXPECT_FALSE(r->listen);
  EXPECT_FALSE(r->bootstrap);
  EXPECT_FALSE(r->early_muxer);
  EXPECT_FALSE(r->mdns.enabled);
  EXPECT_FALSE(r->mdns.interfaces);
  EXPECT_FALSE(r->mdns.deny);
  EXPECT_FALSE(r->mesh.target_connections);
  EXPECT_FALSE(r->mesh.dead_peer_timeout);
  EXPECT_FALSE(r->limits.max_connections);
  EXPECT_FALSE(r->limits.max_inbound_streams);
}

TEST(Config, readme_example_parses) {
  const std::string example = readme_example();
  ASSERT_FALSE(example.empty()) << "no ```toml block in README.md";
  auto r = parse_config(example, "README.md");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->data_dir);
  EXPECT_TRUE(r->listen);
  EXPECT_TRUE(r->mdns.enabled);
  EXPECT_TRUE(r->mesh.target_connections);
  EXPECT_TRUE(r->limits.max_connections);
}

TEST(Config, every_key_is_read) {
  auto r = parse_config(R"(
data_dir = "/var/lib/starling"
listen = ["/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001"]
bootstrap = []
early_muxer = false

[mdns]
enabled = false
interfaces = ["eth0"]
deny = ["tun*", "docker*"]

[mesh]
target_connections = 0
dead_peer_timeout_ms = 0

[limits]
max_connections = 100
max_pending_handshakes = 10
max_pending_per_ip = 2
max_per_peer = 1
max_inbound_streams = 64
)",
                        "node.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->data_dir, "/var/lib/starling");
  EXPECT_EQ(r->listen, (std::vector<std::string>{"/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001"}));
  ASSERT_TRUE(r->bootstrap);
  EXPECT_TRUE(r->bootstrap->empty());
  EXPECT_EQ(r->early_muxer, false);
  EXPECT_EQ(r->mdns.enabled, false);
  EXPECT_EQ(r->mdns.interfaces, std::vector<std::string>{"eth0"});
  EXPECT_EQ(r->mdns.deny, (std::vector<std::string>{"tun*", "docker*"}));
  EXPECT_EQ(r->mesh.target_connections, 0u);
  EXPECT_EQ(r->mesh.dead_peer_timeout, 0ms);
  EXPECT_EQ(r->limits.max_connections, 100u);
  EXPECT_EQ(r->limits.max_pending_handshakes, 10u);
  EXPECT_EQ(r->limits.max_pending_per_ip, 2u);
  EXPECT_EQ(r->limits.max_per_peer, 1u);
  EXPECT_EQ(r->limits.max_inbound_streams, 64u);
}

TEST(Config, dotted_keys_and_inline_tables_are_the_same_tables) {
  auto r = parse_config("mdns.enabled = false\nmesh = { target_connections = 4 }\n", "node.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mdns.enabled, false);
  EXPECT_EQ(r->mesh.target_connections, 4u);
}

TEST(Config, largest_values_in_range_are_taken) {
  auto r = parse_config(
      "[mesh]\ntarget_connections = 100000\ndead_peer_timeout_ms = 3600000\n"
      "[limits]\nmax_connections = 9223372036854775807\n",
      "node.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->mesh.target_connections, 100000u);
  EXPECT_EQ(r->mesh.dead_peer_timeout, 3600000ms);
  EXPECT_EQ(r->limits.max_connections, 9223372036854775807u);
}

// --- types ---

TEST(Config, array_elements_are_named) {
  EXPECT_EQ(error_of("listen = [\"/ip4/127.0.0.1/tcp/1\", 5]\n"),
            "node.toml:1: listen[1]: expected a multiaddr, got an integer");
  // A multi-line array: the element's own line.
  EXPECT_EQ(error_of("[mdns]\ndeny = [\n  \"tun*\",\n  true,\n]\n"),
            "node.toml:4: mdns.deny[1]: expected a name, got a boolean");
  EXPECT_EQ(error_of("[mdns]\ninterfaces = [\"\"]\n"),
            "node.toml:2: mdns.interfaces[0]: expected a name, got an empty string");
  EXPECT_EQ(error_of("[[bootstrap]]\nx = 1\n"),
            "node.toml:1: bootstrap[0]: expected a multiaddr, got a table");
}

TEST(Config, addresses_must_parse) {
  EXPECT_EQ(error_of("bootstrap = [\"/ip4/1.2.3/tcp/4001\"]\n"),
            "node.toml:1: bootstrap[0]: " +
                starling::multiformats::describe_parse_error("/ip4/1.2.3/tcp/4001"));
  EXPECT_NE(error_of("listen = [\"/ip4/127.0.0.1/tcp/99999\"]\n")
                .find("node.toml:1: listen[0]: invalid multiaddr"),
            std::string::npos);
}

TEST(Config, a_string_where_an_array_belongs) {
  EXPECT_EQ(error_of("\nbootstrap = \"/ip4/127.0.0.1/tcp/4001\"\n"),
            "node.toml:2: bootstrap: expected an array of strings, got a string");
}

TEST(Config, scalars_of_the_wrong_type) {
  EXPECT_EQ(error_of("early_muxer = \"yes\"\n"),
            "node.toml:1: early_muxer: expected true or false, got a string");
  EXPECT_EQ(error_of("[mdns]\nenabled = 1\n"),
            "node.toml:2: mdns.enabled: expected true or false, got an integer");
  EXPECT_EQ(error_of("data_dir = 7\n"),
            "node.toml:1: data_dir: expected a directory path, got an integer");
  EXPECT_EQ(error_of("data_dir = \"\"\n"),
            "node.toml:1: data_dir: expected a directory path, got an empty string");
  EXPECT_EQ(
      error_of("[mesh]\ntarget_connections = 3.5\n"),
      "node.toml:2: mesh.target_connections: expected an integer, got a floating-point number");
  EXPECT_EQ(error_of("[limits]\nmax_per_peer = 1979-05-27\n"),
            "node.toml:2: limits.max_per_peer: expected an integer, got a date");
}

TEST(Config, a_value_where_a_table_belongs) {
  EXPECT_EQ(error_of("mdns = true\n"), "node.toml:1: mdns: expected a table, got a boolean");
  EXPECT_EQ(error_of("limits = [1]\n"), "node.toml:1: limits: expected a table, got an array");
}

// --- ranges ---

TEST(Config, negative_and_zero_where_they_make_no_sense) {
  EXPECT_EQ(
      error_of("[mesh]\ndead_peer_timeout_ms = -1\n"),
      "node.toml:2: mesh.dead_peer_timeout_ms: expected an integer from 0 to 3600000, got -1");
  EXPECT_EQ(error_of("[mesh]\ntarget_connections = -3\n"),
            "node.toml:2: mesh.target_connections: expected an integer from 0 to 100000, got -3");
  for (const char* key : {"max_connections", "max_pending_handshakes", "max_pending_per_ip",
                          "max_per_peer", "max_inbound_streams"}) {
    EXPECT_EQ(
        error_of(std::string("[limits]\n") + key + " = 0\n"),
        std::string("node.toml:2: limits.") + key + ": expected an integer of at least 1, got 0");
  }
  EXPECT_EQ(error_of("[limits]\nmax_connections = -9223372036854775808\n"),
            "node.toml:2: limits.max_connections: expected an integer of at least 1, got "
            "-9223372036854775808");
}

TEST(Config, too_large) {
  EXPECT_EQ(
      error_of("[mesh]\ntarget_connections = 100001\n"),
      "node.toml:2: mesh.target_connections: expected an integer from 0 to 100000, got 100001");
  EXPECT_EQ(
      error_of("[mesh]\ndead_peer_timeout_ms = 3600001\n"),
      "node.toml:2: mesh.dead_peer_timeout_ms: expected an integer from 0 to 3600000, got 3600001");
  // Beyond 64 bits TOML itself refuses the number; the line is still there.
  const std::string e = error_of("[limits]\n\nmax_connections = 99999999999999999999\n");
  EXPECT_EQ(e.rfind("node.toml:3: not valid TOML: ", 0), 0u) << e;
  EXPECT_NE(e.find("99999999999999999999"), std::string::npos) << e;
}

// --- unknown keys and tables, at any depth ---

TEST(Config, unknown_keys_in_tables) {
  EXPECT_EQ(error_of("[mdns]\nenable = true\n"),
            "node.toml:2: unknown key 'mdns.enable' (did you mean 'mdns.enabled'?)");
  EXPECT_EQ(
      error_of("[limits]\nmax_conections = 5\n"),
      "node.toml:2: unknown key 'limits.max_conections' (did you mean 'limits.max_connections'?)");
  EXPECT_EQ(error_of("mesh = { traget_connections = 5 }\n"),
            "node.toml:1: unknown key 'mesh.traget_connections' (did you mean "
            "'mesh.target_connections'?)");
}

TEST(Config, unknown_tables_at_any_depth) {
  EXPECT_EQ(error_of("[mdnss]\nenabled = true\n"),
            "node.toml:1: unknown table 'mdnss' (did you mean 'mdns'?)");
  EXPECT_EQ(error_of("[mesh]\n[mesh.extra]\nx = 1\n"), "node.toml:2: unknown table 'mesh.extra'");
  EXPECT_EQ(error_of("[mdns.deny]\n"),
            "node.toml:1: mdns.deny: expected an array of strings, got a table");
}

TEST(Config, a_key_in_the_wrong_table) {
  EXPECT_EQ(
      error_of("target_connections = 8\n"),
      "node.toml:1: unknown key 'target_connections' (did you mean 'mesh.target_connections'?)");
  EXPECT_EQ(error_of("[mesh]\nlisten = []\n"),
            "node.toml:2: unknown key 'mesh.listen' (did you mean 'listen'?)");
}

TEST(Config, no_suggestion_when_nothing_is_close) {
  EXPECT_EQ(error_of("colour = \"red\"\n"), "node.toml:1: unknown key 'colour'");
  EXPECT_EQ(error_of("[x]\n"), "node.toml:1: unknown table 'x'");
}

TEST(Config, the_first_problem_in_the_file_is_reported) {
  // Keys are visited in name order; the report follows the file.
  EXPECT_EQ(error_of("zzz = 1\naaa = 2\n"), "node.toml:1: unknown key 'zzz'");
  EXPECT_EQ(error_of("[mesh]\ntarget_connections = \"x\"\n[limits]\nmax_per_peer = 0\n"),
            "node.toml:2: mesh.target_connections: expected an integer, got a string");
  EXPECT_EQ(error_of("listen = [5, \"x\"]\n"),
            "node.toml:1: listen[0]: expected a multiaddr, got an integer");
}

// --- TOML syntax: duplicates, broken files ---

TEST(Config, duplicates_are_syntax_errors_with_a_line) {
  const std::string key = error_of("listen = []\nlisten = []\n");
  EXPECT_EQ(key.rfind("node.toml:2: not valid TOML: ", 0), 0u) << key;
  EXPECT_NE(key.find("listen"), std::string::npos) << key;
  const std::string table = error_of("[mesh]\n[limits]\n[mesh]\n");
  EXPECT_EQ(table.rfind("node.toml:3: not valid TOML: ", 0), 0u) << table;
  EXPECT_NE(table.find("mesh"), std::string::npos) << table;
}

TEST(Config, broken_toml_names_the_line) {
  const std::string e = error_of("data_dir = \"/tmp\"\n\nlisten = [\"/ip4/127.0.0.1/tcp/0\"\n");
  EXPECT_EQ(e.rfind("node.toml:", 0), 0u) << e;
  EXPECT_NE(e.find(": not valid TOML: "), std::string::npos) << e;
  EXPECT_EQ(error_of("= 5\n").rfind("node.toml:1: not valid TOML: ", 0), 0u);
}

// --- files ---

class ConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    m_dir = std::filesystem::temp_directory_path() /
            ("starling-config-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(m_dir);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(m_dir, ec);
  }
  std::filesystem::path write(const std::string& name, const std::string& text) {
    std::ofstream(m_dir / name, std::ios::binary) << text;
    return m_dir / name;
  }
  std::filesystem::path m_dir;
};

TEST_F(ConfigFile, reads_a_file_and_names_it_in_errors) {
  auto good = load_config(write("good.toml", "[mesh]\ntarget_connections = 3\n"));
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->mesh.target_connections, 3u);

  const auto path = write("bad.toml", "lisen = []\n");
  auto bad = load_config(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            path.string() + ":1: unknown key 'lisen' (did you mean 'listen'?)");
}

TEST_F(ConfigFile, missing_unreadable_and_huge_files) {
  const auto missing = m_dir / "missing.toml";
  auto r = load_config(missing);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "cannot read config " + missing.string() + ": No such file or directory");

  auto dir = load_config(m_dir);
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().message, "cannot read config " + m_dir.string() + ": Is a directory");

  const auto huge = write("huge.toml", "# " + std::string(std::size_t{1} << 20, 'x') + "\n");
  auto h = load_config(huge);
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().message, "cannot read config " + huge.string() + ": larger than 1 MiB");
}

}  // namespace

// --- [[storage]] ---

TEST(Config, storage_tables_are_read_in_order) {
  auto r = parse_config(R"(
[[storage]]
expr = "home/**"

[[storage]]
expr = "office/*/temp"
keep = 1024
backend = "sqlite"
)",
                        "node.toml");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->storage);
  ASSERT_EQ(r->storage->size(), 2u);
  EXPECT_EQ((*r->storage)[0].expr, "home/**");
  EXPECT_FALSE((*r->storage)[0].keep);
  EXPECT_FALSE((*r->storage)[0].backend);
  EXPECT_EQ((*r->storage)[1].expr, "office/*/temp");
  EXPECT_EQ((*r->storage)[1].keep, 1024u);
  EXPECT_EQ((*r->storage)[1].backend, "sqlite");
  EXPECT_FALSE(parse_config("", "node.toml")->storage);
}

TEST(Config, storage_problems_name_the_table_and_key) {
  const std::pair<const char*, const char*> cases[] = {
      {"[[storage]]\nexpr = \"home//temp\"\n",
       "node.toml:2: storage[0].expr: home//temp: empty chunk at byte 5"},
      {"[[storage]]\nexpr = 5\n",
       "node.toml:2: storage[0].expr: expected a key expression, e.g. \"home/**\", got an "
       "integer"},
      {"[[storage]]\nkeep = 2\n",
       "node.toml:1: storage[0]: missing key 'expr' (the key expression to keep, e.g. "
       "\"home/**\")"},
      {"[[storage]]\nexpr = \"a\"\nkeep = 0\n",
       "node.toml:3: storage[0].keep: expected an integer from 1 to 1024, got 0"},
      {"[[storage]]\nexpr = \"a\"\nkeep = 1025\n",
       "node.toml:3: storage[0].keep: expected an integer from 1 to 1024, got 1025"},
      {"[[storage]]\nexpr = \"a\"\nkeep = \"3\"\n",
       "node.toml:3: storage[0].keep: expected an integer, got a string"},
      {"[[storage]]\nexpr = \"a\"\nbackend = \"disk\"\n",
       "node.toml:3: storage[0].backend: expected \"memory\" or \"sqlite\", got \"disk\""},
      {"[[storage]]\nexpr = \"a\"\n[[storage]]\nexp = \"b\"\n",
       "node.toml:4: unknown key 'storage[1].exp' (did you mean 'storage.expr'?)"},
      {"[[storage]]\nexpr = \"a/**\"\n[[storage]]\nexpr = \"a/**/**\"\n",
       "node.toml:4: storage[1].expr: 'a/**' is already kept by storage[0]"},
      {"[storage]\nexpr = \"a\"\n",
       "node.toml:1: storage: expected [[storage]] tables, got a table"},
      {"storage = [\"a\"]\n",
       "node.toml:1: storage: expected [[storage]] tables, got an array of other values"},
      {"[[storag]]\nexpr = \"a\"\n",
       "node.toml:1: unknown table 'storag' (did you mean 'storage'?)"},
  };
  for (const auto& [text, want] : cases) {
    EXPECT_EQ(error_of(text), want) << text;
  }
}
