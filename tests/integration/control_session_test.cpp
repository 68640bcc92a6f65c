// Long-lived control sessions (src/node/control.hpp): control_server::set_session_handler,
// control_session and control_session_client, with real Unix sockets in private temporary
// directories. The server runs on its own io_context thread, as in the daemon; the tests wait
// on events with deadlines, never on sleeps.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "node/control.hpp"
#include "unix_socket.hpp"

namespace fs = std::filesystem;
namespace asio = boost::asio;
using nlohmann::json;
using namespace std::chrono_literals;
using starling::node::control_errc;
using starling::node::control_request;
using starling::node::control_server;
using starling::node::control_server_options;
using starling::node::control_session;
using starling::node::control_session_client;
using starling::test::raw_connect;
using starling::test::raw_send;
using starling::test::read_all;
using starling::test::temp_dir;

namespace {

/// Values handed from the io thread to the test thread.
template <class T>
class mailbox {
 public:
  void push(T v) {
    {
      std::lock_guard lock(m_mutex);
      m_items.push_back(std::move(v));
    }
    m_cv.notify_all();
  }
  /// Waits until `n` values have arrived, at most `limit`.
  bool wait_for(std::size_t n, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(m_mutex);
    return m_cv.wait_for(lock, limit, [&] { return m_items.size() >= n; });
  }
  std::vector<T> items() {
    std::lock_guard lock(m_mutex);
    return m_items;
  }
  std::size_t size() {
    std::lock_guard lock(m_mutex);
    return m_items.size();
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::vector<T> m_items;
};

json one_shot_echo(const json& req) {
  return {{"ok", true}, {"cmd", req.value("cmd", "")}};
}

class running_server;
/// A session handler that also gets the server (to keep sessions in `held`).
using test_handler =
    std::function<void(running_server& s, const json& req, std::shared_ptr<control_session>)>;

/// A control_server on its own io_context thread. Sessions the handlers keep go in `held`,
/// which lives on the io thread and is emptied there before the server stops.
class running_server {
 public:
  running_server(const fs::path& p, std::vector<std::pair<std::string, test_handler>> handlers,
                 const control_server_options& o = {}) {
    auto r = control_server::start(m_ctx, p, one_shot_echo, o);
    if (!r) {
      error = r.error();
      return;
    }
    server = std::move(*r);
    for (auto& [cmd, h] : handlers) {
      server->set_session_handler(cmd, [this, h = std::move(h)](const json& req, auto session) {
        h(*this, req, std::move(session));
      });
    }
    m_thread = std::thread([this] { m_ctx.run(); });
  }
  ~running_server() { shut_down(); }

  /// Stops the server on its thread and joins it (idempotent).
  void shut_down() {
    if (!m_thread.joinable()) return;
    asio::post(m_ctx, [this] {
      held.clear();    // handles dropped: those sessions close gracefully...
      server.reset();  // ...and stop() closes everything at once
      m_work.reset();
    });
    m_thread.join();
  }

  /// Runs `f` on the io thread and returns its result (10 s at most, else the test fails).
  template <class F>
  auto on_io(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    asio::post(m_ctx, [&task] { task(); });
    if (fut.wait_for(10s) != std::future_status::ready) {
      ADD_FAILURE() << "the io thread did not run the task";
      std::abort();  // `task` is on this stack: nothing safe is left to do
    }
    return fut.get();
  }

  /// Posts `f` to the io thread.
  void post(std::function<void()> f) { asio::post(m_ctx, std::move(f)); }

  std::thread::id thread_id() const { return m_thread.get_id(); }

  std::unique_ptr<control_server> server;
  std::error_code error;
  std::vector<std::shared_ptr<control_session>> held;  // io thread only

 private:
  asio::io_context m_ctx;
  asio::executor_work_guard<asio::io_context::executor_type> m_work{m_ctx.get_executor()};
  std::thread m_thread;
};

std::vector<json> parse_lines(const std::string& text) {
  std::vector<json> out;
  std::size_t pos = 0;
  for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', pos)) {
    out.push_back(json::parse(text.substr(pos, nl - pos), nullptr, false));
    pos = nl + 1;
  }
  return out;
}

/// A session handler that accepts, keeps the session in `s.held`, and reports what happens.
struct recorder {
  mailbox<json> messages;
  mailbox<std::error_code> closes;
  mailbox<std::thread::id> opened_on;

  test_handler handler() {
    return [this](running_server& s, const json&, std::shared_ptr<control_session> session) {
      opened_on.push(std::this_thread::get_id());
      session->on_message([this](const json& m) { messages.push(m); });
      session->on_close([this](std::error_code ec) { closes.push(ec); });
      session->send({{"ok", true}});
      s.held.push_back(std::move(session));
    };
  }
};

}  // namespace

TEST(ControlSession, LinesPushedByTheNodeArriveInOrder) {
  temp_dir d;
  constexpr int n = 2000;
  mailbox<std::thread::id> handler_thread;
  running_server s(d.sock(),
                   {{"sub", [&](running_server& srv, const json& req, auto session) {
                       handler_thread.push(std::this_thread::get_id());
                       EXPECT_EQ(session->request(), req);
                       EXPECT_TRUE(session->is_open());
                       session->send({{"ok", true}});
                       for (int i = 0; i < n; ++i)
                         EXPECT_TRUE(session->send({{"seq", i}, {"pad", std::string(100, 'x')}}));
                       srv.held.push_back(std::move(session));
                     }}});
  ASSERT_FALSE(s.error) << s.error.message();
  auto c = control_session_client::open(d.sock(), {{"cmd", "sub"}, {"key", "a/**"}});
  ASSERT_TRUE(c) << c.error().message();
  auto first = c->read_line(5s);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ((*first)["ok"], true);
  for (int i = 0; i < n; ++i) {
    auto line = c->read_line(5s);
    ASSERT_TRUE(line) << i << ": " << line.error().message();
    ASSERT_EQ((*line)["seq"], i);
  }
  // Nothing more for now, and the session is still open.
  auto none = c->read_line(0ms);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), control_errc::timeout);
  ASSERT_TRUE(handler_thread.wait_for(1));
  EXPECT_EQ(handler_thread.items()[0], s.thread_id());
  EXPECT_EQ(s.on_io([&] { return s.server->active_sessions(); }), 1u);
  EXPECT_EQ(s.on_io([&] { return s.server->active_clients(); }), 0u);
  // Later lines come whenever the node sends them.
  EXPECT_TRUE(s.on_io([&] { return s.held.at(0)->send({{"seq", n}}); }));
  auto later = c->read_line(5s);
  ASSERT_TRUE(later);
  EXPECT_EQ((*later)["seq"], n);
}

TEST(ControlSession, TheNodeSeesTheClientsMessagesAndAnswersThem) {
  temp_dir d;
  recorder rec;
  // Like `starling reply`: the node sends queries, the client answers each.
  running_server s(d.sock(), {{"reply", [&](running_server& srv, const json&, auto session) {
                                 std::weak_ptr<control_session> weak = session;
                                 session->on_message([&rec, weak](const json& m) {
                                   rec.messages.push(m);
                                   if (auto ss = weak.lock())
                                     ss->send({{"ack", m.value("id", -1)}});
                                 });
                                 session->send({{"ok", true}});
                                 srv.held.push_back(std::move(session));
                               }}});
  ASSERT_FALSE(s.error);
  auto c = control_session_client::open(d.sock(), {{"cmd", "reply"}, {"key", "q/*"}});
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->read_line(5s));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c->send({{"id", i}, {"reply", "value " + std::to_string(i)}}));
    auto ack = c->read_line(5s);
    ASSERT_TRUE(ack) << ack.error().message();
    EXPECT_EQ((*ack)["ack"], i);
  }
  ASSERT_TRUE(rec.messages.wait_for(3));
  auto got = rec.messages.items();
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(got[static_cast<std::size_t>(i)]["reply"], "value " + std::to_string(i));
}

TEST(ControlSession, OnCloseFiresWhenTheClientCloses) {
  temp_dir d;
  recorder rec;
  running_server s(d.sock(), {{"alive", rec.handler()}});
  ASSERT_FALSE(s.error);
  auto c = control_session_client::open(d.sock(), {{"cmd", "alive"}, {"key", "me"}});
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->read_line(5s));
  ASSERT_TRUE(rec.opened_on.wait_for(1));
  EXPECT_TRUE(rec.opened_on.items()[0] == s.thread_id());
  EXPECT_EQ(rec.closes.size(), 0u);
  c->close();
  ASSERT_TRUE(rec.closes.wait_for(1));
  EXPECT_EQ(rec.closes.items()[0], control_errc::closed);
  EXPECT_FALSE(s.on_io([&] { return s.held.at(0)->is_open(); }));
  EXPECT_FALSE(s.on_io([&] { return s.held.at(0)->send({{"late", true}}); }));
  EXPECT_EQ(s.on_io([&] { return s.server->active_sessions(); }), 0u);
  auto again = c->read_line(0ms);
  EXPECT_EQ(again.error(), control_errc::closed);
}

TEST(ControlSession, OnCloseFiresWhenTheClientProcessIsKilled) {
  temp_dir d;
  recorder rec;
  running_server s(d.sock(), {{"alive", rec.handler()}});
  ASSERT_FALSE(s.error);
  // Everything the child needs is prepared here: after fork() it may only make system calls.
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, d.sock().c_str(), d.sock().native().size());
  const std::string req = "{\"cmd\":\"alive\",\"key\":\"child\"}\n";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) _exit(1);
    if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) _exit(2);
    for (;;)
      ::pause();
  }
  const bool opened = rec.opened_on.wait_for(1);
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(opened);
  EXPECT_TRUE(WIFSIGNALED(status));
  ASSERT_TRUE(rec.closes.wait_for(1));
  EXPECT_EQ(rec.closes.items()[0], control_errc::closed);
  EXPECT_EQ(s.on_io([&] { return s.server->active_sessions(); }), 0u);
}

TEST(ControlSession, OneShotRequestsStillWorkWhileSessionsAreOpen) {
  temp_dir d;
  recorder rec;
  running_server s(d.sock(), {{"sub", rec.handler()}});
  ASSERT_FALSE(s.error);
  std::vector<control_session_client> open;
  for (int i = 0; i < 12; ++i) {  // more sessions than one-shot client slots (8)
    auto c = control_session_client::open(d.sock(), {{"cmd", "sub"}});
    ASSERT_TRUE(c) << i;
    ASSERT_TRUE(c->read_line(5s)) << i;
    open.push_back(std::move(*c));
  }
  for (const char* cmd : {"peers", "known", "status"}) {
    auto r = control_request(d.sock(), {{"cmd", cmd}});
    ASSERT_TRUE(r) << cmd << ": " << r.error().message();
    EXPECT_EQ((*r)["ok"], true);
    EXPECT_EQ((*r)["cmd"], cmd);
  }
  // A command without a session handler is a one-shot request, answered and closed.
  auto other = control_session_client::open(d.sock(), {{"cmd", "status"}});
  ASSERT_TRUE(other);
  auto answer = other->read_line(5s);
  ASSERT_TRUE(answer);
  EXPECT_EQ((*answer)["cmd"], "status");
  EXPECT_EQ(other->read_line(5s).error(), control_errc::closed);
  // The sessions were not disturbed.
  EXPECT_EQ(s.on_io([&] { return s.server->active_sessions(); }), 12u);
  EXPECT_TRUE(s.on_io([&] { return s.held.back()->send({{"still", true}}); }));
  auto line = open.back().read_line(5s);
  ASSERT_TRUE(line);
  EXPECT_EQ((*line)["still"], true);
  EXPECT_EQ(rec.closes.size(), 0u);
}

TEST(ControlSession, TheSessionLimitRefusesThe65th) {
  temp_dir d;
  recorder rec;
  running_server s(d.sock(), {{"sub", rec.handler()}});  // default limits: 64 sessions
  ASSERT_FALSE(s.error);
  std::vector<control_session_client> open;
  for (int i = 0; i < 64; ++i) {
    auto c = control_session_client::open(d.sock(), {{"cmd", "sub"}});
    ASSERT_TRUE(c) << i;
    auto ok = c->read_line(5s);
    ASSERT_TRUE(ok) << i;
    ASSERT_EQ((*ok)["ok"], true) << i;
    open.push_back(std::move(*c));
  }
  auto extra = control_session_client::open(d.sock(), {{"cmd", "sub"}});
  ASSERT_TRUE(extra);
  auto refusal = extra->read_line(5s);
  ASSERT_TRUE(refusal) << refusal.error().message();
  EXPECT_EQ(
      *refusal,
      json::parse(R"({"ok":false,"error":"too many control sessions (limit 64), try again"})"));
  EXPECT_EQ(extra->read_line(5s).error(), control_errc::closed);
  EXPECT_EQ(rec.opened_on.size(), 64u);
  EXPECT_EQ(s.on_io([&] { return s.server->active_sessions(); }), 64u);
  // One-shot requests have their own slots.
  EXPECT_TRUE(control_request(d.sock(), {{"cmd", "status"}}));
  // A session that ends frees its slot.
  open.front().close();
  ASSERT_TRUE(rec.closes.wait_for(1));
  auto next = control_session_client::open(d.sock(), {{"cmd", "sub"}});
  ASSERT_TRUE(next);
  auto ok = next->read_line(5s);
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)["ok"], true);
}

TEST(ControlSession, ASlowClientIsClosedAtTheQueueBound) {
  temp_dir d;
  recorder rec;
  control_server_options o;
  o.session_close_linger = 20s;  // this test reads the last lines only after the overflow
  running_server s(d.sock(), {{"sub", rec.handler()}}, o);
  ASSERT_FALSE(s.error);
  auto c = control_session_client::open(d.sock(), {{"cmd", "sub"}});
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->read_line(5s));

  // The node publishes 64 lines per turn of the io thread while the client reads nothing.
  struct stats {
    std::size_t accepted = 0, max_queued = 0, max_server_queued = 0;
  };
  std::promise<stats> done;
  auto result = done.get_future();
  auto st = std::make_shared<stats>();
  std::function<void()> publish = [&] {
    auto& session = *s.held.at(0);
    for (int i = 0; i < 64; ++i) {
      if (!session.send({{"seq", st->accepted}, {"pad", std::string(1000, 'x')}}) ||
          st->accepted > 100000) {
        done.set_value(*st);
        return;
      }
      ++st->accepted;
      st->max_queued = std::max(st->max_queued, session.queued_bytes());
      st->max_server_queued = std::max(st->max_server_queued, s.server->queued_bytes());
    }
    s.post(publish);
  };
  s.post(publish);
  if (result.wait_for(20s) != std::future_status::ready) {
    ADD_FAILURE() << "the node never saw the queue fill up";
    std::abort();  // `publish` is on this stack and still posted
  }
  const stats got = result.get();
  EXPECT_LE(got.max_queued, o.max_session_queue_bytes);
  EXPECT_LE(got.max_server_queued, o.max_session_queue_bytes);
  EXPECT_GT(got.max_queued, o.max_session_queue_bytes - 2048);  // it did fill up
  EXPECT_LT(got.accepted, 100000u);
  ASSERT_TRUE(rec.closes.wait_for(1));
  EXPECT_EQ(rec.closes.items()[0], control_errc::too_slow);
  EXPECT_FALSE(s.on_io([&] { return s.held.at(0)->is_open(); }));

  // The client gets whole lines in order, then the reason, then the end of the stream.
  std::size_t next = 0;
  json last;
  for (;;) {
    auto line = c->read_line(10s);
    ASSERT_TRUE(line) << line.error().message();
    if (!line->contains("seq")) {
      last = *line;
      break;
    }
    ASSERT_EQ((*line)["seq"], next);
    ++next;
  }
  EXPECT_GT(next, 0u);
  EXPECT_LE(next, got.accepted);
  EXPECT_EQ(last["ok"], false);
  EXPECT_EQ(last["error"].get<std::string>().rfind("too slow", 0), 0u) << last;
  EXPECT_EQ(c->read_line(10s).error(), control_errc::closed);
  EXPECT_EQ(s.on_io([&] { return s.server->queued_bytes(); }), 0u);
  EXPECT_EQ(s.on_io([&] { return s.server->active_sessions(); }), 0u);
}

TEST(ControlSession, GarbageFromAClientGetsAnErrorLineAndEndsTheSession) {
  temp_dir d;
  recorder rec;
  running_server s(d.sock(), {{"sub", rec.handler()}});
  ASSERT_FALSE(s.error);
  const std::pair<std::string, std::string> cases[] = {
      {"{not json\n", "malformed JSON message"},
      {"[1,2]\n", "the message must be a JSON object"},
      {std::string(64 * 1024 + 1, ' '), "message too large (limit 65536 bytes)"},
  };
  std::size_t n = 0;
  for (const auto& [bytes, error] : cases) {
    int fd = raw_connect(d.sock());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(raw_send(fd, "{\"cmd\":\"sub\"}\n{\"fine\":1}\n" + bytes));
    auto lines = parse_lines(read_all(fd, 5000ms));  // returns at EOF
    ::close(fd);
    ASSERT_EQ(lines.size(), 2u) << error;
    EXPECT_EQ(lines[0]["ok"], true);
    EXPECT_EQ(lines[1], json({{"ok", false}, {"error", error}}));
    ASSERT_TRUE(rec.closes.wait_for(++n));
    EXPECT_EQ(rec.closes.items().back(), control_errc::bad_request);
  }
  EXPECT_EQ(rec.messages.size(), std::size(cases));  // each {"fine":1} got through
  EXPECT_EQ(s.on_io([&] { return s.server->active_sessions(); }), 0u);
}

TEST(ControlSession, LinesSplitAcrossReadsOrSharingOneAreReassembled) {
  temp_dir d;
  recorder rec;
  running_server s(d.sock(), {{"sub", rec.handler()}});
  ASSERT_FALSE(s.error);
  int fd = raw_connect(d.sock());
  ASSERT_GE(fd, 0);
  // The request and a message in one write, then a message cut mid-way and sent byte by byte.
  ASSERT_TRUE(raw_send(fd, "{\"cmd\":\"sub\"}\n{\"n\":1}\n{\"n\":"));
  ASSERT_TRUE(rec.messages.wait_for(1));
  for (char ch : std::string("2}\r\n\n{\"n\":3}\n")) {
    ASSERT_TRUE(raw_send(fd, std::string(1, ch)));
  }
  ASSERT_TRUE(rec.messages.wait_for(3));
  auto got = rec.messages.items();
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(got[static_cast<std::size_t>(i)],
              json::parse("{\"n\":" + std::to_string(i + 1) + "}"));
  ::close(fd);
  ASSERT_TRUE(rec.closes.wait_for(1));

  // The other way: a 300 KiB line takes many reads on the client, and two short lines one.
  auto c = control_session_client::open(d.sock(), {{"cmd", "sub"}});
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->read_line(5s));
  const std::string big(300 * 1024, 'b');
  ASSERT_TRUE(s.on_io([&] {
    auto& session = *s.held.back();
    return session.send({{"big", big}}) && session.send({{"a", 1}}) && session.send({{"b", 2}});
  }));
  auto l1 = c->read_line(5s);
  ASSERT_TRUE(l1);
  EXPECT_EQ((*l1)["big"], big);
  auto l2 = c->read_line(5s);
  auto l3 = c->read_line(5s);
  ASSERT_TRUE(l2 && l3);
  EXPECT_EQ((*l2)["a"], 1);
  EXPECT_EQ((*l3)["b"], 2);
}

TEST(ControlSession, TheNodeClosingSendsItsLastLinesAndNoCallback) {
  temp_dir d;
  mailbox<std::error_code> closes;
  running_server s(d.sock(), {{"sub",
                               [&](running_server& srv, const json&, auto session) {
                                 session->on_close([&](std::error_code ec) { closes.push(ec); });
                                 session->send({{"ok", false}, {"error", "bad key expression"}});
                                 session->close();
                                 EXPECT_FALSE(session->is_open());
                                 EXPECT_FALSE(session->send({{"after", "close"}}));
                                 srv.held.push_back(std::move(session));
                               }},
                              {"forgetful", [](running_server&, const json&, auto session) {
                                 // Does not keep the handle: the session closes when the handler
                                 // returns.
                                 session->send({{"ok", true}, {"once", true}});
                               }}});
  ASSERT_FALSE(s.error);
  auto c = control_session_client::open(d.sock(), {{"cmd", "sub"}});
  ASSERT_TRUE(c);
  auto refusal = c->read_line(5s);
  ASSERT_TRUE(refusal);
  EXPECT_EQ((*refusal)["error"], "bad key expression");
  EXPECT_EQ(c->read_line(5s).error(), control_errc::closed);

  auto f = control_session_client::open(d.sock(), {{"cmd", "forgetful"}});
  ASSERT_TRUE(f);
  auto once = f->read_line(5s);
  ASSERT_TRUE(once);
  EXPECT_EQ((*once)["once"], true);
  EXPECT_EQ(f->read_line(5s).error(), control_errc::closed);
  // on_close would have run on the io thread before these tasks.
  EXPECT_EQ(s.on_io([&] { return s.server->active_sessions(); }), 0u);
  EXPECT_EQ(closes.size(), 0u);
}

TEST(ControlSession, HandlerExceptionsAreAnErrorLine) {
  temp_dir d;
  running_server s(d.sock(), {{"boom", [](running_server&, const json&, auto) -> void {
                                 throw std::runtime_error("no such key");
                               }}});
  ASSERT_FALSE(s.error);
  auto c = control_session_client::open(d.sock(), {{"cmd", "boom"}});
  ASSERT_TRUE(c);
  auto e = c->read_line(5s);
  ASSERT_TRUE(e);
  EXPECT_EQ(*e, json::parse(R"({"ok":false,"error":"internal error: no such key"})"));
  EXPECT_EQ(c->read_line(5s).error(), control_errc::closed);
}

TEST(ControlSession, StoppingTheServerClosesSessionsWithoutCallbacks) {
  temp_dir d;
  recorder rec;
  auto s = std::make_unique<running_server>(
      d.sock(), std::vector<std::pair<std::string, test_handler>>{{"sub", rec.handler()}});
  ASSERT_FALSE(s->error);
  auto c = control_session_client::open(d.sock(), {{"cmd", "sub"}});
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->read_line(5s));
  s->shut_down();
  EXPECT_EQ(c->read_line(5s).error(), control_errc::closed);
  s.reset();
  EXPECT_EQ(rec.closes.size(), 0u);
}

TEST(ControlSessionClient, NoNodeRunning) {
  temp_dir d;
  auto c = control_session_client::open(d.sock(), {{"cmd", "sub"}});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), control_errc::no_node_running);
  const fs::path long_path = d.path / (std::string(120, 'a') + ".sock");
  EXPECT_EQ(control_session_client::open(long_path, json::object()).error(),
            control_errc::path_too_long);
  EXPECT_EQ(starling::node::describe_control_error(control_errc::closed, d.sock()),
            "the node running with data directory " + d.path.string() + " closed the connection");
}

TEST(ControlSessionClient, GarbageFromTheNodeIsABadResponse) {
  temp_dir d;
  // What a fake node sends before it closes, and what the client's second read_line gives.
  const std::pair<std::string, std::string> cases[] = {
      {"garbage\n", "bad_response"},
      {"[1]\n", "bad_response"},
      {"{\"ok\":true}\n{\"cut\":", "bad_response"},  // a last line cut off
      {"{\"ok\":true}\n{\"last\":1}", "last"},       // a whole last line without '\n'
  };
  for (const auto& [answer, expected] : cases) {
    int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, d.sock().c_str(), d.sock().native().size());
    ASSERT_EQ(::bind(lfd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)), 0);
    ASSERT_EQ(::listen(lfd, 4), 0);
    std::thread t([lfd, a = answer] {
      int c = ::accept(lfd, nullptr, nullptr);
      if (c < 0) return;
      (void)raw_send(c, a);
      ::shutdown(c, SHUT_WR);
      (void)read_all(c, 5000ms);  // until the client closes
      ::close(c);
    });
    auto c = control_session_client::open(d.sock(), {{"cmd", "sub"}});
    ASSERT_TRUE(c);
    auto first = c->read_line(5s);
    if (answer.front() == '{') {
      ASSERT_TRUE(first) << answer;
      EXPECT_EQ((*first)["ok"], true);
      auto second = c->read_line(5s);
      if (expected == "last") {
        ASSERT_TRUE(second) << answer;
        EXPECT_EQ((*second)["last"], 1);
        EXPECT_EQ(c->read_line(5s).error(), control_errc::closed);
      } else {
        ASSERT_FALSE(second) << answer;
        EXPECT_EQ(second.error(), control_errc::bad_response) << answer;
      }
    } else {
      ASSERT_FALSE(first) << answer;
      EXPECT_EQ(first.error(), control_errc::bad_response) << answer;
    }
    c->close();
    t.join();
    ::close(lfd);
    ::unlink(d.sock().c_str());
  }
}
