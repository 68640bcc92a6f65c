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
#include <variant>

#include "commands.hpp"
#include "core/data/wire.hpp"
#include "core/keyexpr/keyexpr.hpp"
#include "node/control_api.hpp"
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
  const auto timeout_ms = std::max<std::uint64_t>(static_cast<std::uint64_t>(o.timeout * 1000), 1);
  const auto target = node::api::parse_target(o.target);
  if (!target) {
    print_error("target must be all, best or complete, not '" + o.target + "'");
    return 1;
  }
  node::api::get_request get;
  get.selector = expr;
  get.parameters = params;
  get.timeout = std::chrono::milliseconds(timeout_ms);
  get.target = *target;
  get.consolidation = o.latest ? data::consolidation::latest : data::consolidation::none;
  if (o.value) {
    const auto b = as_bytes(*o.value);
    get.value = bytes(b.begin(), b.end());
  }
  const auto sock = control_socket_for(o.data_dir);
  auto s = open_session(sock, node::api::to_json(node::api::request(std::move(get))));
  if (!s) return 1;
  catch_stop_signals();
  std::size_t good = 0, errors = 0;
  for (;;) {
    auto line = next_line(*s, sock, std::chrono::milliseconds(timeout_ms + 5000));
    if (!line) return stop_requested() ? 130 : 1;
    auto ev = node::api::parse_get_event(*line);
    if (!ev) {
      print_error("unexpected line from the node: " + ev.error().message);
      return 1;
    }
    if (const auto* r = std::get_if<node::api::reply_event>(&*ev)) {
      const std::string value(r->value.begin(), r->value.end());
      r->error ? ++errors : ++good;
      if (o.json) {
        json out{{"key", r->key},           {"value", value},
                 {"encoding", r->encoding}, {"timestamp", r->timestamp},
                 {"from", r->from},         {"error", r->error}};
        write_json_line(out);
      } else if (r->error) {
        print_error(r->key + ": the queryable failed: " + value);
      } else {
        write_line(r->key, value);
      }
      continue;
    }
    if (const auto* d = std::get_if<node::api::done_event>(&*ev)) {
      if (good > 0) return 0;
      const auto asked = d->nodes_asked;
      if (errors > 0) {
        print_error("every reply to " + o.selector + " was an error");
      } else if (asked == 0) {
        print_error("no queryable matches " + o.selector);
      } else if (d->timed_out) {
        print_error("no reply to " + o.selector + " within " + std::to_string(o.timeout) + " s (" +
                    std::to_string(asked) + " node(s) asked)");
      } else {
        print_error("no reply to " + o.selector + " (" + std::to_string(asked) +
                    " node(s) asked, none had an answer)");
      }
      return 1;
    }
    print_error(std::get<node::api::refusal>(*ev).error);
    return 1;
  }
}

int run_reply(const reply_options& o) {
  if (sodium_init() < 0) return 1;
  if (o.command.empty()) {
    print_error("reply needs a command after --, e.g. starling reply cmd/blinds -- echo ok");
    return 1;
  }
  const auto sock = control_socket_for(o.data_dir);
  auto s = open_session(
      sock,
      node::api::to_json(node::api::request(node::api::queryable_request{o.expr, o.complete})));
  if (!s) return 1;
  auto own = keyexpr::key::parse(o.expr);
  catch_stop_signals();
  while (!stop_requested()) {
    auto line = next_line(*s, sock);
    if (!line) return stop_requested() ? 0 : 1;
    auto ev = node::api::parse_queryable_event(*line);
    if (!ev) {
      print_error("unexpected line from the node: " + ev.error().message);
      continue;
    }
    if (const auto* e = std::get_if<node::api::reply_error_event>(&*ev)) {
      print_error(e->error);
      continue;
    }
    if (const auto* r = std::get_if<node::api::refusal>(&*ev)) {
      print_error(r->error);
      return 1;
    }
    const auto& q = std::get<node::api::query_event>(*ev);
    // The reply's key: the query's own key, or ours when the query has wildcards.
    node::api::reply_message answer{q.handle, {}, {}, {}, false};
    if (keyexpr::key::parse(q.selector)) {
      answer.key = q.selector;
    } else if (own) {
      answer.key = own->str();
    }
    std::string payload;
    if (answer.key.empty()) {
      answer.error = true;
      payload = "a query on " + q.selector + " has no single key for a queryable on " + o.expr;
      answer.key = q.selector;
    } else {
      const std::string input = q.value ? std::string(q.value->begin(), q.value->end()) : "";
      auto r = run_command(o.command,
                           {{"STARLING_KEY", q.selector}, {"STARLING_PARAMS", q.parameters}}, input,
                           std::chrono::milliseconds(static_cast<long>(o.command_timeout * 1000)));
      const bool ok = r.status == 0;
      payload = r.out;
      if (!ok) {
        if (payload.empty()) payload = r.why;
        print_error("query " + q.selector + ": " + r.why);
      }
      answer.error = !ok;
    }
    const auto b = as_bytes(payload);
    answer.value.assign(b.begin(), b.end());
    if (!s->send(node::api::to_json(node::api::queryable_message(std::move(answer)))) ||
        !s->send(
            node::api::to_json(node::api::queryable_message(node::api::final_message{q.handle})))) {
      print_error("the node went away");
      return 1;
    }
  }
  return 0;
}

int run_alive(const alive_options& o) {
  if (sodium_init() < 0) return 1;
  const auto sock = control_socket_for(o.data_dir);
  const node::api::request req = o.watch ? node::api::request(node::api::watch_request{o.key})
                                         : node::api::request(node::api::token_request{o.key});
  auto s = open_session(sock, node::api::to_json(req));
  if (!s) return 1;
  catch_stop_signals();
  while (!stop_requested()) {
    auto line = next_line(*s, sock);
    if (!line) return stop_requested() ? 0 : 1;
    auto ev = node::api::parse_watch_event(*line);
    if (!ev) continue;  // a token session sends nothing after "ok"; ignore what we do not know
    if (const auto* r = std::get_if<node::api::refusal>(&*ev)) {
      print_error(r->error);
      return 1;
    }
    const auto& e = std::get<node::api::alive_event>(*ev);
    std::printf("%c %s\n", e.alive ? '+' : '-', e.key.c_str());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace starling::app
