// `starling acl test FILE`: the policy's own tests, run by the binary as a user runs it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "child_process.hpp"

namespace fs = std::filesystem;
using starling::test::child;

namespace {
class AclCli : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("starling-acl-" + std::to_string(::getpid()));
    fs::create_directories(m_dir);
  }
  void TearDown() override { fs::remove_all(m_dir); }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (m_dir / name).string();
    std::ofstream(path) << text;
    return path;
  }
  fs::path m_dir;
};

const std::string rules = R"(version = 2
[[rule]]
effect = "allow"
roles = ["sensor"]
ops = ["put"]
keys = ["home/*/temp"]
)";
}  // namespace

TEST_F(AclCli, TheExamplePolicyPassesItsOwnTests) {
  child c({"acl", "test", std::string(STARLING_TEST_DATA) + "/../docs/policy-example.toml"});
  EXPECT_EQ(c.wait(), 0) << c.err();
  EXPECT_NE(c.out().find("tests passed"), std::string::npos) << c.out();
}

TEST_F(AclCli, AFailingTestIsNamedWithItsLineAndTheDecidingRule) {
  const auto path = write("p.toml", rules + R"(
[[test]]
role = "sensor"
op = "put"
key = "home/kitchen/temp"
expect = "allow"

[[test]]
role = "sensor"
op = "put"
key = "home/kitchen/light"
expect = "allow"
)");
  child c({"acl", "test", path});
  EXPECT_EQ(c.wait(), 1);
  EXPECT_NE(c.err().find("test 2 (line 14): expected allow, got deny"), std::string::npos)
      << c.err();
  EXPECT_NE(c.err().find("1 of 2 tests failed"), std::string::npos) << c.err();
}

TEST_F(AclCli, AnInvalidFileIsRefusedWithItsLine) {
  const auto path = write("bad.toml",
                          "version = 1\n[[rule]]\neffect = \"maybe\"\nroles = [\"a\"]\nops = "
                          "[\"put\"]\nkeys = [\"a\"]\n");
  child c({"acl", "test", path});
  EXPECT_EQ(c.wait(), 1);
  EXPECT_NE(c.err().find("bad.toml:3: rule[0].effect"), std::string::npos) << c.err();
}

TEST_F(AclCli, AMissingFileIsAnError) {
  child c({"acl", "test", (m_dir / "absent.toml").string()});
  EXPECT_EQ(c.wait(), 1);
  EXPECT_NE(c.err().find("cannot read"), std::string::npos) << c.err();
}
