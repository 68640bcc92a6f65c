// Two Yamux sessions wired back to back in memory, with a fake clock.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/yamux/session.hpp"

using namespace starling;
using namespace std::chrono_literals;
namespace y = starling::yamux;

namespace {

std::uint32_t raw(y::stream_id id) {
  return static_cast<std::uint32_t>(id);
}

// One side: its session plus what it observed. Received data is consumed at once unless
// auto_consume is off (then it only accumulates in `received`).
struct peer {
  explicit peer(y::role r, y::config c = quiet()) : s(r, c) {}
  static y::config quiet() {
    y::config c;
    c.keepalive_interval = 0s;
    c.ping_on_start = false;
    return c;
  }
  y::session s;
  std::vector<std::string> log;  // non-data events
  std::map<std::uint32_t, bytes> received;
  bool auto_consume = true;
  std::uint64_t frames_seen = 0;

  void drain_events() {
    while (auto e = s.poll_event()) {
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, y::stream_data>) {
              append(received[raw(v.id)], v.bytes);
              if (auto_consume) {
                ASSERT_TRUE(s.consume(v.id, v.bytes.size()));
              }
            } else if constexpr (std::is_same_v<T, y::stream_opened>)
              log.push_back("opened " + std::to_string(raw(v.id)));
            else if constexpr (std::is_same_v<T, y::stream_acked>)
              log.push_back("acked " + std::to_string(raw(v.id)));
            else if constexpr (std::is_same_v<T, y::stream_read_closed>)
              log.push_back("fin " + std::to_string(raw(v.id)));
            else if constexpr (std::is_same_v<T, y::stream_reset>)
              log.push_back("rst " + std::to_string(raw(v.id)));
            else if constexpr (std::is_same_v<T, y::stream_closed>)
              log.push_back("closed " + std::to_string(raw(v.id)));
            else if constexpr (std::is_same_v<T, y::stream_writable>)
              log.push_back("writable " + std::to_string(raw(v.id)));
            else if constexpr (std::is_same_v<T, y::ping_rtt>)
              log.push_back("rtt");
            else if constexpr (std::is_same_v<T, y::go_away_received>)
              log.push_back("goaway " + std::to_string(v.code));
            else if constexpr (std::is_same_v<T, y::session_closed>)
              log.push_back("dead " + v.error.message());
          },
          *e);
    }
  }
  std::string text(std::uint32_t id) { return std::string(as_chars(received[id])); }
  std::vector<std::string> take_log() { return std::exchange(log, {}); }
};

// Moves bytes both ways until both sides are quiet; each hop takes `hop` of fake time.
struct wire {
  wire(peer& a_, peer& b_) : a(a_), b(b_) {}
  peer& a;
  peer& b;
  time_point now{std::chrono::seconds(1)};
  clock_duration hop = 0ms;
  bytes buf;

  bool step(peer& from, peer& to) {
    buf.clear();
    from.s.poll_transmit(buf);
    if (buf.empty()) return false;
    now += hop;
    from.drain_events();  // sending a FIN can complete a close
    EXPECT_TRUE(to.s.feed(buf, now));
    to.drain_events();
    return true;
  }
  void pump(int max_rounds = 1000) {
    a.drain_events();
    b.drain_events();
    for (int i = 0; i < max_rounds; ++i) {
      const bool x = step(a, b);
      const bool z = step(b, a);
      if (!x && !z) return;
    }
  }
};

}  // namespace

TEST(YamuxSession, OpenAcceptDataHalfCloseBothDirections) {
  peer a(y::role::dialer), b(y::role::listener);
  wire l{a, b};
  auto id = a.s.open_stream().value();
  EXPECT_EQ(raw(id), 1u);
  ASSERT_EQ(a.s.write(id, as_bytes("hello")).value(), 5u);
  l.pump();
  EXPECT_EQ(b.take_log(), std::vector<std::string>{"opened 1"});
  EXPECT_EQ(b.text(1), "hello");
  EXPECT_TRUE(a.take_log().empty()) << "no ACK until the listener writes";
  ASSERT_TRUE(b.s.write(id, as_bytes("world")));
  l.pump();
  EXPECT_EQ(a.take_log(), std::vector<std::string>{"acked 1"});
  EXPECT_EQ(a.text(1), "world");

  ASSERT_TRUE(a.s.close_write(id));
  EXPECT_EQ(a.s.write(id, as_bytes("x")).error(), y::errc::write_closed);
  l.pump();
  EXPECT_EQ(b.take_log(), std::vector<std::string>{"fin 1"});
  ASSERT_TRUE(b.s.write(id, as_bytes(" again")));  // the other direction still flows
  l.pump();
  EXPECT_EQ(a.text(1), "world again");
  ASSERT_TRUE(b.s.close_write(id));
  l.pump();
  EXPECT_EQ(a.take_log(), (std::vector<std::string>{"fin 1", "closed 1"}));
  EXPECT_EQ(b.take_log(), std::vector<std::string>{"closed 1"});
  EXPECT_EQ(a.s.stream_count(), 0u);
  EXPECT_EQ(b.s.stream_count(), 0u);

  // The listener opens even ids.
  auto bid = b.s.open_stream().value();
  EXPECT_EQ(raw(bid), 2u);
  l.pump();
  EXPECT_EQ(a.take_log(), std::vector<std::string>{"opened 2"});
}

TEST(YamuxSession, ResetEitherSide) {
  peer a(y::role::dialer), b(y::role::listener);
  wire l{a, b};
  auto id = a.s.open_stream().value();
  ASSERT_TRUE(a.s.write(id, as_bytes("req")));
  l.pump();
  ASSERT_TRUE(b.s.reset(id));
  EXPECT_EQ(b.s.stream_count(), 0u);
  l.pump();
  EXPECT_EQ(a.take_log(), std::vector<std::string>{"rst 1"});
  EXPECT_EQ(a.s.stream_count(), 0u);
  EXPECT_EQ(a.s.write(id, as_bytes("more")).error(), y::errc::unknown_stream);

  auto id2 = a.s.open_stream().value();
  ASSERT_TRUE(a.s.write(id2, as_bytes("x")));
  l.pump();
  ASSERT_TRUE(a.s.reset(id2));
  l.pump();
  b.take_log();
  EXPECT_EQ(b.s.stream_count(), 0u);
  // A stream reset before its SYN went out costs nothing on the wire.
  auto id3 = a.s.open_stream().value();
  ASSERT_TRUE(a.s.reset(id3));
  bytes out;
  a.s.poll_transmit(out);
  EXPECT_TRUE(out.empty());
}

TEST(YamuxSession, WindowExhaustionAndUpdates) {
  peer a(y::role::dialer), b(y::role::listener);
  b.auto_consume = false;
  wire l{a, b};
  auto id = a.s.open_stream().value();
  bytes big(1024 * 1024, 0x42);
  // Accepts the peer's window (256 KiB) plus the write slack (64 KiB).
  const std::size_t accepted = a.s.write(id, big).value();
  EXPECT_EQ(accepted, 256u * 1024 + 64 * 1024);
  EXPECT_EQ(a.s.write(id, big).value(), 0u);
  l.pump();
  EXPECT_EQ(b.received[1].size(), 256u * 1024) << "exactly one window crossed";
  EXPECT_EQ(a.s.info(id)->send_window, 0u);
  EXPECT_EQ(a.s.info(id)->write_buffered, 64u * 1024);
  // Consuming less than half the window sends no update.
  ASSERT_TRUE(b.s.consume(id, 100 * 1024));
  l.pump();
  EXPECT_EQ(b.received[1].size(), 256u * 1024);
  ASSERT_TRUE(b.s.consume(id, 28 * 1024));  // now half
  l.pump();
  EXPECT_EQ(b.received[1].size(), 256u * 1024 + 64 * 1024);
  EXPECT_EQ(a.take_log(), (std::vector<std::string>{"acked 1", "writable 1"}));
  EXPECT_EQ(a.s.info(id)->send_window, 64u * 1024);
  EXPECT_EQ(b.s.consume(id, 1024 * 1024).error(), y::errc::bad_consume);
}

TEST(YamuxSession, WriteRoomIsExactlyWhatWriteAccepts) {
  peer a(y::role::dialer), b(y::role::listener);
  b.auto_consume = false;
  wire l{a, b};
  auto id = a.s.open_stream().value();
  const std::size_t room = a.s.write_room(id);
  EXPECT_EQ(room, 256u * 1024 + 64 * 1024);  // the peer's window plus the write slack
  bytes chunk(100 * 1024, 0x11);
  EXPECT_EQ(a.s.write(id, chunk).value(), chunk.size());
  EXPECT_EQ(a.s.write_room(id), room - chunk.size());
  bytes rest(a.s.write_room(id), 0x22);
  EXPECT_EQ(a.s.write(id, rest).value(), rest.size());
  EXPECT_EQ(a.s.write_room(id), 0u);
  EXPECT_TRUE(a.take_log().empty());
  // A write with no room is refused and brings "writable" once the peer consumes.
  EXPECT_EQ(a.s.write(id, chunk).value(), 0u);
  l.pump();
  ASSERT_TRUE(b.s.consume(id, 256 * 1024));
  l.pump();
  EXPECT_EQ(a.take_log(), (std::vector<std::string>{"acked 1", "writable 1"}));
  EXPECT_GT(a.s.write_room(id), 0u);
  // No room on a write-closed, reset or unknown stream, nor on a dead session.
  ASSERT_TRUE(a.s.close_write(id));
  EXPECT_EQ(a.s.write_room(id), 0u);
  auto id2 = a.s.open_stream().value();
  ASSERT_TRUE(a.s.reset(id2));
  EXPECT_EQ(a.s.write_room(id2), 0u);
  EXPECT_EQ(a.s.write_room(y::stream_id{99}), 0u);
}

TEST(YamuxSession, LargeTransferGrowsWindowTo16MiB) {
  peer a(y::role::dialer), b(y::role::listener);
  wire l{a, b};
  l.hop = 1ms;  // one-way delay: RTT 2 ms
  ASSERT_TRUE(b.s.ping(l.now));
  l.pump();
  EXPECT_EQ(b.take_log(), std::vector<std::string>{"rtt"});
  EXPECT_EQ(b.s.rtt(), 2ms);

  auto id = a.s.open_stream().value();
  const std::size_t total = 64u * 1024 * 1024;
  std::size_t written = 0;
  std::uint32_t max_window = 0;
  bytes chunk(1024 * 1024);
  int rounds = 0;
  while (b.received[1].size() < total && rounds++ < 10000) {
    while (written < total) {
      const std::size_t want = std::min(chunk.size(), total - written);
      for (std::size_t i = 0; i < want; ++i)
        chunk[i] = static_cast<std::uint8_t>((written + i) % 251);
      const std::size_t n = a.s.write(id, bytes_view(chunk).first(want)).value();
      written += n;
      if (n < want) break;
    }
    l.step(a, b);
    if (auto i = b.s.info(id)) max_window = std::max(max_window, i->receive_window);
    l.step(b, a);
    a.drain_events();
  }
  ASSERT_EQ(b.received[1].size(), total);
  EXPECT_EQ(max_window, 16u * 1024 * 1024);
  bool intact = true;
  for (std::size_t i = 0; i < total && intact; ++i)
    intact = b.received[1][i] == static_cast<std::uint8_t>(i % 251);
  EXPECT_TRUE(intact);
  EXPECT_LT(rounds, 100) << "a growing window needs few round trips";
}

TEST(YamuxSession, WindowStaysWhenPeerIsSlow) {
  peer a(y::role::dialer), b(y::role::listener);
  wire l{a, b};
  l.hop = 50ms;
  ASSERT_TRUE(b.s.ping(l.now));
  l.pump();  // RTT 100 ms
  auto id = a.s.open_stream().value();
  bytes chunk(64 * 1024, 1);
  for (int i = 0; i < 40; ++i) {  // a trickle: 64 KiB per second
    ASSERT_TRUE(a.s.write(id, chunk));
    l.pump();
    l.now += 1s;
  }
  EXPECT_EQ(b.s.info(id)->receive_window, 256u * 1024);
}

TEST(YamuxSession, GoAwayNormalStopsNewStreams) {
  peer a(y::role::dialer), b(y::role::listener);
  wire l{a, b};
  auto id = a.s.open_stream().value();
  ASSERT_TRUE(a.s.write(id, as_bytes("a")));
  l.pump();
  ASSERT_TRUE(b.s.go_away(y::go_away_code::normal));
  bytes out;
  b.s.poll_transmit(out);
  EXPECT_EQ(out, (bytes{0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  ASSERT_TRUE(a.s.feed(out, l.now));
  a.drain_events();
  EXPECT_EQ(a.take_log(), std::vector<std::string>{"goaway 0"});
  EXPECT_EQ(a.s.open_stream().error(), y::errc::going_away);
  EXPECT_EQ(b.s.open_stream().error(), y::errc::going_away);
  EXPECT_FALSE(a.s.is_dead());
  ASSERT_TRUE(a.s.write(id, as_bytes("b")));  // existing streams carry on
  ASSERT_TRUE(b.s.write(id, as_bytes("c")));
  l.pump();
  EXPECT_EQ(b.text(1), "ab");
  EXPECT_EQ(a.text(1), "c");
}

TEST(YamuxSession, StreamsOpenedAfterOurGoAwayAreRefused) {
  y::session b(y::role::listener, peer::quiet());
  ASSERT_TRUE(b.go_away(0));
  bytes syn;
  y::append_header({0, y::frame_type::data, y::flags::syn, 1, 3}, syn);
  append(syn, as_bytes("abc"));
  ASSERT_TRUE(b.feed(syn, time_point{}));
  bytes out, want;
  b.poll_transmit(out);
  y::append_header({0, y::frame_type::window_update, y::flags::rst, 1, 0}, want);
  y::append_header({0, y::frame_type::go_away, 0, 0, 0}, want);
  EXPECT_EQ(out, want);
  EXPECT_FALSE(b.poll_event().has_value());
  EXPECT_EQ(b.stream_count(), 0u);
}

TEST(YamuxSession, GoAwayNormalWaitsForWrittenDataAndFin) {
  peer a(y::role::dialer), b(y::role::listener);
  b.auto_consume = false;
  wire l{a, b};
  auto id = a.s.open_stream().value();
  bytes big(300 * 1024, 7);
  ASSERT_EQ(a.s.write(id, big).value(), big.size());
  ASSERT_TRUE(a.s.close_write(id));
  ASSERT_TRUE(a.s.go_away(0));
  l.pump();
  EXPECT_FALSE(a.s.go_away_sent()) << "44 KiB still wait for window";
  EXPECT_TRUE(b.take_log() == std::vector<std::string>{"opened 1"});
  ASSERT_TRUE(b.s.consume(id, 256 * 1024));
  l.pump();
  EXPECT_TRUE(a.s.go_away_sent());
  EXPECT_EQ(b.take_log(), (std::vector<std::string>{"fin 1", "goaway 0"}));
  EXPECT_EQ(b.received[1].size(), big.size());
}

TEST(YamuxSession, GoAwayErrorCodes) {
  for (std::uint32_t code : {1u, 2u}) {
    peer a(y::role::dialer), b(y::role::listener);
    wire l{a, b};
    (void)a.s.open_stream().value();
    l.pump();
    ASSERT_TRUE(a.s.go_away(code));
    EXPECT_TRUE(a.s.is_dead());
    bytes out;
    a.s.poll_transmit(out);
    EXPECT_EQ(out, (bytes{0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(code)}));
    ASSERT_TRUE(b.s.feed(out, l.now));
    b.drain_events();
    EXPECT_EQ(b.take_log(), (std::vector<std::string>{
                                "opened 1", "goaway " + std::to_string(code),
                                "dead " + make_error_code(y::errc::remote_go_away).message()}));
    EXPECT_TRUE(b.s.is_dead());
    EXPECT_EQ(b.s.stream_count(), 0u);
    out.clear();
    b.s.poll_transmit(out);
    EXPECT_TRUE(out.empty()) << "no GoAway answers a GoAway";
  }
}

TEST(YamuxSession, InboundStreamLimitResetsExtras) {
  y::config c = peer::quiet();
  c.max_inbound_streams = 4;
  peer a(y::role::dialer), b(y::role::listener, c);
  wire l{a, b};
  std::vector<y::stream_id> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(a.s.open_stream().value());
    ASSERT_TRUE(a.s.write(ids.back(), as_bytes("x")));
  }
  l.pump();
  EXPECT_EQ(b.s.stream_count(), 4u);
  EXPECT_EQ(b.take_log(),
            (std::vector<std::string>{"opened 1", "opened 3", "opened 5", "opened 7"}));
  EXPECT_EQ(a.take_log(), (std::vector<std::string>{"rst 9", "rst 11"}));
  EXPECT_EQ(a.s.stream_count(), 4u);
  // Closing one frees a slot.
  ASSERT_TRUE(a.s.reset(ids[0]));
  l.pump();
  b.take_log();
  auto more = a.s.open_stream().value();
  l.pump();
  EXPECT_EQ(b.take_log(), std::vector<std::string>{"opened " + std::to_string(raw(more))});
}

TEST(YamuxSession, SynFloodStaysBounded) {
  y::config c = peer::quiet();
  c.max_inbound_streams = 16;
  y::session b(y::role::listener, c);
  const time_point now{};
  bytes in;
  for (std::uint32_t i = 0; i < 5000; ++i)
    y::append_header({0, y::frame_type::window_update, y::flags::syn, 2 * i + 1, 0}, in);
  ASSERT_TRUE(b.feed(in, now));
  EXPECT_EQ(b.stream_count(), 16u);
  bytes out;
  b.poll_transmit(out);
  ASSERT_EQ(out.size(), (5000u - 16) * y::header_size);
  bytes first_rst;
  y::append_header({0, y::frame_type::window_update, y::flags::rst, 33, 0}, first_rst);
  EXPECT_TRUE(std::equal(first_rst.begin(), first_rst.end(), out.begin()));
  std::size_t opened = 0;
  while (auto e = b.poll_event())
    opened += std::holds_alternative<y::stream_opened>(*e);
  EXPECT_EQ(opened, 16u);
}

TEST(YamuxSession, AckBacklogOf256) {
  peer a(y::role::dialer), b(y::role::listener);
  wire l{a, b};
  std::vector<y::stream_id> ids;
  for (int i = 0; i < 256; ++i)
    ids.push_back(a.s.open_stream().value());
  EXPECT_EQ(a.s.open_stream().error(), y::errc::too_many_unacked);
  l.pump();
  EXPECT_EQ(b.s.stream_count(), 256u);
  EXPECT_EQ(a.s.open_stream().error(), y::errc::too_many_unacked) << "the listener has not ACKed";
  ASSERT_TRUE(b.s.write(ids[10], as_bytes("ack")));
  l.pump();
  EXPECT_EQ(a.take_log(), std::vector<std::string>{"acked 21"});
  EXPECT_TRUE(a.s.open_stream());
  EXPECT_EQ(a.s.open_stream().error(), y::errc::too_many_unacked);
  ASSERT_TRUE(a.s.reset(ids[0]));  // an unACKed stream reset leaves the backlog too
  EXPECT_TRUE(a.s.open_stream());
}

TEST(YamuxSession, AckOnOpenConfig) {
  y::config c = peer::quiet();
  c.ack_on_open = true;
  peer a(y::role::dialer), b(y::role::listener, c);
  wire l{a, b};
  (void)a.s.open_stream().value();
  l.pump();
  EXPECT_EQ(a.take_log(), std::vector<std::string>{"acked 1"});
}

TEST(YamuxSession, LargerInitialWindowAnnouncedWithSyn) {
  y::config c = peer::quiet();
  c.initial_window = 1024 * 1024;
  peer a(y::role::dialer, c), b(y::role::listener);
  auto id = a.s.open_stream().value();
  bytes out;
  a.s.poll_transmit(out);
  bytes want;
  y::append_header({0, y::frame_type::window_update, y::flags::syn, 1, 768 * 1024}, want);
  EXPECT_EQ(out, want);
  ASSERT_TRUE(b.s.feed(out, time_point{}));
  EXPECT_EQ(b.s.info(id)->send_window, 1024u * 1024);
}

TEST(YamuxSession, RoundRobinAcrossStreams) {
  y::config c = peer::quiet();
  c.max_frame_size = 16 * 1024;
  peer a(y::role::dialer, c), b(y::role::listener);
  auto s1 = a.s.open_stream().value();
  auto s2 = a.s.open_stream().value();
  bytes d(100 * 1024, 9);
  ASSERT_TRUE(a.s.write(s1, d));
  ASSERT_TRUE(a.s.write(s2, d));
  bytes out;
  a.s.poll_transmit(out);
  std::vector<std::uint32_t> order;
  for (std::size_t pos = 0; pos < out.size();) {
    y::header h;
    ASSERT_FALSE(y::decode_header(out.data() + pos, h));
    order.push_back(h.stream);
    EXPECT_LE(h.length, 16u * 1024);
    pos += y::header_size + (h.type == y::frame_type::data ? h.length : 0);
  }
  ASSERT_EQ(order.size(), 14u);  // 100 KiB = 7 frames each
  for (std::size_t i = 0; i < order.size(); ++i)
    EXPECT_EQ(order[i], i % 2 == 0 ? 1u : 3u) << i;
}

TEST(YamuxSession, TransmitBudgetCutsDataFrames) {
  peer a(y::role::dialer), b(y::role::listener);
  auto id = a.s.open_stream().value();
  bytes d(100000, 3);
  ASSERT_TRUE(a.s.write(id, d));
  std::size_t frames = 0;
  bytes all;
  while (a.s.wants_transmit()) {
    bytes out;
    a.s.poll_transmit(out, 65519);
    EXPECT_LE(out.size(), 65519u);
    append(all, out);
    ++frames;
  }
  EXPECT_EQ(frames, 2u);
  ASSERT_TRUE(b.s.feed(all, time_point{}));
  b.drain_events();
  EXPECT_EQ(b.received[1], d);
}

TEST(YamuxSession, ClosedStreamsAreForgotten) {
  peer a(y::role::dialer), b(y::role::listener);
  wire l{a, b};
  for (int i = 0; i < 2000; ++i) {
    auto id = a.s.open_stream().value();
    ASSERT_TRUE(a.s.write(id, as_bytes("q")));
    ASSERT_TRUE(a.s.close_write(id));
    l.pump();
    ASSERT_TRUE(b.s.write(id, as_bytes("r")));
    ASSERT_TRUE(b.s.close_write(id));
    l.pump();
    ASSERT_EQ(a.s.stream_count(), 0u);
    ASSERT_EQ(b.s.stream_count(), 0u);
  }
  EXPECT_EQ(a.text(3999), "r");
}

TEST(YamuxSession, KeepaliveBetweenPeers) {
  y::config c;  // defaults
  peer a(y::role::dialer, c), b(y::role::listener, c);
  wire l{a, b};
  l.hop = 5ms;
  ASSERT_TRUE(a.s.on_deadline(l.now));
  ASSERT_TRUE(b.s.on_deadline(l.now));
  l.pump();
  EXPECT_EQ(a.take_log(), std::vector<std::string>{"rtt"});
  EXPECT_EQ(b.take_log(), std::vector<std::string>{"rtt"});
  EXPECT_EQ(a.s.rtt(), 10ms);
  for (int i = 0; i < 5; ++i) {
    l.now = a.s.next_deadline();
    ASSERT_TRUE(a.s.on_deadline(l.now));
    l.pump();
    EXPECT_EQ(a.take_log(), std::vector<std::string>{"rtt"});
  }
  EXPECT_FALSE(a.s.is_dead());
}

TEST(YamuxSession, HasEventsTellsWhetherPollEventWouldReturnSomething) {
  peer a(y::role::dialer), b(y::role::listener);
  EXPECT_FALSE(b.s.has_events());
  auto id = a.s.open_stream().value();
  ASSERT_EQ(a.s.write(id, as_bytes("hi")).value(), 2u);
  bytes buf;
  a.s.poll_transmit(buf);
  ASSERT_TRUE(b.s.feed(buf, time_point(std::chrono::seconds(1))));
  EXPECT_TRUE(b.s.has_events());
  b.drain_events();
  EXPECT_FALSE(b.s.has_events());
  EXPECT_EQ(b.text(1), "hi");
}
