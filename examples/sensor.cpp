// A fake temperature sensor: publishes a reading on home/<room>/temp every few hundred ms.
//   sensor ROOM [--connect MULTIADDR] [--listen MULTIADDR] [--interval MS] [--count N]
#include <starling/starling.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  std::string room;
  int interval_ms = 500;
  long count = -1;  // forever
  starling::session_options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--connect" && has_value) {
      opts.connect.push_back(argv[++i]);
    } else if (arg == "--listen" && has_value) {
      opts.listen = {argv[++i]};
    } else if (arg == "--interval" && has_value) {
      interval_ms = std::stoi(argv[++i]);
    } else if (arg == "--count" && has_value) {
      count = std::stol(argv[++i]);
    } else if (room.empty() && arg[0] != '-') {
      room = arg;
    } else {
      std::fprintf(stderr,
                   "usage: sensor ROOM [--connect MULTIADDR] [--listen MULTIADDR] "
                   "[--interval MS] [--count N]\n");
      return 2;
    }
  }
  if (room.empty()) room = "kitchen";

  auto session = starling::session::open(opts);
  if (!session) {
    std::fprintf(stderr, "sensor: %s\n", session.error().message().c_str());
    return 1;
  }
  auto pub = session->declare_publisher("home/" + room + "/temp", "text/plain");
  if (!pub) {
    std::fprintf(stderr, "sensor: %s\n", pub.error().message().c_str());
    return 1;
  }
  std::fprintf(stderr, "sensor: %s publishing on %s\n", session->peer_id().c_str(),
               pub->key().c_str());

  for (long n = 0; count < 0 || n < count; ++n) {
    const double celsius = 21.0 + 1.5 * std::sin(static_cast<double>(n) / 10.0);
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", celsius);
    if (auto r = pub->put(text); !r) {
      std::fprintf(stderr, "sensor: %s\n", r.error().message().c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  return 0;
}
