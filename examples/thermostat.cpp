// A thermostat that commands the blinds: sends a get on building/floor1/blinds/* with the
// command as payload ("close" when it is too warm, "open" when it cools down) and prints each
// reply as `key state` (an error reply as `key error: message`).
//   thermostat COMMAND --connect MULTIADDR [--selector SELECTOR]
// e.g. `thermostat close --connect /ip4/127.0.0.1/tcp/PORT/p2p/12D3KooW...` with the address
// `blinds` printed. Exits 0 when at least one blind answered without an error.
#include <starling/starling.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  std::string command;
  std::string selector = "building/floor1/blinds/*";
  starling::session_options opts;
  opts.listen.clear();  // only dials out
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--connect" && has_value) {
      opts.connect.push_back(argv[++i]);
    } else if (arg == "--selector" && has_value) {
      selector = argv[++i];
    } else if (command.empty() && arg[0] != '-') {
      command = arg;
    } else {
      std::fprintf(stderr, "usage: thermostat COMMAND --connect MULTIADDR [--selector SELECTOR]\n");
      return 2;
    }
  }

  auto session = starling::session::open(opts);
  if (!session) {
    std::fprintf(stderr, "thermostat: %s\n", session.error().message().c_str());
    return 1;
  }
  starling::get_options get;
  get.payload = starling::to_bytes(command);
  get.timeout = std::chrono::seconds(5);
  // Right after connecting, the mesh may not know of the blinds' queryable yet: while nobody
  // matches, ask again for a few seconds.
  auto replies = session->get(selector, get);
  for (int tries = 0; !replies && replies.error().code() == starling::errc::not_found && tries < 50;
       ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    replies = session->get(selector, get);
  }
  if (!replies) {
    std::fprintf(stderr, "thermostat: %s\n", replies.error().message().c_str());
    return 1;
  }
  int answered = 0;
  for (const auto& r : *replies) {
    const std::string text(r.text());
    if (r.is_error) {
      std::printf("%s error: %s\n", r.key.c_str(), text.c_str());
    } else {
      std::printf("%s %s\n", r.key.c_str(), text.c_str());
      ++answered;
    }
  }
  return answered > 0 ? 0 : 1;
}
