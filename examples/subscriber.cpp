// Prints every sample on a key expression as one line, `key value` ("key <deleted>" for a
// delete), flushed per line.
//   subscriber [KEYEXPR] [--listen MULTIADDR] [--connect MULTIADDR] [-c COUNT]
// Its listen addresses (give one to `sensor --connect`) go to stderr, one per line, as
// "listening on <multiaddr>".
#include <starling/starling.hpp>

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  std::string expr = "home/*/temp";
  long count = -1;  // forever
  starling::session_options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--listen" && has_value) {
      opts.listen = {argv[++i]};
    } else if (arg == "--connect" && has_value) {
      opts.connect.push_back(argv[++i]);
    } else if (arg == "-c" && has_value) {
      count = std::stol(argv[++i]);
    } else if (arg[0] != '-') {
      expr = arg;
    } else {
      std::fprintf(stderr,
                   "usage: subscriber [KEYEXPR] [--listen MULTIADDR] "
                   "[--connect MULTIADDR] [-c COUNT]\n");
      return 2;
    }
  }

  auto session = starling::session::open(opts);
  if (!session) {
    std::fprintf(stderr, "subscriber: %s\n", session.error().message().c_str());
    return 1;
  }
  // Pull mode: samples wait in a queue, and this thread prints them at its own pace.
  auto sub = session->declare_subscriber(expr);
  if (!sub) {
    std::fprintf(stderr, "subscriber: %s\n", sub.error().message().c_str());
    return 1;
  }
  for (const auto& addr : session->listen_addrs()) {
    std::fprintf(stderr, "listening on %s\n", addr.c_str());
  }

  for (long n = 0; count < 0 || n < count;) {
    auto s = sub->recv(std::chrono::seconds(1));
    if (!s) {
      if (s.error().code() == starling::errc::timeout) continue;
      std::fprintf(stderr, "subscriber: %s\n", s.error().message().c_str());
      return 1;
    }
    if (s->kind == starling::sample_kind::del) {
      std::printf("%s <deleted>\n", s->key.c_str());
    } else {
      std::printf("%s %.*s\n", s->key.c_str(), static_cast<int>(s->text().size()),
                  s->text().data());
    }
    std::fflush(stdout);
    ++n;
  }
  return 0;
}
