// The public C++ library (include/starling) end to end: sessions embedded in this process,
// talking over 127.0.0.1 with ephemeral ports. Only public headers are used here, as an
// application would.
#include <gtest/gtest.h>
#include <starling/starling.hpp>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
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

// ---- publisher options ----

TEST(LibSession, PublisherOptions) {
  pair_of_sessions p;
  auto sub = p.b.declare_subscriber("opt/**");
  ASSERT_TRUE(sub);
  starling::publisher_options o;
  o.reliable = false;
  o.express = true;
  o.priority = starling::priority::real_time;
  o.congestion = starling::congestion_control::drop;
  o.encoding = "application/json";
  auto fast = p.a.declare_publisher("opt/fast", o);
  ASSERT_TRUE(fast) << fast.error().message();
  EXPECT_EQ(fast->options().priority, starling::priority::real_time);
  auto plain = p.a.declare_publisher("opt/plain");
  ASSERT_TRUE(plain);
  ASSERT_TRUE(fast->wait_matched(wait_limit));
  ASSERT_TRUE(fast->put("{\"v\":1}"));
  ASSERT_TRUE(plain->put("2"));

  auto first = sub->recv(wait_limit);
  auto second = sub->recv(wait_limit);
  ASSERT_TRUE(first && second);
  // The express, real-time sample may overtake the other one: look each up by key.
  const starling::sample& f = first->key == "opt/fast" ? *first : *second;
  const starling::sample& d = first->key == "opt/fast" ? *second : *first;
  EXPECT_EQ(f.key, "opt/fast");
  EXPECT_EQ(text_of(f), "{\"v\":1}");
  EXPECT_EQ(f.encoding, "application/json");
  EXPECT_EQ(f.seq, 1u) << "a declared publisher numbers its own samples";
  EXPECT_EQ(d.key, "opt/plain");
  EXPECT_EQ(d.encoding, "");
  EXPECT_NE(f.publisher, d.publisher);

  auto bad = p.a.declare_publisher("opt/*", o);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), starling::errc::invalid_argument);
  EXPECT_NE(bad.error().message().find("at byte 4"), std::string::npos) << bad.error().message();
  o.encoding = std::string(129, 'e');
  auto long_encoding = p.a.declare_publisher("opt/x", o);
  ASSERT_FALSE(long_encoding);
  EXPECT_EQ(long_encoding.error().code(), starling::errc::invalid_argument);

  fast->undeclare();
  EXPECT_FALSE(*fast);
  auto after = fast->put("x");
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code(), starling::errc::closed);
}

// ---- queries ----

namespace {

/// Waits until `observer` knows of everything `declarer` declared so far: `declarer` declares a
/// token, which reaches `observer` in the same node record as its earlier declarations.
/// Returns the token (keep it while the declarations matter).
starling::liveliness_token known_to(starling::session& declarer, starling::session& observer) {
  const std::string key = "ready/" + declarer.peer_id();
  std::mutex mu;
  std::condition_variable cv;
  bool seen = false;
  auto watch = observer.watch_liveliness(key, [&](const starling::liveliness_event& e) {
    if (e.what != starling::liveliness_event::kind::joined) return;
    {
      std::lock_guard lk(mu);
      seen = true;
    }
    cv.notify_all();
  });
  if (!watch) std::abort();
  auto token = declarer.declare_token(key);
  if (!token) std::abort();
  std::unique_lock lk(mu);
  if (!cv.wait_for(lk, wait_limit, [&] { return seen; })) {
    std::fprintf(stderr, "the token of %s never reached %s\n", declarer.peer_id().c_str(),
                 observer.peer_id().c_str());
    std::abort();
  }
  lk.unlock();
  watch->undeclare();  // before `mu` and `cv` go
  return std::move(*token);
}

/// A queryable for blinds: "close"/"open" in the payload sets their state, the reply says it.
starling::query_handler blinds_handler() {
  return [](starling::query q) {
    const std::string state = q.text() == "close" ? "closed" : "open";
    auto r = q.reply("building/floor1/blinds/east", state, "text/plain");
    EXPECT_TRUE(r) << r.error().message();
  };
}

}  // namespace

TEST(LibSession, GetAcrossSessions) {
  pair_of_sessions p;
  std::string seen_expr;
  std::string seen_params;
  auto blinds = p.a.declare_queryable("building/floor1/blinds/*", [&](starling::query q) {
    seen_expr = q.key_expr();
    seen_params = q.parameters();
    blinds_handler()(std::move(q));
  });
  ASSERT_TRUE(blinds) << blinds.error().message();
  EXPECT_EQ(blinds->key_expr(), "building/floor1/blinds/*");
  auto ready = known_to(p.a, p.b);

  starling::get_options o;
  o.payload = starling::to_bytes("close");
  auto replies = p.b.get("building/floor1/blinds/*?level=3", o);
  ASSERT_TRUE(replies) << replies.error().message();
  ASSERT_EQ(replies->size(), 1u);
  const starling::reply& r = replies->front();
  EXPECT_EQ(r.key, "building/floor1/blinds/east");
  EXPECT_EQ(r.text(), "closed");
  EXPECT_EQ(r.encoding, "text/plain");
  EXPECT_EQ(r.source, p.a.peer_id());
  EXPECT_NE(r.timestamp, 0u);
  EXPECT_FALSE(r.is_error);
  // The handler ran (on a's network thread) before its reply was sent.
  EXPECT_EQ(seen_expr, "building/floor1/blinds/*");
  EXPECT_EQ(seen_params, "level=3");

  // The callback form, with no payload: the blinds open.
  std::promise<std::vector<starling::reply>> got;
  std::vector<starling::reply> collected;
  auto sent = p.b.get(
      "building/floor1/**", [&](const starling::reply& x) { collected.push_back(x); },
      [&](const starling::get_done& d) {
        EXPECT_EQ(d.reason, starling::get_end::complete);
        EXPECT_EQ(d.nodes_asked, 1u);
        EXPECT_EQ(d.replies, 1u);
        got.set_value(collected);
      });
  ASSERT_TRUE(sent) << sent.error().message();
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(wait_limit), std::future_status::ready);
  auto v = f.get();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].text(), "open");
}

TEST(LibSession, ReplyFromAnotherThreadAfterTheHandlerReturned) {
  pair_of_sessions p;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<starling::query> held;
  auto qbl = p.a.declare_queryable("slow/**", [&](starling::query q) {
    {
      std::lock_guard lk(mu);
      held = std::move(q);
    }
    cv.notify_all();
  });
  ASSERT_TRUE(qbl);
  auto ready = known_to(p.a, p.b);

  std::thread worker([&] {
    std::unique_lock lk(mu);
    if (!cv.wait_for(lk, wait_limit, [&] { return held.has_value(); })) return;
    starling::query q = std::move(*held);
    lk.unlock();
    // peers() runs on a's network thread, so once it returns the handler has returned too.
    (void)p.a.peers();
    EXPECT_TRUE(q);
    EXPECT_TRUE(q.reply("slow/one", "1"));
    EXPECT_TRUE(q.reply("slow/two", std::string("2")));
    auto wrong = q.reply("fast/one", "x");
    EXPECT_FALSE(wrong);
    if (!wrong) {
      EXPECT_EQ(wrong.error().code(), starling::errc::invalid_argument);
    }
    q.finish();
    EXPECT_FALSE(q);
    auto late = q.reply("slow/three", "3");
    EXPECT_FALSE(late);
    if (!late) {
      EXPECT_EQ(late.error().code(), starling::errc::closed);
    }
  });
  auto replies = p.b.get("slow/**");
  worker.join();
  ASSERT_TRUE(replies) << replies.error().message();
  ASSERT_EQ(replies->size(), 2u);
  EXPECT_EQ((*replies)[0].key, "slow/one");
  EXPECT_EQ((*replies)[1].text(), "2");
}

TEST(LibSession, ErrorRepliesAndLocalQueryables) {
  auto s = starling::session::open();
  ASSERT_TRUE(s);
  // A mutable handler keeps its state from one query to the next.
  auto qbl = s->declare_queryable("motor/*", [n = 0](starling::query q) mutable {
    EXPECT_TRUE(q.reply_error("motor/left", "stuck " + std::to_string(++n)));
  });
  ASSERT_TRUE(qbl);
  for (int i = 1; i <= 2; ++i) {
    auto replies = s->get("motor/left");
    ASSERT_TRUE(replies) << replies.error().message();
    ASSERT_EQ(replies->size(), 1u);
    EXPECT_TRUE(replies->front().is_error);
    EXPECT_EQ(replies->front().text(), "stuck " + std::to_string(i));
    EXPECT_EQ(replies->front().source, s->peer_id());
  }

  auto bad = s->get("motor//left");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), starling::errc::invalid_argument);
  starling::get_options o;
  o.timeout = std::chrono::milliseconds(0);
  auto zero = s->get("motor/left", o);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().code(), starling::errc::invalid_argument);
  auto empty = s->declare_queryable("motor/*", nullptr);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), starling::errc::invalid_argument);
}

TEST(LibSession, GetWithNoQueryableOrNoAnswer) {
  pair_of_sessions p;
  auto none = p.b.get("nobody/**");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), starling::errc::not_found) << none.error().message();

  // A queryable that answers once and never finishes: the get ends at its timeout.
  std::mutex mu;
  std::vector<starling::query> kept;
  auto silent = p.a.declare_queryable("silent/*", [&](starling::query q) {
    EXPECT_TRUE(q.reply("silent/a", "partial"));
    std::lock_guard lk(mu);
    kept.push_back(std::move(q));
  });
  ASSERT_TRUE(silent);
  auto ready = known_to(p.a, p.b);
  starling::get_options o;
  o.timeout = std::chrono::milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  auto timed_out = p.b.get("silent/*", o);
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.error().code(), starling::errc::timeout) << timed_out.error().message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));

  // The callback form keeps the replies that came before the timeout.
  std::promise<starling::get_done> done;
  std::atomic<int> replies{0};
  auto sent = p.b.get(
      "silent/*", [&](const starling::reply&) { ++replies; },
      [&](const starling::get_done& d) { done.set_value(d); }, o);
  ASSERT_TRUE(sent);
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(wait_limit), std::future_status::ready);
  const auto d = f.get();
  EXPECT_EQ(d.reason, starling::get_end::timeout);
  EXPECT_EQ(d.nodes_asked, 1u);
  EXPECT_EQ(replies.load(), 1);

  // A get still running when its session closes ends with `closed`.
  std::promise<starling::get_end> closed;
  o.timeout = std::chrono::seconds(60);
  ASSERT_TRUE(p.b.get(
      "silent/*", [](const starling::reply&) {},
      [&](const starling::get_done& x) { closed.set_value(x.reason); }, o));
  p.b.close();
  auto c = closed.get_future();
  ASSERT_EQ(c.wait_for(wait_limit), std::future_status::ready);
  EXPECT_EQ(c.get(), starling::get_end::closed);
  std::lock_guard lk(mu);
  kept.clear();  // finishes them (a's queries)
}

// ---- liveliness ----

namespace {

/// Liveliness events a watcher saw, and a way to wait for them.
struct event_log {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> lines;  ///< "+ key node" / "- key node"

  starling::liveliness_handler handler() {
    return [this](const starling::liveliness_event& e) {
      {
        std::lock_guard lk(mu);
        const bool joined = e.what == starling::liveliness_event::kind::joined;
        lines.push_back((joined ? "+ " : "- ") + e.token.key + " " + e.token.node);
      }
      cv.notify_all();
    };
  }
  /// Waits until `line` was seen.
  bool wait_for(const std::string& line) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, wait_limit,
                       [&] { return std::find(lines.begin(), lines.end(), line) != lines.end(); });
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lk(mu);
    return lines;
  }
};

}  // namespace

TEST(LibSession, TokensSeenByWatchers) {
  pair_of_sessions p;
  auto early = p.a.declare_token("building/floor1/thermostat");
  ASSERT_TRUE(early) << early.error().message();
  EXPECT_EQ(early->key(), "building/floor1/thermostat");
  auto ready = known_to(p.a, p.b);

  event_log log;
  auto watch = p.b.watch_liveliness("building/**", log.handler());
  ASSERT_TRUE(watch) << watch.error().message();
  // The current set is reported from inside watch_liveliness().
  EXPECT_EQ(log.snapshot(),
            std::vector<std::string>{"+ building/floor1/thermostat " + p.a.peer_id()});

  auto blinds = p.a.declare_token("building/floor1/blinds/east");
  ASSERT_TRUE(blinds);
  ASSERT_TRUE(log.wait_for("+ building/floor1/blinds/east " + p.a.peer_id()));
  auto tokens = p.b.liveliness_tokens("building/floor1/**");
  ASSERT_TRUE(tokens) << tokens.error().message();
  ASSERT_EQ(tokens->size(), 2u);
  EXPECT_EQ((*tokens)[0].key, "building/floor1/blinds/east");
  EXPECT_EQ((*tokens)[0].node, p.a.peer_id());
  EXPECT_EQ((*tokens)[1].key, "building/floor1/thermostat");

  { auto gone = std::move(*blinds); }
  ASSERT_TRUE(log.wait_for("- building/floor1/blinds/east " + p.a.peer_id()));

  // The session holding a token closes: its token leaves.
  const std::string a_id = p.a.peer_id();
  p.a.close();
  ASSERT_TRUE(log.wait_for("- building/floor1/thermostat " + a_id));
  auto after = p.b.liveliness_tokens("building/**");
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->empty());

  auto bad = p.b.declare_token("building/*");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), starling::errc::invalid_argument);
  auto bad_watch = p.b.watch_liveliness("building//x", log.handler());
  ASSERT_FALSE(bad_watch);
  EXPECT_EQ(bad_watch.error().code(), starling::errc::invalid_argument);
}

TEST(LibSession, LocalTokensAndEndedWatches) {
  auto s = starling::session::open();
  ASSERT_TRUE(s);
  event_log log;
  auto watch = s->watch_liveliness("devices/*", log.handler());
  ASSERT_TRUE(watch);
  EXPECT_TRUE(log.snapshot().empty());
  auto token = s->declare_token("devices/pi");
  ASSERT_TRUE(token);
  ASSERT_TRUE(log.wait_for("+ devices/pi " + s->peer_id()));
  watch->undeclare();
  token->undeclare();
  // The watch ended first: its handler saw nothing more (a later call on the network thread
  // has run once tokens() returns).
  auto tokens = s->liveliness_tokens("devices/*");
  ASSERT_TRUE(tokens);
  EXPECT_TRUE(tokens->empty());
  EXPECT_EQ(log.snapshot().size(), 1u);
}
