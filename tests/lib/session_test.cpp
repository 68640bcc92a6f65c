// The public C++ library (include/starling) end to end: sessions embedded in this process,
// talking over 127.0.0.1 with ephemeral ports. Only public headers are used here, as an
// application would.
#include <gtest/gtest.h>
#include <starling/starling.hpp>

#include <unistd.h>
#include <atomic>
#include <chrono>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

constexpr auto wait_limit = 10s;

/// A session, or the test binary stops (nothing else can be tested without one).
starling::session open_or_abort(const starling::session_options& o = {}) {
  auto s = starling::session::open(o);
  if (!s) {
    std::fprintf(stderr, "session::open: %s\n", s.error().message().c_str());
    std::abort();
  }
  return std::move(*s);
}

/// Options that connect to `to`.
starling::session_options connecting_to(const starling::session& to) {
  starling::session_options o;
  o.connect = {to.listen_addrs().at(0)};
  return o;
}

/// Two sessions, `b` connected to `a`.
struct pair_of_sessions {
  starling::session a = open_or_abort();
  starling::session b = open_or_abort(connecting_to(a));
};

/// Samples a handler saw, and a way to wait for them.
struct collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<starling::sample> samples;

  starling::sample_handler handler() {
    return [this](const starling::sample& s) {
      {
        std::lock_guard lk(mu);
        samples.push_back(s);
      }
      cv.notify_all();
    };
  }
  /// Waits until at least `n` samples arrived.
  bool wait_for(std::size_t n) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, wait_limit, [&] { return samples.size() >= n; });
  }
  std::size_t size() {
    std::lock_guard lk(mu);
    return samples.size();
  }
};

std::string text_of(const starling::sample& s) {
  return std::string(s.text());
}

}  // namespace

TEST(LibSession, PeerIdAndListenAddrs) {
  auto s = starling::session::open();
  ASSERT_TRUE(s) << s.error().message();
  const std::string id = s->peer_id();
  EXPECT_EQ(id.rfind("12D3KooW", 0), 0u) << id;
  const auto addrs = s->listen_addrs();
  ASSERT_EQ(addrs.size(), 1u);
  EXPECT_EQ(addrs[0].rfind("/ip4/127.0.0.1/tcp/", 0), 0u) << addrs[0];
  EXPECT_EQ(addrs[0].find("/tcp/0/"), std::string::npos) << "the real port: " << addrs[0];
  EXPECT_TRUE(addrs[0].ends_with("/p2p/" + id)) << addrs[0];
  EXPECT_TRUE(s->peers().empty());
}

TEST(LibSession, HandlerReceivesAcrossSessions) {
  pair_of_sessions p;
  EXPECT_EQ(p.b.peers(), std::vector<std::string>{p.a.peer_id()});
  collector got;
  auto sub = p.b.declare_subscriber("home/*/temp", got.handler());
  ASSERT_TRUE(sub) << sub.error().message();
  EXPECT_EQ(sub->key_expr(), "home/*/temp");

  auto pub = p.a.declare_publisher("home/kitchen/temp", "text/plain");
  ASSERT_TRUE(pub) << pub.error().message();
  ASSERT_TRUE(pub->wait_matched(wait_limit)) << "b's subscription never reached a";
  EXPECT_TRUE(pub->matched());
  ASSERT_TRUE(pub->put("21.5"));
  ASSERT_TRUE(pub->del());
  ASSERT_TRUE(got.wait_for(2));

  std::lock_guard lk(got.mu);
  const auto& s = got.samples[0];
  EXPECT_EQ(s.key, "home/kitchen/temp");
  EXPECT_EQ(text_of(s), "21.5");
  EXPECT_EQ(s.encoding, "text/plain");
  EXPECT_EQ(s.kind, starling::sample_kind::put);
  EXPECT_EQ(s.source, p.a.peer_id());
  EXPECT_NE(s.timestamp, 0u);
  EXPECT_GE(s.seq, 1u);
  const auto& d = got.samples[1];
  EXPECT_EQ(d.kind, starling::sample_kind::del);
  EXPECT_TRUE(d.payload.empty());
  EXPECT_EQ(d.seq, s.seq + 1);
  EXPECT_EQ(d.publisher, s.publisher);
  EXPECT_GE(d.timestamp, s.timestamp);
}

TEST(LibSession, PullModeReceivesInOrder) {
  pair_of_sessions p;
  auto sub = p.b.declare_subscriber("sensor/**");
  ASSERT_TRUE(sub) << sub.error().message();
  auto pub = p.a.declare_publisher("sensor/1");
  ASSERT_TRUE(pub);
  ASSERT_TRUE(pub->wait_matched(wait_limit));
  EXPECT_FALSE(sub->try_recv()) << "nothing was published yet";
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(p.a.put("sensor/1", std::to_string(i)));
  for (int i = 0; i < 5; ++i) {
    auto s = sub->recv(wait_limit);
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->key, "sensor/1");
    EXPECT_EQ(text_of(*s), std::to_string(i));
  }
  auto none = sub->recv(50ms);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), starling::errc::timeout);
  EXPECT_EQ(sub->dropped(), 0u);
}

TEST(LibSession, FullQueueDropsTheOldest) {
  auto s = starling::session::open();
  ASSERT_TRUE(s);
  starling::subscriber_options o;
  o.queue_capacity = 2;
  auto sub = s->declare_subscriber("q", o);
  ASSERT_TRUE(sub);
  // Local subscribers get a sample within put(): by the time put returns it is queued.
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(s->put("q", std::to_string(i)));
  EXPECT_EQ(sub->dropped(), 3u);
  auto first = sub->try_recv();
  auto second = sub->try_recv();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(text_of(*first), "3");
  EXPECT_EQ(text_of(*second), "4");
  EXPECT_FALSE(sub->try_recv());

  o.queue_capacity = 0;
  auto bad = s->declare_subscriber("q", o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), starling::errc::invalid_argument);
}

TEST(LibSession, DestroyedSubscriberGetsNothingMore) {
  pair_of_sessions p;
  collector gone;
  auto sub = p.b.declare_subscriber("k", gone.handler());
  ASSERT_TRUE(sub);
  auto stays = p.b.declare_subscriber("k");
  ASSERT_TRUE(stays);
  auto pub = p.a.declare_publisher("k");
  ASSERT_TRUE(pub && pub->wait_matched(wait_limit));

  ASSERT_TRUE(pub->put("before"));
  ASSERT_TRUE(gone.wait_for(1));
  ASSERT_TRUE(stays->recv(wait_limit));

  { auto dropped = std::move(*sub); }  // the handle goes: undeclared
  EXPECT_FALSE(*sub) << "a moved-from handle is empty";
  ASSERT_TRUE(pub->put("after"));
  // The other subscriber on the same node gets it, so it has arrived there.
  auto after = stays->recv(wait_limit);
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(text_of(*after), "after");
  EXPECT_EQ(gone.size(), 1u) << "the undeclared handler ran again";
}

TEST(LibSession, BadKeysSayWhereTheyAreWrong) {
  auto s = starling::session::open();
  ASSERT_TRUE(s);
  auto put = s->put("home//temp", "x");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), starling::errc::invalid_argument);
  EXPECT_NE(put.error().message().find("empty chunk at byte 5"), std::string::npos)
      << put.error().message();

  auto sub = s->declare_subscriber("home/kitchen?", [](const starling::sample&) {});
  ASSERT_FALSE(sub);
  EXPECT_EQ(sub.error().code(), starling::errc::invalid_argument);
  EXPECT_NE(sub.error().message().find("at byte 12"), std::string::npos) << sub.error().message();

  auto pub = s->declare_publisher("home/*/temp");
  ASSERT_FALSE(pub);
  EXPECT_EQ(pub.error().code(), starling::errc::invalid_argument);
  EXPECT_NE(pub.error().message().find("at byte 5"), std::string::npos) << pub.error().message();

  auto big = s->put("k", std::string(512 * 1024 + 1, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), starling::errc::refused);
}

TEST(LibSession, PutsFromOtherThreads) {
  pair_of_sessions p;
  starling::subscriber_options o;
  o.queue_capacity = 1000;
  auto sub = p.b.declare_subscriber("t/*", o);
  ASSERT_TRUE(sub);
  auto pub = p.a.declare_publisher("t/0");
  ASSERT_TRUE(pub && pub->wait_matched(wait_limit));

  constexpr int threads = 4;
  constexpr int per_thread = 50;
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      const std::string key = "t/" + std::to_string(t);
      for (int i = 0; i < per_thread; ++i) {
        if (!p.a.put(key, std::to_string(i))) ++failures;
      }
    });
  }
  for (auto& w : workers)
    w.join();
  EXPECT_EQ(failures.load(), 0);

  std::vector<int> next(threads, 0);
  for (int n = 0; n < threads * per_thread; ++n) {
    auto s = sub->recv(wait_limit);
    ASSERT_TRUE(s) << "after " << n << " samples: " << s.error().message();
    const int t = std::stoi(s->key.substr(2));
    ASSERT_GE(t, 0);
    ASSERT_LT(t, threads);
    EXPECT_EQ(text_of(*s), std::to_string(next[t])) << "key " << s->key << " out of order";
    ++next[t];
  }
  EXPECT_EQ(next, std::vector<int>(threads, per_thread));
  EXPECT_EQ(sub->dropped(), 0u);
}

TEST(LibSession, HandlersMayPublishButNotWait) {
  pair_of_sessions p;
  std::atomic<int> would_block{0};
  // b answers every "ping" with a "pong", from inside its handler (on b's network thread).
  auto echo = p.b.declare_subscriber("ping", [&](const starling::sample& s) {
    auto r = p.b.put("pong", s.text());
    EXPECT_TRUE(r) << r.error().message();
    auto c = p.b.connect(p.a.listen_addrs().at(0));
    if (!c && c.error().code() == starling::errc::would_block) ++would_block;
  });
  ASSERT_TRUE(echo);
  auto pongs = p.a.declare_subscriber("pong");
  ASSERT_TRUE(pongs);
  auto ping = p.a.declare_publisher("ping");
  ASSERT_TRUE(ping && ping->wait_matched(wait_limit));
  // b's publisher of "pong" is implicit; wait until a's subscription is known on b too.
  auto pong_pub = p.b.declare_publisher("pong");
  ASSERT_TRUE(pong_pub && pong_pub->wait_matched(wait_limit));

  ASSERT_TRUE(ping->put("hello"));
  auto pong = pongs->recv(wait_limit);
  ASSERT_TRUE(pong) << pong.error().message();
  EXPECT_EQ(text_of(*pong), "hello");
  EXPECT_EQ(pong->source, p.b.peer_id());
  EXPECT_EQ(would_block.load(), 1);
}

TEST(LibSession, ClosedSessionAnswersClosed) {
  auto s = starling::session::open();
  ASSERT_TRUE(s);
  auto pub = s->declare_publisher("k");
  auto sub = s->declare_subscriber("k");
  ASSERT_TRUE(pub && sub);
  s->close();
  auto put = pub->put("x");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), starling::errc::closed);
  auto got = sub->recv(wait_limit);  // returns at once: the queue was closed
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), starling::errc::closed);
  auto again = s->put("k", "x");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), starling::errc::closed);
  EXPECT_TRUE(s->peer_id().empty());
  EXPECT_FALSE(pub->matched());
}

TEST(LibSession, ConnectErrors) {
  auto a = starling::session::open();
  auto b = starling::session::open();
  ASSERT_TRUE(a && b);
  auto bad = b->connect("/ip4/127.0.0.1/udp/1");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), starling::errc::invalid_argument);
  auto garbage = b->connect("not an address");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code(), starling::errc::invalid_argument);
  EXPECT_NE(garbage.error().message().find("not an address"), std::string::npos);

  // a's address with b's own peer id: the handshake proves someone else answers.
  std::string addr = a->listen_addrs().at(0);
  addr = addr.substr(0, addr.find("/p2p/")) + "/p2p/" + b->peer_id();
  auto wrong = b->connect(addr);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), starling::errc::io) << wrong.error().message();

  starling::session_options o;
  o.listen = {"/ip4/127.0.0.1/tcp/notaport"};
  auto s = starling::session::open(o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), starling::errc::invalid_argument);
}

TEST(LibSession, DataDirKeepsTheIdentity) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("starling-lib-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  starling::session_options o;
  o.data_dir = dir.string();
  o.listen.clear();
  std::string first;
  {
    auto s = starling::session::open(o);
    ASSERT_TRUE(s) << s.error().message();
    first = s->peer_id();
    EXPECT_TRUE(s->listen_addrs().empty());
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "identity.key"));
  auto again = starling::session::open(o);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->peer_id(), first);
  std::filesystem::remove_all(dir);
}
