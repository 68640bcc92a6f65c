// Baseline for the ping benchmark: round trips of a 32-byte message over raw TCP on loopback.
// usage: tcp_pingpong [ROUNDS] [INTERVAL_MS] [threads|threads-epoll|processes]
//   -> prints median and p99 round-trip in microseconds.
// INTERVAL_MS (default 0) pauses between round trips like `starling ping -i`: both sides then
// go idle between pings, which is what a ping with an interval measures.
// threads (default): both ends in this process, one thread each, blocking reads and writes:
//   the cheapest ping-pong there is, and the baseline the goal is judged against.
// threads-epoll: both ends in this process, one thread each, and each waits in epoll_wait on a
//   non-blocking socket, as an event loop does: the counterpart of bench/ping_latency.
// processes: the server end in a child process, and both ends wait in epoll_wait on a
//   non-blocking socket, as two `starling node` processes do: what an event loop alone costs.
#include <boost/asio.hpp>

#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t msg = 32;

/// Reads exactly `msg` bytes from the non-blocking `fd`, sleeping in epoll_wait when it is
/// empty. Returns false on EOF or error.
bool epoll_read(int ep, int fd, char* buf) {
  std::size_t got = 0;
  while (got < msg) {
    const ssize_t n = ::recv(fd, buf + got, msg - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return false;
    epoll_event ev{};
    while (::epoll_wait(ep, &ev, 1, -1) < 1) {
    }
  }
  return true;
}

int epoll_for(int fd) {
  const int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.fd = fd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return ep;
}
}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int interval_ms = argc > 2 ? std::atoi(argv[2]) : 0;
  const char* mode = argc > 3 ? argv[3] : "threads";
  const bool processes = std::strcmp(mode, "processes") == 0;
  const bool use_epoll = processes || std::strcmp(mode, "threads-epoll") == 0;
  if (!use_epoll && std::strcmp(mode, "threads") != 0) {
    std::fprintf(stderr,
                 "usage: tcp_pingpong [ROUNDS] [INTERVAL_MS] [threads|threads-epoll|processes]\n");
    return 2;
  }
  asio::io_context server_ctx;
  tcp::acceptor acceptor(server_ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto ep = acceptor.local_endpoint();
  auto serve = [&] {
    tcp::socket s = acceptor.accept();
    s.set_option(tcp::no_delay(true));
    std::array<char, msg> buf{};
    boost::system::error_code ec;
    if (use_epoll) {
      s.non_blocking(true);
      const int efd = epoll_for(s.native_handle());
      while (epoll_read(efd, s.native_handle(), buf.data()))
        if (::send(s.native_handle(), buf.data(), msg, MSG_NOSIGNAL) != static_cast<ssize_t>(msg))
          break;
      return;
    }
    while (true) {
      asio::read(s, asio::buffer(buf), ec);
      if (ec) break;
      asio::write(s, asio::buffer(buf), ec);
      if (ec) break;
    }
  };
  std::thread server;
  pid_t child = -1;
  if (processes) {
    child = ::fork();
    if (child == 0) {
      serve();
      std::_Exit(0);
    }
    acceptor.close();
  } else {
    server = std::thread(serve);
  }
  asio::io_context ctx;
  tcp::socket c(ctx);
  c.connect(ep);
  c.set_option(tcp::no_delay(true));
  int efd = -1;
  if (use_epoll) {
    c.non_blocking(true);
    efd = epoll_for(c.native_handle());
  }
  std::array<char, msg> buf{};
  std::vector<double> rtt;
  rtt.reserve(static_cast<std::size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    if (interval_ms > 0 && i > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    auto t0 = std::chrono::steady_clock::now();
    if (use_epoll) {
      if (::send(c.native_handle(), buf.data(), msg, MSG_NOSIGNAL) != static_cast<ssize_t>(msg) ||
          !epoll_read(efd, c.native_handle(), buf.data())) {
        std::fprintf(stderr, "tcp_pingpong: the server went away\n");
        std::_Exit(1);  // a server thread may still be joinable
      }
    } else {
      asio::write(c, asio::buffer(buf));
      asio::read(c, asio::buffer(buf));
    }
    rtt.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  c.close();
  if (processes) {
    ::waitpid(child, nullptr, 0);
  } else {
    server.join();
  }
  std::sort(rtt.begin(), rtt.end());
  std::printf(
      "{\"rounds\":%d,\"interval_ms\":%d,\"mode\":\"%s\",\"median_us\":%.1f,\"p99_us\":%.1f}\n",
      rounds, interval_ms, mode, rtt[rtt.size() / 2], rtt[rtt.size() * 99 / 100]);
  return 0;
}
