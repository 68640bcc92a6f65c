// The control socket (src/node/control.hpp) with real Unix sockets in private temporary
// directories under /tmp, and the pure formatting of `starling peers` / `starling status`.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "../../apps/starling/control_commands.hpp"
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
using starling::test::raw_connect;
using starling::test::raw_send;
using starling::test::read_all;
using starling::test::temp_dir;

namespace {

/// A control_server on its own io_context thread (as in the daemon: one thread).
class running_server {
 public:
  running_server(const fs::path& p, control_server::handler h,
                 const control_server_options& o = {}) {
    auto r = control_server::start(m_ctx, p, std::move(h), o);
    if (!r) {
      error = r.error();
      return;
    }
    server = std::move(*r);
    m_thread = std::thread([this] { m_ctx.run(); });
  }
  ~running_server() {
    if (m_thread.joinable()) {
      asio::post(m_ctx, [this] {
        server.reset();  // stop() on the io_context's thread
        m_work.reset();
      });
      m_thread.join();
    }
  }
  std::thread::id thread_id() const { return m_thread.get_id(); }

  std::unique_ptr<control_server> server;
  std::error_code error;

 private:
  asio::io_context m_ctx;
  asio::executor_work_guard<asio::io_context::executor_type> m_work{m_ctx.get_executor()};
  std::thread m_thread;
};

/// True once the peer has closed its side of `fd` (EOF, nothing else before it) within
/// `limit`: a bounded wait on the socket, no retries.
bool wait_eof(int fd, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    const int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return false;
    char c;
    return ::recv(fd, &c, 1, 0) == 0;
  }
}

/// Sends `bytes` on a new connection and returns the whole answer.
std::string raw_exchange(const fs::path& p, const std::string& bytes) {
  int fd = raw_connect(p);
  if (fd < 0) return "<connect failed>";
  (void)raw_send(fd, bytes);
  std::string out = read_all(fd, 3000ms);
  ::close(fd);
  return out;
}

/// A socket file nobody listens on (what a crashed node leaves behind).
void make_stale_socket(const fs::path& p) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, p.c_str(), p.native().size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)), 0);
  ::close(fd);
}

/// A listener that is not a control_server (a foreign node without the lock file).
int make_listener(const fs::path& p) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, p.c_str(), p.native().size());
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0 || ::listen(fd, 4) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

json echo_handler(const json& req) {
  return {{"ok", true}, {"cmd", req.value("cmd", "")}};
}

}  // namespace

TEST(ControlServer, RoundTripOnTheIoContextThread) {
  temp_dir d;
  // Atomic: the socket orders these accesses, but TSan cannot see that.
  std::atomic<std::thread::id> handler_thread{};
  running_server s(d.sock(), [&](const json& req) {
    handler_thread = std::this_thread::get_id();
    return json{{"ok", true}, {"echo", req.at("cmd")}, {"n", 42}};
  });
  ASSERT_FALSE(s.error) << s.error.message();
  auto r = control_request(d.sock(), json{{"cmd", "peers"}});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)["ok"], true);
  EXPECT_EQ((*r)["echo"], "peers");
  EXPECT_EQ((*r)["n"], 42);
  EXPECT_EQ(handler_thread.load(), s.thread_id());
  // The connection is one-shot, but the server serves the next client.
  auto r2 = control_request(d.sock(), json{{"cmd", "status"}});
  ASSERT_TRUE(r2);
  EXPECT_EQ((*r2)["echo"], "status");
}

TEST(ControlServer, ResponseWithoutOkGetsOkTrue) {
  temp_dir d;
  running_server s(d.sock(), [](const json&) { return json{{"x", 1}}; });
  ASSERT_FALSE(s.error);
  auto r = control_request(d.sock(), json{{"cmd", "x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["ok"], true);
  EXPECT_EQ((*r)["x"], 1);
}

TEST(ControlServer, SocketIsOwnerOnlyEvenWithPermissiveUmask) {
  temp_dir d;
  const mode_t old = ::umask(0);
  running_server s(d.sock(), echo_handler);
  ::umask(old);
  ASSERT_FALSE(s.error);
  struct stat st {};
  ASSERT_EQ(::lstat(d.sock().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(ControlServer, SecondServerOnTheSamePathIsRefused) {
  temp_dir d;
  running_server first(d.sock(), echo_handler);
  ASSERT_FALSE(first.error);
  asio::io_context ctx2;
  auto second = control_server::start(ctx2, d.sock(), echo_handler);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), control_errc::already_running);
  EXPECT_EQ(starling::node::describe_control_error(second.error(), d.sock()),
            "another node is already running with data directory " + d.path.string());
  // The refused start left the running node's socket alone.
  auto r = control_request(d.sock(), json{{"cmd", "still"}});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)["cmd"], "still");
}

TEST(ControlServer, RefusedWhenAnotherProcessAnswersOnTheSocket) {
  temp_dir d;
  int fd = make_listener(d.sock());  // holds no lock file: only the probe can see it
  ASSERT_GE(fd, 0);
  asio::io_context ctx;
  auto r = control_server::start(ctx, d.sock(), echo_handler);
  ::close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), control_errc::already_running);
}

TEST(ControlServer, StaleSocketFileIsReplaced) {
  temp_dir d;
  make_stale_socket(d.sock());
  ASSERT_TRUE(fs::exists(d.sock()));
  EXPECT_EQ(control_request(d.sock(), json{{"cmd", "x"}}).error(), control_errc::no_node_running);
  running_server s(d.sock(), echo_handler);
  ASSERT_FALSE(s.error) << s.error.message();
  auto r = control_request(d.sock(), json{{"cmd", "fresh"}});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["cmd"], "fresh");
}

TEST(ControlServer, RefusesToReplaceSomethingThatIsNotASocket) {
  temp_dir d;
  std::ofstream(d.sock()) << "precious";
  asio::io_context ctx;
  auto r = control_server::start(ctx, d.sock(), echo_handler);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), control_errc::not_a_socket);
  std::ifstream in(d.sock());
  std::string content;
  in >> content;
  EXPECT_EQ(content, "precious");
}

TEST(ControlServer, DirectoryWritableByOthersIsRefused) {
  temp_dir d;
  ASSERT_EQ(::chmod(d.path.c_str(), 0777), 0);
  asio::io_context ctx;
  auto r = control_server::start(ctx, d.sock(), echo_handler);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), control_errc::insecure_directory);
  EXPECT_FALSE(fs::exists(d.sock()));
}

TEST(ControlServer, TooLongPathIsAClearError) {
  temp_dir d;
  const fs::path p = d.path / (std::string(120, 'a') + ".sock");
  asio::io_context ctx;
  auto r = control_server::start(ctx, p, echo_handler);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), control_errc::path_too_long);
  const std::string msg = starling::node::describe_control_error(r.error(), p);
  EXPECT_NE(msg.find("is too long"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at most 107"), std::string::npos) << msg;
  EXPECT_EQ(control_request(p, json::object()).error(), control_errc::path_too_long);
}

TEST(ControlServer, StopUnlinksAndAllowsANewServer) {
  temp_dir d;
  {
    running_server s(d.sock(), echo_handler);
    ASSERT_FALSE(s.error);
    ASSERT_TRUE(fs::exists(d.sock()));
  }
  EXPECT_FALSE(fs::exists(d.sock()));
  EXPECT_EQ(control_request(d.sock(), json::object()).error(), control_errc::no_node_running);
  running_server again(d.sock(), echo_handler);
  EXPECT_FALSE(again.error) << again.error.message();
}

TEST(ControlServer, MalformedRequestsGetOkFalse) {
  temp_dir d;
  std::atomic<int> calls{0};
  running_server s(d.sock(), [&](const json& r) {
    ++calls;
    return echo_handler(r);
  });
  ASSERT_FALSE(s.error);
  auto a = json::parse(raw_exchange(d.sock(), "{not json\n"));
  EXPECT_EQ(a["ok"], false);
  EXPECT_EQ(a["error"], "malformed JSON request");
  auto b = json::parse(raw_exchange(d.sock(), "[1,2]\n"));
  EXPECT_EQ(b["ok"], false);
  EXPECT_EQ(b["error"], "the request must be a JSON object");
  // A deeply nested value is parsed without recursion and refused like any non-object.
  auto c = json::parse(raw_exchange(d.sock(), std::string(60000, '[') + "\n"));
  EXPECT_EQ(c["ok"], false);
  EXPECT_EQ(calls, 0);
  // A last line without '\n' (client shut down its side) is still answered.
  int fd = raw_connect(d.sock());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::send(fd, "{\"cmd\":\"x\"}", 11, MSG_NOSIGNAL), 11);
  ::shutdown(fd, SHUT_WR);
  auto e = json::parse(read_all(fd, 3000ms));
  ::close(fd);
  EXPECT_EQ(e["cmd"], "x");
  EXPECT_EQ(calls, 1);
}

TEST(ControlServer, HandlerExceptionsBecomeOkFalse) {
  temp_dir d;
  running_server s(d.sock(), [](const json& r) -> json {
    if (r.value("cmd", "") == "boom") throw std::runtime_error("boom");
    return r.at("missing");  // nlohmann throws out_of_range for every other request
  });
  ASSERT_FALSE(s.error);
  auto a = control_request(d.sock(), json{{"cmd", "boom"}});
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)["ok"], false);
  EXPECT_EQ((*a)["error"], "internal error: boom");
  auto b = control_request(d.sock(), json{{"cmd", "other"}});
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)["ok"], false);
}

TEST(ControlServer, RequestsAreBoundedTo64KiB) {
  temp_dir d;
  running_server s(d.sock(), echo_handler);
  ASSERT_FALSE(s.error);
  // Exactly 64 KiB before the newline: accepted.
  std::string fits = "{\"cmd\":\"fits\"}";
  fits.append(64 * 1024 - fits.size(), ' ');
  auto a = json::parse(raw_exchange(d.sock(), fits + "\n"));
  EXPECT_EQ(a["cmd"], "fits");
  // One byte more (and no newline in sight): refused without reading the rest.
  auto b = json::parse(raw_exchange(d.sock(), std::string(64 * 1024 + 1, ' ') + "{}\n"));
  EXPECT_EQ(b["ok"], false);
  EXPECT_EQ(b["error"], "request too large (limit 65536 bytes)");
}

TEST(ControlServer, SilentClientIsDroppedAtTheDeadline) {
  temp_dir d;
  control_server_options o;
  o.client_deadline = 200ms;
  running_server s(d.sock(), echo_handler, o);
  ASSERT_FALSE(s.error);
  int fd = raw_connect(d.sock());
  ASSERT_GE(fd, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string got = read_all(fd, 5000ms);  // returns at EOF
  const auto waited = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  EXPECT_EQ(got, "");
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 2000ms);
  // The server still answers others.
  EXPECT_TRUE(control_request(d.sock(), json{{"cmd", "x"}}));
}

TEST(ControlServer, ClientsBeyondTheLimitAreTurnedAway) {
  temp_dir d;
  control_server_options o;
  o.max_clients = 2;
  o.client_deadline = 10s;
  running_server s(d.sock(), echo_handler, o);
  ASSERT_FALSE(s.error);
  int idle1 = raw_connect(d.sock());
  int idle2 = raw_connect(d.sock());
  ASSERT_GE(idle1, 0);
  ASSERT_GE(idle2, 0);
  // Accepts are handled in order, so both idle clients hold a slot when this one arrives.
  auto busy = json::parse(raw_exchange(d.sock(), "{\"cmd\":\"x\"}\n"));
  EXPECT_EQ(busy["ok"], false);
  EXPECT_EQ(busy["error"], "too many control clients, try again");
  auto r = control_request(d.sock(), json{{"cmd", "x"}});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["ok"], false);
  // An idle client leaving frees its slot. It half-closes, so that it sees the server close
  // the session in answer: the slot is free from that handler on, before the server (one
  // thread) can accept the next client.
  ASSERT_EQ(::shutdown(idle1, SHUT_WR), 0);
  EXPECT_TRUE(wait_eof(idle1, 5000ms)) << "the server did not close the idle client's session";
  ::close(idle1);
  auto again = control_request(d.sock(), json{{"cmd", "x"}});
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ((*again)["ok"], true);
  EXPECT_EQ((*again)["cmd"], "x");
  ::close(idle2);
}

TEST(ControlClient, NoServerMeansNoNodeRunning) {
  temp_dir d;
  auto r = control_request(d.sock(), json{{"cmd", "peers"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), control_errc::no_node_running);
  EXPECT_EQ(starling::node::describe_control_error(r.error(), d.sock()),
            "no node is running with data directory " + d.path.string());
  auto missing_dir = control_request(d.path / "nope" / "control.sock", json::object());
  EXPECT_EQ(missing_dir.error(), control_errc::no_node_running);
}

TEST(ControlClient, SilentServerTimesOut) {
  temp_dir d;
  int fd = make_listener(d.sock());  // the kernel completes the connection; nobody answers
  ASSERT_GE(fd, 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = control_request(d.sock(), json{{"cmd", "peers"}}, 200ms);
  const auto waited = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), control_errc::timeout);
  EXPECT_LT(waited, 2000ms);
}

TEST(ControlClient, GarbageAnswerIsABadResponse) {
  temp_dir d;
  for (const std::string answer : {"garbage\n", "[1]\n", ""}) {
    int lfd = make_listener(d.sock());
    ASSERT_GE(lfd, 0);
    std::thread t([lfd, answer] {
      int c = ::accept(lfd, nullptr, nullptr);
      if (c < 0) return;
      char buf[256];
      (void)::recv(c, buf, sizeof buf, 0);
      (void)::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(c);
    });
    auto r = control_request(d.sock(), json{{"cmd", "peers"}}, 2000ms);
    t.join();
    ::close(lfd);
    ::unlink(d.sock().c_str());
    ASSERT_FALSE(r) << answer;
    EXPECT_EQ(r.error(), control_errc::bad_response) << answer;
  }
}

TEST(ControlClient, ErrorLinesNameTheDataDirectory) {
  using starling::node::describe_control_error;
  const fs::path sock = "/home/pi/.local/share/starling/control.sock";
  EXPECT_EQ(
      describe_control_error(control_errc::timeout, sock),
      "the node running with data directory /home/pi/.local/share/starling did not answer in time");
  EXPECT_EQ(describe_control_error(control_errc::bad_response, sock),
            "the node running with data directory /home/pi/.local/share/starling sent an invalid "
            "response");
  EXPECT_EQ(describe_control_error(std::error_code(EACCES, std::system_category()), sock),
            "cannot use the control socket /home/pi/.local/share/starling/control.sock: permission "
            "denied "
            "(does the node run as another user?)");
  EXPECT_EQ(starling::node::control_socket_path("/d"), fs::path("/d/control.sock"));
  EXPECT_STREQ(starling::node::control_category().name(), "control");
}

// ------------------------------------------------------------------ formatting

namespace ct = starling::app::control_text;

TEST(ControlText, Durations) {
  EXPECT_EQ(ct::format_duration(0), "0s");
  EXPECT_EQ(ct::format_duration(45.9), "45s");
  EXPECT_EQ(ct::format_duration(133), "2m13s");
  EXPECT_EQ(ct::format_duration(3 * 3600 + 5 * 60 + 59), "3h05m");
  EXPECT_EQ(ct::format_duration(2 * 86400 + 4 * 3600), "2d04h");
  EXPECT_EQ(ct::format_duration(-1), "-");
  EXPECT_EQ(ct::format_duration(std::nan("")), "-");
}

TEST(ControlText, Bytes) {
  EXPECT_EQ(ct::format_bytes(0), "0B");
  EXPECT_EQ(ct::format_bytes(1023), "1023B");
  EXPECT_EQ(ct::format_bytes(1536), "1.5KiB");
  EXPECT_EQ(ct::format_bytes(12900000), "12.3MiB");
  EXPECT_EQ(ct::format_bytes(200ull << 30), "200GiB");
  EXPECT_EQ(ct::format_bytes(~0ull), "16.0EiB");
}

TEST(ControlText, Rtt) {
  EXPECT_EQ(ct::format_rtt(json(0.41)), "0.41ms");
  EXPECT_EQ(ct::format_rtt(json(12.34)), "12.3ms");
  EXPECT_EQ(ct::format_rtt(json(123.4)), "123ms");
  EXPECT_EQ(ct::format_rtt(json(1234)), "1.23s");
  EXPECT_EQ(ct::format_rtt(json(nullptr)), "-");
  EXPECT_EQ(ct::format_rtt(json("fast")), "-");
}

TEST(ControlText, PeersTable) {
  const auto resp = json::parse(R"({"ok":true,"peers":[
    {"id":"12D3KooWAAA","addr":"/ip4/10.0.0.2/tcp/4001","direction":"outbound","rtt_ms":0.41,
     "since":1795400000.1,"connected_seconds":133.2,"bytes_in":1536,"bytes_out":512,"agent":"starling/0.1.0"},
    {"id":"12D3KooWBBBBBB","addr":"/ip6/fe80::1/tcp/4001","direction":"inbound","rtt_ms":null,
     "since":1795400100.0,"connected_seconds":5,"bytes_in":0,"bytes_out":2097152,"agent":""}]})");
  auto t = ct::format_peers(resp);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t,
            "PEER            DIR  ADDRESS                 RTT     SINCE  IN      OUT\n"
            "12D3KooWAAA     out  /ip4/10.0.0.2/tcp/4001  0.41ms  2m13s  1.5KiB  512B\n"
            "12D3KooWBBBBBB  in   /ip6/fe80::1/tcp/4001   -       5s     0B      2.0MiB\n");
  EXPECT_EQ(ct::format_peers(json::parse(R"({"ok":true,"peers":[]})")), "no peers connected\n");
  EXPECT_FALSE(ct::format_peers(json::parse(R"({"ok":true,"peers":{}})")));
  // Elements of the wrong type do not throw: their cells are "-".
  auto odd = ct::format_peers(json::parse(R"({"peers":[7]})"));
  ASSERT_TRUE(odd);
  EXPECT_NE(odd->find("-    -        -    -      0B  0B"), std::string::npos) << *odd;
}

TEST(ControlText, KnownTable) {
  const auto resp = json::parse(R"({"ok":true,"known":[
    {"id":"12D3KooWAAA","addrs":["/ip4/10.0.0.2/tcp/4001","/ip4/192.168.1.2/tcp/4001"],"sources":["mdns","pex"],
     "state":"connected","failures":0,"last_seen_seconds_ago":1.2,"next_dial_in_ms":null},
    {"id":"12D3KooWB","addrs":[],"sources":[],"state":"backoff","failures":3,
     "last_seen_seconds_ago":null,"next_dial_in_ms":800}]})");
  auto t = ct::format_known(resp);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t,
            "ID           STATE      SOURCES   FAILURES  ADDRESSES\n"
            "12D3KooWAAA  connected  mdns,pex  0         /ip4/10.0.0.2/tcp/4001 (+1 more)\n"
            "12D3KooWB    backoff    -         3         -\n");
  EXPECT_EQ(ct::format_known(json::parse(R"({"known":[]})")), "no known peers\n");
  EXPECT_FALSE(ct::format_known(json::parse(R"({"peers":[]})")));
}

TEST(ControlText, StatusLines) {
  const auto resp =
      json::parse(R"({"ok":true,"id":"12D3KooWSELF","agent":"starling/0.1.0","uptime_seconds":133.7,
    "data_dir":"/var/lib/starling","listen":["/ip4/0.0.0.0/tcp/4001","/ip6/::/tcp/4001"],"connected_peers":3,
    "known_peers":7,"connections":4,"mdns":{"enabled":true,"interfaces":["eth0","wlan0"],"packets_sent":12,
    "packets_received":40,"bytes_sent":3500,"bytes_received":10100},"metrics":{"bytes_in":1}})");
  auto t = ct::format_status(resp);
  ASSERT_TRUE(t);
  EXPECT_EQ(*t,
            "peer id:      12D3KooWSELF\n"
            "agent:        starling/0.1.0\n"
            "uptime:       2m13s\n"
            "data dir:     /var/lib/starling\n"
            "network:      none: OPEN, admits every peer (starling network create / join)\n"
            "listen:       /ip4/0.0.0.0/tcp/4001\n"
            "              /ip6/::/tcp/4001\n"
            "peers:        3 connected, 7 known\n"
            "connections:  4\n"
            "mdns:         on eth0, wlan0\n"
            "mdns packets: 12 sent (3.4KiB), 40 received (9.9KiB)\n");
  auto off = ct::format_status(json::parse(R"({"id":"X","listen":[],"mdns":{"enabled":false}})"));
  ASSERT_TRUE(off);
  EXPECT_NE(off->find("listen:      (none)\n"), std::string::npos) << *off;
  EXPECT_NE(off->find("mdns:        off\n"), std::string::npos) << *off;
  EXPECT_FALSE(ct::format_status(json::parse(R"({"ok":true})")));
  auto member = ct::format_status(json::parse(
      R"({"id":"X","network":{"id":"0123456789abcdef0011","name":"lab","roles":["admin","cam"],"owner":true}})"));
  ASSERT_TRUE(member);
  EXPECT_NE(member->find("network:     0123456789abcdef (\"lab\"), roles admin,cam, owner\n"),
            std::string::npos)
      << *member;
}

TEST(ControlText, RenderResponse) {
  const auto peers = json::parse(R"({"ok":true,"peers":[]})");
  auto a = ct::render_response(peers, ct::view::peers, false);
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.text, "no peers connected\n");
  auto j = ct::render_response(peers, ct::view::peers, true);
  EXPECT_TRUE(j.ok);
  EXPECT_EQ(json::parse(j.text), json::parse(R"({"peers":[]})"));  // the daemon's JSON minus "ok"
  auto e = ct::render_response(json::parse(R"({"ok":false,"error":"unknown command"})"),
                               ct::view::status, true);
  EXPECT_FALSE(e.ok);
  EXPECT_EQ(e.text, "unknown command");
  auto w = ct::render_response(json::parse(R"({"ok":true,"peers":[]})"), ct::view::status, false);
  EXPECT_FALSE(w.ok);
  EXPECT_EQ(w.text, "unexpected response from the node");
  EXPECT_EQ(ct::request_for(ct::view::known), json::parse(R"({"cmd":"known"})"));
}

TEST(ControlText, EndToEndThroughTheSocket) {
  temp_dir d;
  running_server s(d.sock(), [](const json& req) -> json {
    if (req.value("cmd", "") != "peers") return {{"ok", false}, {"error", "unknown command"}};
    return {{"ok", true},
            {"peers", json::array({{{"id", "12D3KooWX"},
                                    {"addr", "/ip4/127.0.0.1/tcp/1"},
                                    {"direction", "inbound"},
                                    {"rtt_ms", 2.5},
                                    {"connected_seconds", 61},
                                    {"bytes_in", 10},
                                    {"bytes_out", 20}}})}};
  });
  ASSERT_FALSE(s.error);
  auto r = control_request(d.sock(), ct::request_for(ct::view::peers));
  ASSERT_TRUE(r);
  auto out = ct::render_response(*r, ct::view::peers, false);
  ASSERT_TRUE(out.ok);
  EXPECT_EQ(out.text,
            "PEER       DIR  ADDRESS               RTT     SINCE  IN   OUT\n"
            "12D3KooWX  in   /ip4/127.0.0.1/tcp/1  2.50ms  1m01s  10B  20B\n");
  auto r2 = control_request(d.sock(), ct::request_for(ct::view::status));
  ASSERT_TRUE(r2);
  auto out2 = ct::render_response(*r2, ct::view::status, false);
  EXPECT_FALSE(out2.ok);
  EXPECT_EQ(out2.text, "unknown command");
}
