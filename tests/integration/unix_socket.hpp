#pragma once
// Raw Unix-socket pieces for the control-socket tests (control_test, control_session_test):
// a private temporary directory for the socket, and a blocking client that sends and reads
// bytes the real clients would not, every read bounded by a deadline.

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

namespace starling::test {

/// A private temporary directory (0700) under /tmp, removed at the end.
struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/starling-control-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    if (d != nullptr) path = d;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::filesystem::path path;
  /// Where a test puts its control socket.
  std::filesystem::path sock() const { return path / "control.sock"; }
};

/// A raw client socket (blocking connect) to `p`; -1 when nobody accepts there.
inline int raw_connect(const std::filesystem::path& p) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, p.c_str(), p.native().size());
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Sends all of `bytes` (blocking); false when the peer is gone.
inline bool raw_send(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

/// Everything the peer sends until it closes, or until `limit` passes.
inline std::string read_all(int fd, std::chrono::milliseconds limit) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace starling::test
