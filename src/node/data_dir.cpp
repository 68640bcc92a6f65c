#include "node/data_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/multiformats/keys.hpp"

namespace starling::node {

namespace fs = std::filesystem;

namespace {
class identity_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "identity"; }
  std::string message(int c) const override {
    switch (static_cast<identity_errc>(c)) {
      case identity_errc::unreadable:
        return "identity key file cannot be read";
      case identity_errc::corrupt:
        return "identity key file is corrupt";
      case identity_errc::not_private:
        return "identity key file is readable by other users";
      case identity_errc::cannot_create:
        return "cannot create the identity key file";
    }
    return "identity error";
  }
};

detailed_error fail(identity_errc e, std::string message) {
  return {make_error_code(e), std::move(message)};
}

}  // namespace

detailed_result<void> write_private_file(const fs::path& dir, const fs::path& file,
                                         bytes_view data) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return fail(identity_errc::cannot_create,
                "cannot create data directory " + dir.string() + ": " + ec.message());
  }
  ::chmod(dir.c_str(), 0700);
  const fs::path tmp = file.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(identity_errc::cannot_create,
                "cannot write " + tmp.string() + ": " + std::strerror(errno));
  }
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    auto e = fail(identity_errc::cannot_create,
                  "cannot write " + file.string() + ": " + std::strerror(errno));
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

const std::error_category& identity_category() noexcept {
  static const identity_category_impl c;
  return c;
}

fs::path default_data_dir() {
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return fs::path(x) / "starling";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".local/share/starling";
  return fs::path(".starling");
}

fs::path identity_path(const fs::path& data_dir) {
  return data_dir / "identity.key";
}

detailed_result<crypto::ed25519_keypair> load_or_create_identity(const fs::path& data_dir,
                                                                 crypto::rng& rng) {
  const fs::path file = identity_path(data_dir);
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return fail(identity_errc::unreadable,
                  "cannot read " + file.string() + ": " + std::strerror(errno));
    }
    auto kp = crypto::ed25519_generate(rng);
    if (auto w = write_private_file(data_dir, file, multiformats::encode_private_key(kp)); !w)
      return w.error();
    return kp;
  }
  return load_private_key(file);
}

detailed_result<crypto::ed25519_keypair> load_private_key(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return fail(identity_errc::unreadable,
                "cannot read " + file.string() + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return fail(identity_errc::not_private, file.string() + " is readable by other users (mode " +
                                                mode + "); run: chmod 600 " + file.string());
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fail(identity_errc::unreadable,
                "cannot read " + file.string() + ": " + std::strerror(errno));
  }
  bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() > 4096) {
    return fail(identity_errc::corrupt,
                file.string() + " is not a Starling identity key (too large)");
  }
  auto kp = multiformats::decode_private_key(data);
  if (!kp) {
    return fail(identity_errc::corrupt,
                file.string() + " is not a valid Ed25519 identity key (" + kp.error().message() +
                    "); move it away to create a new identity, or restore it from a backup");
  }
  return *kp;
}

}  // namespace starling::node
