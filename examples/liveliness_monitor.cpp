// Prints the liveliness tokens on a key expression as they come and go: `+ key` when one
// joins (and for each one present at the start), `- key` when it leaves (its holder undeclared
// it, closed its session, or was cut off). Flushed per line.
//   liveliness_monitor [KEYEXPR] [--listen MULTIADDR] [--connect MULTIADDR]  (default: building/**)
// e.g. `liveliness_monitor --connect /ip4/127.0.0.1/tcp/PORT/p2p/12D3KooW...` with the address
// `blinds` printed, then stop the blinds. Its own listen addresses go to stderr as
// "listening on <multiaddr>". Runs until interrupted (Ctrl-C, SIGTERM).
#include <starling/starling.hpp>

#include <pthread.h>
#include <csignal>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  std::string expr = "building/**";
  starling::session_options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--listen" && has_value) {
      opts.listen = {argv[++i]};
    } else if (arg == "--connect" && has_value) {
      opts.connect.push_back(argv[++i]);
    } else if (arg[0] != '-') {
      expr = arg;
    } else {
      std::fprintf(stderr,
                   "usage: liveliness_monitor [KEYEXPR] [--listen MULTIADDR] "
                   "[--connect MULTIADDR]\n");
      return 2;
    }
  }
  // Ctrl-C is waited for with sigwait() (see blinds.cpp).
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto session = starling::session::open(opts);
  if (!session) {
    std::fprintf(stderr, "liveliness_monitor: %s\n", session.error().message().c_str());
    return 1;
  }
  // The handler runs on the session's network thread: printing a line is quick enough.
  auto watch = session->watch_liveliness(expr, [](const starling::liveliness_event& e) {
    const bool joined = e.what == starling::liveliness_event::kind::joined;
    std::printf("%c %s\n", joined ? '+' : '-', e.token.key.c_str());
    std::fflush(stdout);
  });
  if (!watch) {
    std::fprintf(stderr, "liveliness_monitor: %s\n", watch.error().message().c_str());
    return 1;
  }
  for (const auto& addr : session->listen_addrs()) {
    std::fprintf(stderr, "listening on %s\n", addr.c_str());
  }
  int sig = 0;
  sigwait(&stop, &sig);
  return 0;
}
