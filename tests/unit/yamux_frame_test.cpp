// Yamux at the byte level: header codec, malformed input, pings, keep-alive, single frames.
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

bytes frame(std::uint8_t type, std::uint16_t fl, std::uint32_t id, std::uint32_t len,
            std::uint8_t version = 0) {
  return bytes{version,
               type,
               static_cast<std::uint8_t>(fl >> 8),
               static_cast<std::uint8_t>(fl),
               static_cast<std::uint8_t>(id >> 24),
               static_cast<std::uint8_t>(id >> 16),
               static_cast<std::uint8_t>(id >> 8),
               static_cast<std::uint8_t>(id),
               static_cast<std::uint8_t>(len >> 24),
               static_cast<std::uint8_t>(len >> 16),
               static_cast<std::uint8_t>(len >> 8),
               static_cast<std::uint8_t>(len)};
}
bytes data_frame(std::uint16_t fl, std::uint32_t id, std::string_view payload) {
  bytes b = frame(0, fl, id, static_cast<std::uint32_t>(payload.size()));
  append(b, as_bytes(payload));
  return b;
}
bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts)
    append(out, p);
  return out;
}

const time_point t0{std::chrono::seconds(1000)};

y::config quiet() {  // no timers: only what the test feeds produces output
  y::config c;
  c.keepalive_interval = 0s;
  c.ping_on_start = false;
  return c;
}

bytes drain(y::session& s) {
  bytes out;
  s.poll_transmit(out);
  return out;
}

// Events as short strings, so tests compare sequences.
std::vector<std::string> events(y::session& s) {
  std::vector<std::string> out;
  while (auto e = s.poll_event()) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, y::stream_opened>)
            out.push_back("opened " + std::to_string(static_cast<std::uint32_t>(v.id)));
          else if constexpr (std::is_same_v<T, y::stream_acked>)
            out.push_back("acked " + std::to_string(static_cast<std::uint32_t>(v.id)));
          else if constexpr (std::is_same_v<T, y::stream_data>)
            out.push_back("data " + std::to_string(static_cast<std::uint32_t>(v.id)) + " " +
                          std::string(as_chars(v.bytes)));
          else if constexpr (std::is_same_v<T, y::stream_read_closed>)
            out.push_back("fin " + std::to_string(static_cast<std::uint32_t>(v.id)));
          else if constexpr (std::is_same_v<T, y::stream_reset>)
            out.push_back("rst " + std::to_string(static_cast<std::uint32_t>(v.id)));
          else if constexpr (std::is_same_v<T, y::stream_closed>)
            out.push_back("closed " + std::to_string(static_cast<std::uint32_t>(v.id)));
          else if constexpr (std::is_same_v<T, y::stream_writable>)
            out.push_back("writable " + std::to_string(static_cast<std::uint32_t>(v.id)));
          else if constexpr (std::is_same_v<T, y::ping_rtt>)
            out.push_back(
                "rtt " + std::to_string(
                             std::chrono::duration_cast<std::chrono::milliseconds>(v.rtt).count()));
          else if constexpr (std::is_same_v<T, y::go_away_received>)
            out.push_back("goaway " + std::to_string(v.code));
          else if constexpr (std::is_same_v<T, y::session_closed>)
            out.push_back("dead " + v.error.message());
        },
        *e);
  }
  return out;
}

const bytes goaway_protocol_error = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

}  // namespace

TEST(YamuxFrame, HeaderEncodesBigEndian) {
  bytes out;
  y::append_header(
      {0, y::frame_type::window_update, y::flags::syn | y::flags::fin, 0x01020304, 0x0a0b0c0d},
      out);
  EXPECT_EQ(out, (bytes{0, 1, 0, 5, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d}));
  y::header h;
  ASSERT_FALSE(y::decode_header(out.data(), h));
  EXPECT_EQ(h.type, y::frame_type::window_update);
  EXPECT_EQ(h.flags, 5);
  EXPECT_EQ(h.stream, 0x01020304u);
  EXPECT_EQ(h.length, 0x0a0b0c0du);
}

TEST(YamuxFrame, EveryMalformedHeaderGetsGoAwayProtocolError) {
  struct bad {
    bytes in;
    y::errc want;
  };
  const std::vector<bad> cases = {
      {frame(0, 0, 1, 0, /*version*/ 1), y::errc::bad_version},
      {frame(0, 0, 1, 0, 0xff), y::errc::bad_version},
      {frame(4, 0, 1, 0), y::errc::bad_type},
      {frame(0xff, 0, 1, 0), y::errc::bad_type},
      {frame(0, 0x10, 1, 0), y::errc::bad_flags},  // unknown flag bit
      {frame(1, 0x8000, 1, 0), y::errc::bad_flags},
      {frame(0, y::flags::syn | y::flags::ack, 1, 0), y::errc::bad_flags},
      {frame(2, 0, 0, 1), y::errc::bad_flags},  // ping without SYN/ACK
      {frame(2, y::flags::syn | y::flags::ack, 0, 1), y::errc::bad_flags},
      {frame(2, y::flags::fin, 0, 1), y::errc::bad_flags},
      {frame(2, y::flags::syn, 1, 1), y::errc::bad_stream_id},
      {frame(3, y::flags::syn, 0, 0), y::errc::bad_flags},
      {frame(3, 0, 5, 0), y::errc::bad_stream_id},
      {frame(0, 0, 0, 0), y::errc::bad_stream_id},  // data on stream 0
      {frame(1, y::flags::syn, 0, 0), y::errc::bad_stream_id},
      {frame(1, y::flags::syn, 2, 0), y::errc::bad_stream_id},  // listener's parity from a dialer
  };
  for (const auto& c : cases) {
    y::session s(y::role::listener, quiet());
    auto r = s.feed(c.in, t0);
    ASSERT_FALSE(r) << testing::PrintToString(c.in);
    EXPECT_EQ(r.error(), c.want) << testing::PrintToString(c.in);
    EXPECT_TRUE(y::is_protocol_error(r.error()));
    EXPECT_TRUE(s.is_dead());
    EXPECT_EQ(drain(s), goaway_protocol_error);
    EXPECT_TRUE(drain(s).empty()) << "GoAway goes out once";
    auto ev = events(s);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].rfind("dead ", 0), 0u);
    EXPECT_EQ(s.feed(frame(2, y::flags::syn, 0, 1), t0).error(), y::errc::session_dead);
  }
}

TEST(YamuxFrame, PingAnsweredWithExactlyAck) {
  y::session s(y::role::dialer, quiet());
  ASSERT_TRUE(s.feed(frame(2, y::flags::syn, 0, 0x12345678), t0));
  EXPECT_EQ(drain(s), (bytes{0, 2, 0, 2, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78}));
  EXPECT_TRUE(events(s).empty());
}

TEST(YamuxFrame, UnsolicitedOrMismatchedPingAckIgnored) {
  y::session s(y::role::dialer, quiet());
  ASSERT_TRUE(s.feed(frame(2, y::flags::ack, 0, 7), t0));
  EXPECT_TRUE(drain(s).empty());
  EXPECT_TRUE(events(s).empty());
  ASSERT_TRUE(s.ping(t0));
  EXPECT_EQ(drain(s), frame(2, y::flags::syn, 0, 1));
  ASSERT_TRUE(s.feed(frame(2, y::flags::ack, 0, 99), t0 + 5ms));  // wrong value
  EXPECT_TRUE(events(s).empty());
  ASSERT_TRUE(s.feed(frame(2, y::flags::ack, 0, 1), t0 + 30ms));
  EXPECT_EQ(events(s), std::vector<std::string>{"rtt 30"});
  EXPECT_EQ(s.rtt(), 30ms);
  EXPECT_FALSE(s.is_dead());
}

TEST(YamuxFrame, KeepalivePingAndTimeout) {
  y::config c;  // defaults: ping on start, 10 s interval, 10 s timeout
  y::session s(y::role::dialer, c);
  EXPECT_EQ(s.next_deadline(), time_point::min());
  ASSERT_TRUE(s.on_deadline(t0));
  EXPECT_EQ(drain(s), frame(2, y::flags::syn, 0, 1));
  EXPECT_EQ(s.next_deadline(), t0 + 10s) << "the ping timeout";
  ASSERT_TRUE(s.feed(frame(2, y::flags::ack, 0, 1), t0 + 40ms));
  EXPECT_EQ(events(s), std::vector<std::string>{"rtt 40"});
  EXPECT_EQ(s.next_deadline(), t0 + 10s) << "the next keep-alive";
  ASSERT_TRUE(s.on_deadline(t0 + 9s));  // early call: nothing
  EXPECT_TRUE(drain(s).empty());
  ASSERT_TRUE(s.on_deadline(t0 + 10s));
  EXPECT_EQ(drain(s), frame(2, y::flags::syn, 0, 2));
  EXPECT_EQ(s.next_deadline(), t0 + 20s);
  ASSERT_TRUE(s.on_deadline(t0 + 19s));
  EXPECT_FALSE(s.is_dead());
  auto r = s.on_deadline(t0 + 20s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), y::errc::keepalive_timeout);
  EXPECT_TRUE(s.is_dead());
  EXPECT_EQ(s.next_deadline(), no_deadline);
  EXPECT_EQ(events(s), std::vector<std::string>{
                           "dead " + make_error_code(y::errc::keepalive_timeout).message()});
}

TEST(YamuxFrame, SynFinRstOnZeroLengthWindowUpdates) {
  y::session s(y::role::listener, quiet());
  ASSERT_TRUE(s.feed(frame(1, y::flags::syn, 1, 1000), t0));  // SYN announcing 1000 extra bytes
  EXPECT_EQ(events(s), std::vector<std::string>{"opened 1"});
  EXPECT_EQ(s.info(y::stream_id{1})->send_window, y::default_window + 1000u);
  EXPECT_TRUE(drain(s).empty()) << "ACK waits for our first frame (spec advice)";
  ASSERT_TRUE(s.feed(frame(1, y::flags::fin, 1, 0), t0));
  EXPECT_EQ(events(s), std::vector<std::string>{"fin 1"});
  ASSERT_EQ(s.write(y::stream_id{1}, as_bytes("ok")).value(), 2u);
  ASSERT_TRUE(s.close_write(y::stream_id{1}));
  // FIN rides on its own zero-length WindowUpdate after the data (js-yamux drops data that
  // shares a frame with FIN once its write side is closed; docs/interop.md).
  bytes expected = data_frame(y::flags::ack, 1, "ok");
  append(expected, frame(1, y::flags::fin, 1, 0));
  EXPECT_EQ(drain(s), expected);
  EXPECT_EQ(events(s), std::vector<std::string>{"closed 1"});
  EXPECT_EQ(s.stream_count(), 0u);

  ASSERT_TRUE(s.feed(frame(1, y::flags::syn, 3, 0), t0));
  ASSERT_TRUE(s.feed(frame(1, y::flags::rst, 3, 0), t0));
  EXPECT_EQ(events(s), (std::vector<std::string>{"opened 3", "rst 3"}));
  EXPECT_EQ(s.stream_count(), 0u);
  EXPECT_EQ(s.write(y::stream_id{3}, as_bytes("x")).error(), y::errc::unknown_stream);
}

TEST(YamuxFrame, OutboundSynGoesOnZeroLengthWindowUpdateOrFirstData) {
  y::session s(y::role::dialer, quiet());
  auto a = s.open_stream().value();
  EXPECT_EQ(static_cast<std::uint32_t>(a), 1u);
  EXPECT_EQ(drain(s), frame(1, y::flags::syn, 1, 0));
  auto b = s.open_stream().value();
  ASSERT_TRUE(s.write(b, as_bytes("hi")));
  EXPECT_EQ(drain(s), data_frame(y::flags::syn, 3, "hi"));
  ASSERT_TRUE(s.feed(frame(1, y::flags::ack, 3, 0), t0));
  EXPECT_EQ(events(s), std::vector<std::string>{"acked 3"});
}

TEST(YamuxFrame, DataFrameOfExactlyTheWindowAcceptedOneMoreByteRejected) {
  y::session s(y::role::listener, quiet());
  bytes big = frame(0, y::flags::syn, 1, y::default_window);
  big.resize(big.size() + y::default_window, 0x5a);
  ASSERT_TRUE(s.feed(big, t0));
  auto e = s.poll_event();
  ASSERT_TRUE(e && std::holds_alternative<y::stream_opened>(*e));
  e = s.poll_event();
  ASSERT_TRUE(e && std::holds_alternative<y::stream_data>(*e));
  EXPECT_EQ(std::get<y::stream_data>(*e).bytes.size(), y::default_window);
  auto r = s.feed(data_frame(0, 1, "x"), t0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), y::errc::window_exceeded);
  EXPECT_EQ(drain(s), goaway_protocol_error);

  y::session s2(y::role::listener, quiet());
  bytes over = frame(0, y::flags::syn, 1, y::default_window + 1);
  EXPECT_EQ(s2.feed(over, t0).error(), y::errc::window_exceeded) << "rejected at the header";
  EXPECT_EQ(drain(s2), goaway_protocol_error);
}

TEST(YamuxFrame, LateFramesForForgottenStreamsIgnored) {
  y::session s(y::role::listener, quiet());
  ASSERT_TRUE(s.feed(data_frame(y::flags::syn | y::flags::fin, 1, "a"), t0));
  ASSERT_TRUE(s.close_write(y::stream_id{1}));
  EXPECT_EQ(drain(s), frame(1, y::flags::ack | y::flags::fin, 1, 0));
  EXPECT_EQ(events(s), (std::vector<std::string>{"opened 1", "data 1 a", "fin 1", "closed 1"}));
  EXPECT_EQ(s.stream_count(), 0u);
  // js keeps sending window updates after close; data after RST; frames for unknown ids.
  ASSERT_TRUE(
      s.feed(cat({frame(1, 0, 1, 4096), data_frame(0, 1, "late"), frame(1, y::flags::rst, 1, 0),
                  data_frame(0, 7, "never opened"), frame(1, 0, 9, 1)}),
             t0));
  EXPECT_TRUE(drain(s).empty());
  EXPECT_TRUE(events(s).empty());
  EXPECT_FALSE(s.is_dead());
  // The parser is still in step: a new stream works.
  ASSERT_TRUE(s.feed(data_frame(y::flags::syn, 11, "next"), t0));
  EXPECT_EQ(events(s), (std::vector<std::string>{"opened 11", "data 11 next"}));
}

TEST(YamuxFrame, SynReusingIdRejected) {
  y::session s(y::role::listener, quiet());
  ASSERT_TRUE(s.feed(frame(1, y::flags::syn, 5, 0), t0));
  auto r = s.feed(frame(1, y::flags::syn, 5, 0), t0);
  EXPECT_EQ(r.error(), y::errc::stream_id_reused);
  EXPECT_EQ(drain(s), goaway_protocol_error);
  y::session s2(y::role::listener, quiet());
  ASSERT_TRUE(s2.feed(frame(1, y::flags::syn, 5, 0), t0));
  EXPECT_EQ(s2.feed(frame(1, y::flags::syn, 3, 0), t0).error(), y::errc::stream_id_reused)
      << "ids only grow";
  y::session d(y::role::dialer, quiet());
  EXPECT_EQ(d.feed(frame(1, y::flags::syn, 3, 0), t0).error(), y::errc::bad_stream_id)
      << "dialer ids are ours";
}

TEST(YamuxFrame, SplitAtEveryByteBoundary) {
  const bytes input =
      cat({data_frame(y::flags::syn, 1, "hello"), frame(2, y::flags::syn, 0, 42),
           frame(1, y::flags::syn, 3, 10), data_frame(0, 1, " world"),
           data_frame(y::flags::fin, 3, "xyz"), frame(1, y::flags::rst, 1, 0), frame(3, 0, 0, 0)});
  auto run = [&](std::vector<std::size_t> cuts) {
    y::session s(y::role::listener, quiet());
    std::vector<std::string> ev;
    bytes out;
    std::size_t prev = 0;
    cuts.push_back(input.size());
    for (auto c : cuts) {
      EXPECT_TRUE(s.feed(bytes_view(input).subspan(prev, c - prev), t0));
      prev = c;
      for (auto& e : events(s))
        ev.push_back(e);
      s.poll_transmit(out);
    }
    return std::make_pair(ev, out);
  };
  const auto whole = run({});
  EXPECT_EQ(whole.first, (std::vector<std::string>{"opened 1", "data 1 hello world", "opened 3",
                                                   "data 3 xyz", "fin 3", "rst 1", "goaway 0"}));
  EXPECT_EQ(whole.second, frame(2, y::flags::ack, 0, 42));
  // Data events coalesce differently with different splits: compare each stream's bytes and
  // the order of the other events.
  auto merged = [](const std::vector<std::string>& v) {
    std::vector<std::string> m;
    std::map<std::string, std::string> data;
    for (const auto& e : v) {
      if (e.rfind("data ", 0) == 0) {
        const auto sp = e.find(' ', 5);
        data[e.substr(5, sp - 5)] += e.substr(sp + 1);
      } else {
        m.push_back(e);
      }
    }
    for (const auto& [id, d] : data)
      m.push_back("data " + id + " " + d);
    return m;
  };
  for (std::size_t cut = 1; cut < input.size(); ++cut) {
    auto got = run({cut});
    EXPECT_EQ(got.second, whole.second) << cut;
    EXPECT_EQ(merged(got.first), merged(whole.first)) << cut;
  }
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < input.size(); ++i)
    every.push_back(i);
  auto bytewise = run(every);
  EXPECT_EQ(bytewise.second, whole.second);
  EXPECT_EQ(merged(bytewise.first), merged(whole.first));
}
