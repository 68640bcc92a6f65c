// tcp_driver over loopback with a plain echo core: every byte arrives across small reads and
// reads that fill the shared buffer, and a driver waiting for input (the quiet wait after a
// read that emptied the socket) is woken by data, by the peer's EOF and by abort(), and then
// lets its owner go.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "harness.hpp"
#include "io/byte_core.hpp"
#include "io/tcp_driver.hpp"

namespace starling {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using test::run_until;

/// Sends back every byte it is fed.
class echo_core final : public io::byte_core {
 public:
  result<void> feed(bytes_view in, time_point) override {
    m_out.insert(m_out.end(), in.begin(), in.end());
    return {};
  }
  void poll_transmit(bytes& out) override {
    out.insert(out.end(), m_out.begin(), m_out.end());
    m_out.clear();
  }
  time_point next_deadline() const override { return no_deadline; }
  result<void> on_deadline(time_point) override { return {}; }
  bool finished() const override { return false; }

 private:
  bytes m_out;
};

/// What a driver's owner is: the core and the driver, kept alive by the driver's handlers.
struct echo_owner {
  echo_core core;
  std::optional<io::tcp_driver> driver;
  bool closed = false;
  std::error_code close_ec;
};

/// A connected pair on 127.0.0.1: `client` is a plain socket, the other end is an echo driver.
struct echo_pair {
  explicit echo_pair(asio::io_context& ctx) : client(ctx) {
    tcp::acceptor acceptor(ctx, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    client.connect(acceptor.local_endpoint());
    tcp::socket served(ctx);
    acceptor.accept(served);
    auto o = std::make_shared<echo_owner>();
    echo_owner* raw = o.get();
    o->driver.emplace(std::move(served), o->core,
                      io::tcp_driver::callbacks{[] {},  // the driver flushes after feeding
                                                [raw](std::error_code ec) {
                                                  raw->closed = true;
                                                  raw->close_ec = ec;
                                                }});
    o->driver->set_linger(0ms);
    o->driver->start(o);
    owner = o;
  }
  std::shared_ptr<echo_owner> lock() const { return owner.lock(); }
  /// Closes the client and waits for the driver to see it and let its owner go (an open
  /// driver holds its owner until it closes).
  bool hang_up(asio::io_context& ctx) {
    client.close();
    return run_until(ctx, [&] { return owner.expired(); });
  }

  tcp::socket client;
  std::weak_ptr<echo_owner> owner;  ///< held only by the driver's pending handlers
};

bytes pattern(std::size_t n, std::uint8_t seed) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(seed + i * 7 + (i >> 9));
  return b;
}

/// Writes `msg` and reads its echo back, both asynchronously on `ctx`.
bytes round_trip(asio::io_context& ctx, tcp::socket& client, const bytes& msg) {
  bytes echo(msg.size());
  bool wrote = false, read = false;
  boost::system::error_code wec, rec;
  asio::async_write(client, asio::buffer(msg), [&](boost::system::error_code ec, std::size_t) {
    wrote = true;
    wec = ec;
  });
  asio::async_read(client, asio::buffer(echo), [&](boost::system::error_code ec, std::size_t) {
    read = true;
    rec = ec;
  });
  EXPECT_TRUE(run_until(ctx, [&] { return wrote && read; }));
  EXPECT_FALSE(wec) << wec.message();
  EXPECT_FALSE(rec) << rec.message();
  return echo;
}

TEST(TcpDriver, EchoesEveryByteAcrossSmallAndFullReads) {
  asio::io_context ctx(1);
  echo_pair pair(ctx);
  // 300 000 and 1 MiB exceed the 256 KiB read buffer: a read that fills it is followed by
  // another read at once, the others by a quiet wait.
  const std::vector<std::size_t> sizes = {1, 44, 1000, 300000, 5, 1 << 20, 17, 65536, 3};
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const bytes msg = pattern(sizes[i], static_cast<std::uint8_t>(i));
    ASSERT_EQ(round_trip(ctx, pair.client, msg), msg)
        << "message " << i << " of " << sizes[i] << " bytes";
    total += sizes[i];
  }
  {
    const auto owner = pair.lock();
    ASSERT_TRUE(owner);
    EXPECT_EQ(owner->driver->stats().bytes_in, total);
    EXPECT_EQ(owner->driver->stats().bytes_out, total);
    if (io::tcp_driver::quiet_wait_supported()) {
      // At least one quiet wait per message after the first.
      EXPECT_GE(owner->driver->stats().quiet_waits, sizes.size() - 1);
    } else {
      EXPECT_EQ(owner->driver->stats().quiet_waits, 0U);
    }
    EXPECT_FALSE(owner->closed);
  }
  EXPECT_TRUE(pair.hang_up(ctx));
}

TEST(TcpDriver, ManySmallRoundTripsStayInStep) {
  asio::io_context ctx(1);
  echo_pair pair(ctx);
  for (int i = 0; i < 500; ++i) {
    const bytes msg = pattern(1 + static_cast<std::size_t>(i % 97), static_cast<std::uint8_t>(i));
    ASSERT_EQ(round_trip(ctx, pair.client, msg), msg) << "round " << i;
  }
  if (io::tcp_driver::quiet_wait_supported()) {
    const auto owner = pair.lock();
    ASSERT_TRUE(owner);
    EXPECT_GE(owner->driver->stats().quiet_waits, 499U);
  }
  EXPECT_TRUE(pair.hang_up(ctx));
}

TEST(TcpDriver, PeerEofWakesAWaitingDriver) {
  asio::io_context ctx(1);
  echo_pair pair(ctx);
  const bytes msg = pattern(10, 1);
  ASSERT_EQ(round_trip(ctx, pair.client, msg), msg);  // the driver now waits quietly
  pair.client.shutdown(tcp::socket::shutdown_send);
  auto owner = pair.lock();
  ASSERT_TRUE(owner);
  ASSERT_TRUE(run_until(ctx, [&] { return owner->closed; }));
  EXPECT_FALSE(owner->close_ec) << owner->close_ec.message();
  EXPECT_FALSE(owner->driver->is_open());
  owner.reset();
  ctx.poll();
  EXPECT_TRUE(pair.owner.expired()) << "a pending wait still holds the owner";
}

TEST(TcpDriver, DataAndFinInOneWakeUpAreBothSeen) {
  asio::io_context ctx(1);
  echo_pair pair(ctx);
  const bytes first = pattern(10, 4);
  ASSERT_EQ(round_trip(ctx, pair.client, first), first);  // the driver now waits quietly
  // Both reach the driver's socket before its thread looks: one wake-up, and a recv that
  // returns the data but not yet the EOF behind it.
  const bytes last = pattern(25, 5);
  asio::write(pair.client, asio::buffer(last));
  pair.client.shutdown(tcp::socket::shutdown_send);
  auto owner = pair.lock();
  ASSERT_TRUE(owner);
  ASSERT_TRUE(run_until(ctx, [&] { return owner->closed; }))
      << "the FIN behind the data was missed";
  EXPECT_FALSE(owner->close_ec) << owner->close_ec.message();
  EXPECT_EQ(owner->driver->stats().bytes_in, first.size() + last.size());
  // The echo of the last data was written before the driver closed.
  bytes echo(last.size());
  boost::system::error_code ec;
  asio::read(pair.client, asio::buffer(echo), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(echo, last);
}

TEST(TcpDriver, DataAndResetInOneWakeUpAreBothSeen) {
  asio::io_context ctx(1);
  echo_pair pair(ctx);
  const bytes first = pattern(10, 6);
  ASSERT_EQ(round_trip(ctx, pair.client, first), first);
  const bytes last = pattern(25, 7);
  asio::write(pair.client, asio::buffer(last));
  pair.client.set_option(asio::socket_base::linger(true, 0));
  pair.client.close();  // an RST right behind the data
  auto owner = pair.lock();
  ASSERT_TRUE(owner);
  ASSERT_TRUE(run_until(ctx, [&] { return owner->closed; }))
      << "the RST behind the data was missed";
  EXPECT_TRUE(owner->close_ec) << "a reset is not a clean close";
}

TEST(TcpDriver, FinWhileAWriteWaitsForRoomIsSeen) {
  asio::io_context ctx(1);
  echo_pair pair(ctx);
  const bytes first = pattern(10, 8);
  ASSERT_EQ(round_trip(ctx, pair.client, first), first);
  // The client sends 8 MiB and reads nothing back: the echo fills both socket buffers, and
  // the driver's write waits for room while its reads go on. Then the FIN: the wake-ups that
  // finish the write and those that bring the last data and the FIN may interleave.
  const bytes big = pattern(std::size_t{8} << 20, 9);
  bool wrote = false;
  asio::async_write(pair.client, asio::buffer(big), [&](boost::system::error_code ec, std::size_t) {
    EXPECT_FALSE(ec) << ec.message();
    wrote = true;
  });
  auto owner = pair.lock();
  ASSERT_TRUE(owner);
  ASSERT_TRUE(run_until(
      ctx, [&] { return wrote && owner->driver->stats().bytes_in == first.size() + big.size(); }));
  pair.client.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(run_until(ctx, [&] { return owner->closed; }))
      << "the FIN was missed while a write waited";
  EXPECT_FALSE(owner->close_ec) << owner->close_ec.message();
}

TEST(TcpDriver, AbortWakesAWaitingDriverAndReleasesItsOwner) {
  asio::io_context ctx(1);
  echo_pair pair(ctx);
  const bytes msg = pattern(10, 2);
  ASSERT_EQ(round_trip(ctx, pair.client, msg), msg);
  {
    auto owner = pair.lock();
    ASSERT_TRUE(owner);
    owner->driver->abort(make_error_code(std::errc::connection_aborted));
    EXPECT_TRUE(owner->closed);
    EXPECT_EQ(owner->close_ec, std::errc::connection_aborted);
  }
  ASSERT_TRUE(run_until(ctx, [&] { return pair.owner.expired(); }));
  // The client sees the connection end.
  std::array<std::uint8_t, 16> buf{};
  boost::system::error_code ec;
  pair.client.read_some(asio::buffer(buf), ec);
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace starling
