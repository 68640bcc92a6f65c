#include "session_client.hpp"

#include <csignal>
#include <cstdio>
#include <system_error>

#include "commands.hpp"
#include "node/data_dir.hpp"

namespace starling::app {

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

}  // namespace

std::filesystem::path control_socket_for(const std::string& data_dir) {
  const std::filesystem::path dir =
      data_dir.empty() ? node::default_data_dir() : std::filesystem::path(data_dir);
  return node::control_socket_path(dir);
}

void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking read returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() {
  return g_stop != 0;
}

std::optional<node::control_session_client> open_session(const std::filesystem::path& sock,
                                                         const nlohmann::json& request,
                                                         const std::string& refused) {
  auto s = node::control_session_client::open(sock, request);
  if (!s) {
    print_error(node::describe_control_error(s.error(), sock));
    return std::nullopt;
  }
  auto first = s->read_line(std::chrono::milliseconds(3000));
  if (!first) {
    print_error(node::describe_control_error(first.error(), sock));
    return std::nullopt;
  }
  if (!first->value("ok", false)) {
    print_error(first->value("error", refused));
    return std::nullopt;
  }
  return std::move(*s);
}

std::optional<nlohmann::json> next_line(node::control_session_client& s,
                                        const std::filesystem::path& sock,
                                        std::chrono::milliseconds timeout) {
  for (;;) {
    auto line = s.read_line(timeout);
    if (line) return std::move(*line);
    if (stop_requested()) return std::nullopt;
    if (line.error() == std::make_error_code(std::errc::interrupted)) continue;
    print_error(node::describe_control_error(line.error(), sock));
    return std::nullopt;
  }
}

void write_line(const std::string& a, const std::string& b) {
  std::fwrite(a.data(), 1, a.size(), stdout);
  std::fputc(' ', stdout);
  std::fwrite(b.data(), 1, b.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void write_json_line(const nlohmann::json& j) {
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

std::optional<nlohmann::json> ask_node(const std::string& data_dir,
                                       const node::api::request& request) {
  const auto sock = control_socket_for(data_dir);
  auto res = node::control_request(sock, node::api::to_json(request));
  if (!res) {
    print_error(node::describe_control_error(res.error(), sock));
    return std::nullopt;
  }
  if (!res->value("ok", false)) {
    print_error(res->value("error", std::string("the node refused the request")));
    return std::nullopt;
  }
  return *res;
}

}  // namespace starling::app
