// go/rust-style dialers, byte for byte: multistream-select header, the protocol line and the
// first protocol message in one write, before the listener's echo (V1Lazy). Our listener must
// keep the bytes after the protocol line for the next layer and still send its echo.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "core/conn/connection.hpp"
#include "core/noise/libp2p_handshake.hpp"
#include "interop_support.hpp"
#include "io/clock.hpp"

namespace starling::interop {
namespace {

using asio::ip::tcp;

/// A multistream-select message: uvarint length (one byte here), text, '\n'.
bytes mss_line(const std::string& text) {
  bytes b;
  b.push_back(static_cast<std::uint8_t>(text.size() + 1));
  for (char ch : text)
    b.push_back(static_cast<std::uint8_t>(ch));
  b.push_back('\n');
  return b;
}

/// A raw client socket whose reads run on the io_context.
struct raw_client {
  explicit raw_client(asio::io_context& ctx, const multiaddr& to)
      : sock(ctx), st(std::make_shared<state>()) {
    auto ep = to.tcp_endpoint();
    sock.connect(tcp::endpoint(asio::ip::make_address(ep->ip_string()), ep->port));
    sock.set_option(tcp::no_delay(true));
    read_more();
  }
  void write(bytes_view b) { asio::write(sock, asio::buffer(b.data(), b.size())); }
  void read_more() {
    sock.async_read_some(asio::buffer(st->buf), [s = st, this](boost::system::error_code ec,
                                                               std::size_t n) {
      if (ec) {
        s->eof = true;
        return;
      }
      s->rx.insert(s->rx.end(), s->buf.begin(), s->buf.begin() + static_cast<std::ptrdiff_t>(n));
      read_more();
    });
  }
  struct state {
    std::array<std::uint8_t, 65536> buf{};
    bytes rx;
    bool eof = false;
  };
  tcp::socket sock;
  std::shared_ptr<state> st;
};

bool starts_with(const bytes& b, const bytes& prefix) {
  return b.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), b.begin());
}

TEST(LazyDialer, NoiseMessageRightAfterProtocolLine) {
  asio::io_context ctx;
  test_host h(ctx);
  crypto::system_rng rng;
  const auto me = crypto::ed25519_generate(rng);
  noise::libp2p_config nc;
  nc.muxers = {"/yamux/1.0.0"};
  nc.expected_remote = h->identity().pub;
  noise::libp2p_handshake hs(noise::role::initiator, me, rng, nc);
  bytes msg1;
  hs.poll_transmit(msg1);
  ASSERT_EQ(msg1.size(), 2u + 32u) << "Noise msg1 is a 2-byte length and a 32-byte ephemeral key";

  // One write: header, protocol, Noise message 1 (no waiting for the echo).
  bytes first = mss_line("/multistream/1.0.0");
  append(first, mss_line("/noise"));
  append(first, msg1);
  raw_client cl(ctx, h.addr());
  cl.write(first);

  // The listener echoes both lines, then answers with Noise message 2.
  bytes echo = mss_line("/multistream/1.0.0");
  append(echo, mss_line("/noise"));
  auto have_msg2 = [&] {
    const auto& rx = cl.st->rx;
    if (rx.size() < echo.size() + 2) return cl.st->eof;
    const std::size_t len = std::size_t(rx[echo.size()]) << 8 | rx[echo.size() + 1];
    return rx.size() >= echo.size() + 2 + len || cl.st->eof;
  };
  ASSERT_TRUE(run_until(ctx, have_msg2, 10s))
      << "no Noise message 2 (got " << cl.st->rx.size() << " bytes)";
  ASSERT_FALSE(cl.st->eof) << "the listener closed the connection";
  ASSERT_TRUE(starts_with(cl.st->rx, echo)) << "multistream echo missing: " << to_hex(cl.st->rx);
  ASSERT_TRUE(hs.feed(bytes_view(cl.st->rx).subspan(echo.size()))) << hs.error().message();
  bytes msg3;
  hs.poll_transmit(msg3);
  ASSERT_TRUE(hs.is_complete());
  EXPECT_EQ(hs.negotiated_muxer(), "/yamux/1.0.0");
  cl.write(msg3);

  ASSERT_TRUE(run_until(
      ctx, [&] { return h.find<node::peer_connected>() != nullptr; }, 10s))
      << "the host did not complete the handshake";
  const auto* pc = h.find<node::peer_connected>();
  EXPECT_EQ(pc->peer, multiformats::peer_id::from_public_key(me.pub));
  EXPECT_EQ(pc->dir, conn::direction::inbound);
  EXPECT_TRUE(pc->early_muxer);
}

// The whole go/rust dialer through our own connection core (lazy_security), then a stream
// negotiated lazily too: header, /ipfs/ping/1.0.0 and the 32-byte ping in one Yamux write.
TEST(LazyDialer, ConnectionCoreLazySecurityAndLazyStream) {
  asio::io_context ctx;
  test_host h(ctx);
  crypto::system_rng rng;
  const auto me = crypto::ed25519_generate(rng);
  conn::config cc;
  cc.dir = conn::direction::outbound;
  cc.lazy_security = true;
  cc.early_muxer = false;  // also exercises the muxer's multistream-select inside Noise
  cc.expected_remote = h->identity().pub;
  conn::connection core(cc, me, rng, io::now());
  bytes out;
  core.poll_transmit(out);
  bytes expect_prefix = mss_line("/multistream/1.0.0");
  append(expect_prefix, mss_line("/noise"));
  ASSERT_TRUE(starts_with(out, expect_prefix)) << to_hex(out);
  ASSERT_EQ(out.size(), expect_prefix.size() + 34u)
      << "Noise message 1 must follow in the same write";

  raw_client cl(ctx, h.addr());
  cl.write(out);
  std::size_t fed = 0;
  bool established = false;
  std::optional<yamux::stream_id> ping_id;
  bytes ping_rx;
  const bytes payload = [] {
    bytes p(32);
    for (std::size_t i = 0; i < p.size(); ++i)
      p[i] = static_cast<std::uint8_t>(i * 7 + 1);
    return p;
  }();
  auto step = [&] {
    if (fed < cl.st->rx.size()) {
      auto r = core.feed(bytes_view(cl.st->rx).subspan(fed), io::now());
      fed = cl.st->rx.size();
      if (!r) {
        ADD_FAILURE() << "connection core failed: " << r.error().message();
        return true;
      }
    }
    while (auto ev = core.poll_event()) {
      if (std::holds_alternative<conn::established>(*ev)) {
        established = true;
        EXPECT_FALSE(std::get<conn::established>(*ev).early_muxer);
      } else if (auto* y = std::get_if<yamux::event>(&*ev)) {
        if (auto* d = std::get_if<yamux::stream_data>(y); d && ping_id && d->id == *ping_id) {
          append(ping_rx, d->bytes);
          (void)core.mux()->consume(d->id, d->bytes.size());
        }
      }
    }
    // The stream goes out once the muxer runs (after its own multistream-select).
    if (established && !ping_id && core.mux() != nullptr) {
      auto id = core.mux()->open_stream();
      EXPECT_TRUE(id);
      if (!id) return true;
      ping_id = *id;
      bytes lazy = mss_line("/multistream/1.0.0");
      append(lazy, mss_line("/ipfs/ping/1.0.0"));
      append(lazy, payload);
      auto n = core.mux()->write(*id, lazy);
      EXPECT_TRUE(n && *n == lazy.size());
    }
    bytes tx;
    core.poll_transmit(tx);
    if (!tx.empty()) cl.write(tx);
    bytes want = mss_line("/multistream/1.0.0");
    append(want, mss_line("/ipfs/ping/1.0.0"));
    return ping_rx.size() >= want.size() + payload.size() || cl.st->eof;
  };
  ASSERT_TRUE(run_until(ctx, step, 15s))
      << "established " << established << ", ping bytes " << ping_rx.size();
  ASSERT_FALSE(cl.st->eof) << "the listener closed the connection";
  EXPECT_TRUE(established);
  bytes want = mss_line("/multistream/1.0.0");
  append(want, mss_line("/ipfs/ping/1.0.0"));
  append(want, payload);
  EXPECT_EQ(to_hex(ping_rx), to_hex(want)) << "expected the echoes, then the ping payload";
  const auto* pc = h.find<node::peer_connected>();
  ASSERT_TRUE(pc);
  EXPECT_FALSE(pc->early_muxer);
}

}  // namespace
}  // namespace starling::interop
