#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "node/data_dir.hpp"

using namespace starling;
namespace fs = std::filesystem;

namespace {
struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/starling-id-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() { fs::remove_all(path); }
};
}  // namespace

TEST(IdentityStore, CreatesOnceThenLoadsTheSameKeyWithPrivateModes) {
  ASSERT_TRUE(crypto::init());
  temp_dir t;
  const fs::path dir = t.path / "data";
  crypto::seeded_rng rng(7);
  auto a = node::load_or_create_identity(dir, rng);
  ASSERT_TRUE(a) << a.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(node::identity_path(dir).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto b = node::load_or_create_identity(dir, rng);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(a->pub, b->pub);
  EXPECT_EQ(a->seed, b->seed);
}

TEST(IdentityStore, CorruptFileIsAnErrorNotANewIdentity) {
  temp_dir t;
  crypto::seeded_rng rng(1);
  { std::ofstream(node::identity_path(t.path)) << "garbage"; }
  fs::permissions(node::identity_path(t.path), fs::perms::owner_read | fs::perms::owner_write);
  auto r = node::load_or_create_identity(t.path, rng);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, node::identity_errc::corrupt);
  EXPECT_NE(r.error().message.find("identity.key"), std::string::npos);
  std::ifstream in(node::identity_path(t.path));
  std::string content;
  in >> content;
  EXPECT_EQ(content, "garbage") << "the corrupt file must be left alone";
}

TEST(IdentityStore, WorldReadableKeyIsRefused) {
  temp_dir t;
  crypto::seeded_rng rng(2);
  ASSERT_TRUE(node::load_or_create_identity(t.path, rng));
  ::chmod(node::identity_path(t.path).c_str(), 0644);
  auto r = node::load_or_create_identity(t.path, rng);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, node::identity_errc::not_private);
  EXPECT_NE(r.error().message.find("chmod 600"), std::string::npos);
}
