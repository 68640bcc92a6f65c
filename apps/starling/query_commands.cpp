// `starling get`, `starling reply` and `starling alive` against the running node.
#include "query_commands.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "core/data/wire.hpp"
#include "core/keyexpr/keyexpr.hpp"
#include "node/data_control.hpp"
#include "session_client.hpp"

namespace starling::app {

namespace {

using nlohmann::json;

/// What a command printed and how it ended.
struct command_result {
  std::string out;
  int status = -1;  ///< exit status, or -1 when it could not run, was killed or timed out
  std::string why;  ///< when status is not 0 and out says nothing
};

/// Runs `argv` with extra environment, `input` on its stdin, its stdout captured (at most
/// max_payload bytes), its stderr passed through; killed after `timeout`.
command_result run_command(const std::vector<std::string>& argv,
                           const std::vector<std::pair<std::string, std::string>>& env,
                           const std::string& input, std::chrono::milliseconds timeout) {
  command_result res;
  int in_pipe[2], out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return {{}, -1, std::strerror(errno)};
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return {{}, -1, std::strerror(errno)};
  }
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1]})
      close(fd);
    return {{}, -1, std::strerror(errno)};
  }
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    for (const auto& [k, v] : env)
      setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "starling: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  int in_fd = in_pipe[1];
  const int out_fd = out_pipe[0];
  fcntl(in_fd, F_SETFL, O_NONBLOCK);
  std::size_t written = 0;
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false, open_out = true;
  char buf[65536];
  while (open_out) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {in_fd, POLLOUT, 0}};
    const int n = poll(fds, in_fd >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (in_fd >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t w = write(in_fd, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (w < 0 && errno != EAGAIN) written = input.size();
      if (written >= input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t r = read(out_fd, buf, sizeof buf);
      if (r <= 0) {
        open_out = false;
      } else if (res.out.size() < data::max_payload) {
        res.out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(r),
                                                  data::max_payload - res.out.size()));
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out_fd);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    res.why = "the command took longer than " + std::to_string(timeout.count() / 1000) + " s";
  } else if (WIFEXITED(status)) {
    res.status = WEXITSTATUS(status);
    if (res.status != 0) res.why = "the command exited with status " + std::to_string(res.status);
  } else if (WIFSIGNALED(status)) {
    res.why = std::string("the command was killed by signal ") + std::to_string(WTERMSIG(status));
  }
  return res;
}

}  // namespace

int run_get(const get_options& o) {
  if (sodium_init() < 0) return 1;
  if (!(o.timeout > 0) || o.timeout > 3600) {
    print_error("--timeout must be more than 0 and at most 3600 seconds");
    return 1;
  }
  const auto q = o.selector.find('?');
  const std::string expr = o.selector.substr(0, q);
  const std::string params = q == std::string::npos ? std::string() : o.selector.substr(q + 1);
  const auto timeout_ms = static_cast<std::uint64_t>(o.timeout * 1000);
  json req{{"cmd", "get"},         {"selector", expr},
           {"parameters", params}, {"timeout_ms", std::max<std::uint64_t>(timeout_ms, 1)},
           {"target", o.target},   {"consolidation", o.latest ? "latest" : "none"}};
  if (o.value) req["value_b64"] = node::to_base64(as_bytes(*o.value));
  const auto sock = control_socket_for(o.data_dir);
  auto s = open_session(sock, req);
  if (!s) return 1;
  catch_stop_signals();
  std::size_t good = 0, errors = 0;
  for (;;) {
    auto line = next_line(*s, sock, std::chrono::milliseconds(timeout_ms + 5000));
    if (!line) return stop_requested() ? 130 : 1;
    if (line->contains("reply")) {
      const json& r = (*line)["reply"];
      const std::string key = r.value("key", std::string());
      const std::string value = decode_base64(r, "value_b64");
      const bool err = r.value("error", false);
      err ? ++errors : ++good;
      if (o.json) {
        json out{{"key", key},
                 {"value", value},
                 {"encoding", r.value("encoding", std::string())},
                 {"timestamp", r.value("timestamp", std::string())},
                 {"from", r.value("from", std::string())},
                 {"error", err}};
        write_json_line(out);
      } else if (err) {
        print_error(key + ": the queryable failed: " + value);
      } else {
        write_line(key, value);
      }
      continue;
    }
    if (line->contains("done")) {
      const json& d = (*line)["done"];
      if (good > 0) return 0;
      const auto asked = d.value("nodes_asked", std::uint64_t{0});
      if (errors > 0) {
        print_error("every reply to " + o.selector + " was an error");
      } else if (asked == 0) {
        print_error("no queryable matches " + o.selector);
      } else if (d.value("timed_out", false)) {
        print_error("no reply to " + o.selector + " within " + std::to_string(o.timeout) + " s (" +
                    std::to_string(asked) + " node(s) asked)");
      } else {
        print_error("no reply to " + o.selector + " (" + std::to_string(asked) +
                    " node(s) asked, none had an answer)");
      }
      return 1;
    }
    if (line->contains("ok") && !line->value("ok", true)) {
      print_error(line->value("error", std::string("the node ended the query")));
      return 1;
    }
  }
}

int run_reply(const reply_options& o) {
  if (sodium_init() < 0) return 1;
  if (o.command.empty()) {
    print_error("reply needs a command after --, e.g. starling reply cmd/blinds -- echo ok");
    return 1;
  }
  const auto sock = control_socket_for(o.data_dir);
  auto s =
      open_session(sock, json{{"cmd", "queryable"}, {"expr", o.expr}, {"complete", o.complete}});
  if (!s) return 1;
  auto own = keyexpr::key::parse(o.expr);
  catch_stop_signals();
  while (!stop_requested()) {
    auto line = next_line(*s, sock);
    if (!line) return stop_requested() ? 0 : 1;
    if (line->contains("reply_error")) {
      print_error(line->value("reply_error", std::string()));
      continue;
    }
    if (!line->contains("query")) continue;
    const json& q = (*line)["query"];
    const auto handle = q.value("handle", std::uint64_t{0});
    const std::string selector = q.value("selector", std::string());
    // The reply's key: the query's own key, or ours when the query has wildcards.
    std::string key;
    if (keyexpr::key::parse(selector)) {
      key = selector;
    } else if (own) {
      key = own->str();
    }
    json answer{{"reply", handle}, {"key", key}};
    if (key.empty()) {
      answer["error"] = true;
      answer["value_b64"] = node::to_base64(
          as_bytes("a query on " + selector + " has no single key for a queryable on " + o.expr));
      answer["key"] = selector;
    } else {
      auto r = run_command(
          o.command,
          {{"STARLING_KEY", selector}, {"STARLING_PARAMS", q.value("parameters", std::string())}},
          decode_base64(q, "value_b64"),
          std::chrono::milliseconds(static_cast<long>(o.command_timeout * 1000)));
      const bool ok = r.status == 0;
      std::string payload = r.out;
      if (!ok) {
        if (payload.empty()) payload = r.why;
        print_error("query " + selector + ": " + r.why);
      }
      answer["value_b64"] = node::to_base64(as_bytes(payload));
      answer["error"] = !ok;
    }
    if (!s->send(answer) || !s->send(json{{"final", handle}})) {
      print_error("the node went away");
      return 1;
    }
  }
  return 0;
}

int run_alive(const alive_options& o) {
  if (sodium_init() < 0) return 1;
  const auto sock = control_socket_for(o.data_dir);
  auto s = open_session(sock, o.watch ? json{{"cmd", "watch"}, {"expr", o.key}}
                                      : json{{"cmd", "token"}, {"key", o.key}});
  if (!s) return 1;
  catch_stop_signals();
  while (!stop_requested()) {
    auto line = next_line(*s, sock);
    if (!line) return stop_requested() ? 0 : 1;
    if (line->contains("alive")) {
      std::printf("%c %s\n", line->value("alive", false) ? '+' : '-',
                  line->value("key", std::string()).c_str());
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace starling::app
