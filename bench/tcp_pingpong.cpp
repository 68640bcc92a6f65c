// Baseline for the ping benchmark: round trips of a 32-byte message over raw TCP on loopback,
// with the same Asio shell style as the node (one io_context, one thread per side).
// usage: tcp_pingpong [ROUNDS] [INTERVAL_MS]  -> prints median and p99 round-trip in microseconds.
// INTERVAL_MS (default 0) pauses between round trips like `starling ping -i`: both sides then
// go idle between pings, which is what a ping with an interval measures.
#include <boost/asio.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int interval_ms = argc > 2 ? std::atoi(argv[2]) : 0;
  asio::io_context server_ctx;
  tcp::acceptor acceptor(server_ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto ep = acceptor.local_endpoint();
  std::thread server([&] {
    tcp::socket s = acceptor.accept();
    s.set_option(tcp::no_delay(true));
    std::array<char, 32> buf{};
    boost::system::error_code ec;
    while (true) {
      asio::read(s, asio::buffer(buf), ec);
      if (ec) break;
      asio::write(s, asio::buffer(buf), ec);
      if (ec) break;
    }
  });
  asio::io_context ctx;
  tcp::socket c(ctx);
  c.connect(ep);
  c.set_option(tcp::no_delay(true));
  std::array<char, 32> buf{};
  std::vector<double> rtt;
  rtt.reserve(static_cast<std::size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    if (interval_ms > 0 && i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    auto t0 = std::chrono::steady_clock::now();
    asio::write(c, asio::buffer(buf));
    asio::read(c, asio::buffer(buf));
    rtt.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  c.close();
  server.join();
  std::sort(rtt.begin(), rtt.end());
  std::printf("{\"rounds\":%d,\"interval_ms\":%d,\"median_us\":%.1f,\"p99_us\":%.1f}\n", rounds, interval_ms, rtt[rtt.size() / 2],
              rtt[rtt.size() * 99 / 100]);
  return 0;
}
