// Window blinds that take commands: a queryable on building/floor1/blinds/* that answers a
// query whose payload is "close" or "open" by moving every blind the selector names and
// replying with each one's new state (no payload: the current state). Each blind also holds a
// liveliness token on its key while the program runs (see liveliness_monitor).
//   blinds [NAME...] [--listen MULTIADDR] [--connect MULTIADDR]     (default: east west)
// Its listen addresses go to stderr as "listening on <multiaddr>"; give one to
// `thermostat --connect`. Runs until interrupted (Ctrl-C, SIGTERM).
#include <starling/starling.hpp>

#include <pthread.h>
#include <csignal>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::vector<std::string> names;
  starling::session_options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--listen" && has_value) {
      opts.listen = {argv[++i]};
    } else if (arg == "--connect" && has_value) {
      opts.connect.push_back(argv[++i]);
    } else if (arg[0] != '-') {
      names.push_back(arg);
    } else {
      std::fprintf(stderr, "usage: blinds [NAME...] [--listen MULTIADDR] [--connect MULTIADDR]\n");
      return 2;
    }
  }
  if (names.empty()) names = {"east", "west"};

  // Wait for Ctrl-C with sigwait(): blocked here, before the session's thread starts, so that
  // it inherits the mask and the signal comes to main.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto session = starling::session::open(opts);
  if (!session) {
    std::fprintf(stderr, "blinds: %s\n", session.error().message().c_str());
    return 1;
  }
  // The state of each blind, by key. Only the handler touches it, and handlers all run on the
  // session's network thread, one at a time: no lock needed.
  std::map<std::string, std::string> state;
  for (const auto& name : names)
    state["building/floor1/blinds/" + name] = "open";

  auto blinds = session->declare_queryable("building/floor1/blinds/*", [&](starling::query q) {
    const std::string command(q.text());
    for (auto& [key, now] : state) {
      if (!q.matches(key)) continue;  // a query for another blind
      if (command == "close" || command == "open") {
        now = command == "close" ? "closed" : "open";
      } else if (!command.empty()) {
        (void)q.reply_error(key, "unknown command '" + command + "' (close, open)");
        continue;
      }
      if (auto r = q.reply(key, now, "text/plain"); !r) {
        std::fprintf(stderr, "blinds: %s\n", r.error().message().c_str());
      }
    }
  });  // the query finishes when `q` goes: the thermostat's get ends at once
  if (!blinds) {
    std::fprintf(stderr, "blinds: %s\n", blinds.error().message().c_str());
    return 1;
  }
  std::vector<starling::liveliness_token> tokens;
  for (const auto& [key, now] : state) {
    auto token = session->declare_token(key);
    if (token) tokens.push_back(std::move(*token));
  }
  for (const auto& addr : session->listen_addrs()) {
    std::fprintf(stderr, "listening on %s\n", addr.c_str());
  }

  int sig = 0;
  sigwait(&stop, &sig);
  return 0;  // the handles and the session close here: the tokens leave at once
}
