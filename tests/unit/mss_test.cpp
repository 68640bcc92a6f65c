#include <gtest/gtest.h>

#include "core/mss/dialer.hpp"
#include "core/mss/listener.hpp"

using namespace starling;

namespace {
bytes msg(std::string_view text) {
  bytes b;
  mss::detail::write_message(text, b);
  return b;
}
bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts)
    append(out, p);
  return out;
}
bytes raw(std::string_view s) {
  return bytes(s.begin(), s.end());
}
bytes transmit(auto& core) {
  bytes out;
  core.poll_transmit(out);
  return out;
}
const bytes hdr = msg(mss::header);

// Feeds `input` split at `at`, the way a caller does: stops feeding once negotiation is done
// and treats the rest as application data. Returns the application bytes seen.
template <class Core>
bytes feed_split(Core& core, const bytes& input, std::size_t at) {
  bytes app;
  bytes_view first = bytes_view(input).first(at), second = bytes_view(input).subspan(at);
  for (bytes_view part : {first, second}) {
    if (core.is_done()) {
      append(app, part);
      continue;
    }
    auto r = core.feed(part);
    EXPECT_TRUE(r) << r.error().message();
    if (core.is_done()) append(app, core.take_remaining());
  }
  return app;
}
}  // namespace

TEST(Mss, MessageBytes) {
  EXPECT_EQ(msg("na"), (bytes{0x03, 0x6e, 0x61, 0x0a}));
  EXPECT_EQ(hdr, cat({bytes{0x13}, raw("/multistream/1.0.0\n")}));
  std::error_code ec;
  const bytes in{0x03, 0x6e, 0x61, 0x0a, 0xff};
  auto m = mss::detail::read_message(in, ec);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text, "na");
  EXPECT_EQ(m->consumed, 4u);
  EXPECT_FALSE(mss::detail::read_message(bytes{0x03, 0x6e, 0x61}, ec));
  EXPECT_FALSE(ec) << "incomplete asks for more";
}

TEST(Mss, MessageErrors) {
  std::error_code ec;
  EXPECT_FALSE(mss::detail::read_message(bytes{0x00}, ec));
  EXPECT_EQ(ec, mss::errc::malformed);
  EXPECT_FALSE(mss::detail::read_message(bytes{0x02, 'n', 'a'}, ec));
  EXPECT_EQ(ec, mss::errc::malformed) << "no trailing newline";
  EXPECT_FALSE(mss::detail::read_message(bytes{0x81, 0x08}, ec));  // 1025
  EXPECT_EQ(ec, mss::errc::too_long);
  bytes max = {0x80, 0x08};  // exactly 1024 is allowed
  max.resize(2 + 1023, 'a');
  max.push_back('\n');
  auto m = mss::detail::read_message(max, ec);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->text.size(), 1023u);
  EXPECT_FALSE(mss::detail::read_message(bytes{0x80, 0x00}, ec));
  EXPECT_EQ(ec, mss::errc::malformed) << "non-minimal varint";
}

TEST(Mss, DialerCreateValidates) {
  EXPECT_EQ(mss::dialer::create({}).error(), mss::errc::invalid_argument);
  EXPECT_EQ(mss::dialer::create({"/a", "/b"}, mss::mode::lazy).error(),
            mss::errc::invalid_argument);
  EXPECT_EQ(mss::dialer::create({"noslash"}).error(), mss::errc::invalid_protocol);
  EXPECT_EQ(mss::dialer::create({"/a\nb"}).error(), mss::errc::invalid_protocol);
  EXPECT_EQ(mss::dialer::create({"/" + std::string(1023, 'x')}).error(),
            mss::errc::invalid_protocol);
  EXPECT_TRUE(mss::dialer::create({"/" + std::string(1022, 'x')}));
}

TEST(Mss, DialerWaitEchoSendsHeaderAndProtocolAtOnce) {
  const bytes reply = cat({hdr, msg("/noise")});
  for (std::size_t at = 0; at <= reply.size(); ++at) {
    auto d = mss::dialer::create({"/noise"}).value();
    EXPECT_EQ(transmit(d), cat({hdr, msg("/noise")})) << "no wait for the listener's header";
    EXPECT_FALSE(d.may_send_data());
    EXPECT_TRUE(feed_split(d, reply, at).empty());
    EXPECT_TRUE(d.is_done()) << at;
    EXPECT_TRUE(d.may_send_data());
    EXPECT_EQ(d.selected(), "/noise");
    EXPECT_TRUE(transmit(d).empty());
  }
}

TEST(Mss, DialerTriesNextOnNa) {
  auto d = mss::dialer::create({"/yamux/2.0.0", "/yamux/1.0.0"}).value();
  (void)transmit(d);
  ASSERT_TRUE(d.feed(cat({hdr, msg("na")})));
  EXPECT_FALSE(d.is_done());
  EXPECT_EQ(transmit(d), msg("/yamux/1.0.0"));
  ASSERT_TRUE(d.feed(msg("/yamux/1.0.0")));
  EXPECT_TRUE(d.is_done());
  EXPECT_EQ(d.selected(), "/yamux/1.0.0");
  EXPECT_EQ(d.feed(bytes{1}).error(), mss::errc::already_done);
}

TEST(Mss, DialerAllRejected) {
  auto d = mss::dialer::create({"/a", "/b"}).value();
  EXPECT_EQ(d.feed(cat({hdr, msg("na"), msg("na")})).error(), mss::errc::no_protocol);
  EXPECT_FALSE(d.is_done());
  EXPECT_EQ(d.feed(hdr).error(), mss::errc::no_protocol) << "the error sticks";
}

TEST(Mss, DialerErrors) {
  auto d1 = mss::dialer::create({"/a"}).value();
  EXPECT_EQ(d1.feed(msg("/multistream/2.0.0")).error(), mss::errc::wrong_header);
  auto d2 = mss::dialer::create({"/a"}).value();
  EXPECT_EQ(d2.feed(cat({hdr, msg("/b")})).error(), mss::errc::unexpected_message);
  auto d3 = mss::dialer::create({"/a"}).value();
  EXPECT_EQ(d3.feed(bytes{0x81, 0x08}).error(), mss::errc::too_long);
  auto d4 = mss::dialer::create({"/a"}, mss::mode::lazy).value();
  EXPECT_TRUE(d4.may_send_data());
  EXPECT_EQ(d4.feed(cat({hdr, msg("na")})).error(), mss::errc::rejected);
  EXPECT_FALSE(d4.may_send_data());
}

TEST(Mss, LazyDialerReceivesHeaderEchoAndDataInOneBuffer) {
  const bytes data = {0x00, 0x0a, 0x13, 'x', 0xff};
  const bytes reply = cat({hdr, msg("/noise"), data});
  for (std::size_t at = 0; at <= reply.size(); ++at) {
    auto d = mss::dialer::create({"/noise"}, mss::mode::lazy).value();
    EXPECT_TRUE(d.may_send_data()) << "lazy: data may follow the proposal at once";
    EXPECT_EQ(transmit(d), cat({hdr, msg("/noise")}));
    EXPECT_EQ(feed_split(d, reply, at), data) << at;
    EXPECT_TRUE(d.is_done());
  }
}

TEST(Mss, ListenerJsStyleDialer) {
  // js 3.x dialer: header + protocol in one write, then waits for the echo.
  const bytes in = cat({hdr, msg("/ipfs/id/1.0.0")});
  for (std::size_t at = 0; at <= in.size(); ++at) {
    mss::listener l({"/ipfs/ping/1.0.0", "/ipfs/id/1.0.0"});
    EXPECT_EQ(transmit(l), hdr) << "our header is queued at once";
    EXPECT_TRUE(feed_split(l, in, at).empty());
    EXPECT_TRUE(l.is_done());
    EXPECT_EQ(l.selected(), "/ipfs/id/1.0.0");
    EXPECT_EQ(transmit(l), msg("/ipfs/id/1.0.0"));
  }
}

TEST(Mss, ListenerKeepsDataSentBeforeEcho) {
  // go/rust dialer: header + protocol + application data, no wait for the echo.
  const bytes data = raw("\x00\x00\x00\x05hello, noise msg1");
  const bytes in = cat({hdr, msg("/noise"), data});
  for (std::size_t at = 0; at <= in.size(); ++at) {
    mss::listener l({"/noise"});
    bytes app;
    bytes_view parts[] = {bytes_view(in).first(at), bytes_view(in).subspan(at)};
    bytes sent = transmit(l);
    for (auto part : parts) {
      if (l.is_done()) {
        append(app, part);
        continue;
      }
      ASSERT_TRUE(l.feed(part));
      append(sent, transmit(l));  // the echo is available before we wait for more
      if (l.is_done()) {
        EXPECT_EQ(sent, cat({hdr, msg("/noise")})) << at;
        append(app, l.take_remaining());
      }
    }
    EXPECT_EQ(app, data) << at;
  }
}

TEST(Mss, ListenerNaThenSelect) {
  mss::listener l({"/yamux/1.0.0"});
  (void)transmit(l);
  ASSERT_TRUE(l.feed(cat({hdr, msg("/mplex/6.7.0")})));
  EXPECT_EQ(transmit(l), (bytes{0x03, 0x6e, 0x61, 0x0a}));
  EXPECT_FALSE(l.is_done());
  ASSERT_TRUE(l.feed(msg("/yamux/1.0.0")));
  EXPECT_EQ(transmit(l), msg("/yamux/1.0.0"));
  EXPECT_EQ(l.feed(bytes{0}).error(), mss::errc::already_done);
}

TEST(Mss, ListenerAnswersLs) {
  mss::listener l({"/a", "/bc"});
  (void)transmit(l);
  ASSERT_TRUE(l.feed(cat({hdr, msg("ls")})));
  // One message: "\x03/a\n" "\x04/bc\n" "\n" = 10 bytes.
  EXPECT_EQ(transmit(l), cat({bytes{0x0a}, msg("/a"), msg("/bc"), raw("\n")}));
  EXPECT_FALSE(l.is_done());
}

TEST(Mss, ListenerPredicate) {
  mss::listener l([](std::string_view p) { return p.starts_with("/starling/"); });
  ASSERT_TRUE(l.feed(cat({hdr, msg("/starling/data/1")})));
  EXPECT_TRUE(l.is_done());
  EXPECT_EQ(l.selected(), "/starling/data/1");
  EXPECT_EQ(transmit(l), cat({hdr, msg("/starling/data/1")}));
}

TEST(Mss, ListenerRejectsInvalidIdsWithNa) {
  mss::listener l([](std::string_view) { return true; });
  (void)transmit(l);
  ASSERT_TRUE(l.feed(cat({hdr, msg("noslash"), msg("ls")})));
  EXPECT_FALSE(l.is_done());
  EXPECT_EQ(transmit(l), cat({msg("na"), bytes{0x01, '\n'}}));
}

TEST(Mss, ListenerBoundsNaRounds) {
  mss::listener l({"/a"});
  bytes in = hdr;
  for (std::size_t i = 0; i < mss::max_attempts; ++i)
    append(in, msg("/nope"));
  ASSERT_TRUE(l.feed(in));
  EXPECT_EQ(l.feed(msg("/nope")).error(), mss::errc::too_many_attempts);
  EXPECT_EQ(l.feed(msg("/a")).error(), mss::errc::too_many_attempts);
}

TEST(Mss, ListenerErrors) {
  mss::listener l1({"/a"});
  EXPECT_EQ(l1.feed(msg("/a")).error(), mss::errc::wrong_header);
  mss::listener l2({"/a"});
  EXPECT_EQ(l2.feed(cat({hdr, bytes{0x02, 'n', 'a'}})).error(), mss::errc::malformed);
  mss::listener l3({"/a"});
  EXPECT_EQ(l3.feed(cat({hdr, bytes{0xff, 0xff, 0x03}})).error(), mss::errc::too_long);
}

TEST(Mss, DialerAndListenerTogether) {
  auto d = mss::dialer::create({"/x/1", "/y/1", "/z/1"}).value();
  mss::listener l({"/z/1"});
  for (int round = 0; round < 10 && !(d.is_done() && l.is_done()); ++round) {
    bytes a = transmit(d), b = transmit(l);
    if (!a.empty() && !l.is_done()) {
      ASSERT_TRUE(l.feed(a));
    }
    if (!b.empty() && !d.is_done()) {
      ASSERT_TRUE(d.feed(b));
    }
  }
  EXPECT_TRUE(d.is_done());
  EXPECT_TRUE(l.is_done());
  EXPECT_EQ(d.selected(), "/z/1");
  EXPECT_EQ(l.selected(), "/z/1");
}

TEST(Mss, WaitEchoDialerKeepsDataAfterEcho) {
  // An identify listener writes its record right behind the echo.
  const bytes record = {0x05, 0x32, 0x03, 'j', 's', '!'};
  const bytes reply = cat({hdr, msg("na"), msg("/ipfs/id/1.0.0"), record});
  for (std::size_t at = 0; at <= reply.size(); ++at) {
    auto d = mss::dialer::create({"/ipfs/id/2.0.0", "/ipfs/id/1.0.0"}).value();
    (void)transmit(d);
    EXPECT_EQ(feed_split(d, reply, at), record) << at;
    EXPECT_EQ(d.selected(), "/ipfs/id/1.0.0");
    EXPECT_EQ(transmit(d), msg("/ipfs/id/1.0.0"));
  }
}
