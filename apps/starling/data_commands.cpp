// `starling put`, `starling del`, `starling sub` against the running node.
#include "data_commands.hpp"

#include <sodium.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "node/control.hpp"
#include "node/data_dir.hpp"

namespace starling::app {

namespace {

using nlohmann::json;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

std::filesystem::path socket_for(const std::string& data_dir) {
  const std::filesystem::path dir =
      data_dir.empty() ? node::default_data_dir() : std::filesystem::path(data_dir);
  return node::control_socket_path(dir);
}

std::string to_base64(const std::string& b) {
  std::string out(sodium_base64_encoded_len(b.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(b.data()),
                    b.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string from_base64(const std::string& text) {
  std::string out(text.size(), '\0');
  std::size_t n = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &n, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return {};
  }
  out.resize(n);
  return out;
}

int send_put(const put_options& o, bool del) {
  json req{{"cmd", del ? "del" : "put"}, {"key", o.key}, {"encoding", o.encoding}};
  if (!del) {
    std::string value = o.value;
    if (value == "-") {
      value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    req["value_b64"] = to_base64(value);
  }
  const auto sock = socket_for(o.data_dir);
  auto r = node::control_request(sock, req);
  if (!r) {
    print_error(node::describe_control_error(r.error(), sock));
    return 1;
  }
  if (!r->value("ok", false)) {
    print_error(r->value("error", std::string("the node refused the request")));
    return 1;
  }
  return 0;
}

}  // namespace

int run_put(const put_options& o) {
  return send_put(o, false);
}
int run_del(const put_options& o) {
  return send_put(o, true);
}

int run_sub(const sub_options& o) {
  if (sodium_init() < 0) return 1;
  const auto sock = socket_for(o.data_dir);
  json req{{"cmd", "sub"}, {"expr", o.expr}};
  if (o.latest) req["latest"] = true;
  auto s = node::control_session_client::open(sock, req);
  if (!s) {
    print_error(node::describe_control_error(s.error(), sock));
    return 1;
  }
  auto first = s->read_line(std::chrono::milliseconds(3000));
  if (!first) {
    print_error(node::describe_control_error(first.error(), sock));
    return 1;
  }
  if (!first->value("ok", false)) {
    print_error(first->value("error", std::string("the node refused the subscription")));
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::uint64_t seen = 0;
  while (!g_stop && (!o.count || seen < *o.count)) {
    auto line = s->read_line();
    if (!line) {
      if (line.error() == std::make_error_code(std::errc::interrupted)) continue;
      print_error(node::describe_control_error(line.error(), sock));
      return 1;
    }
    if (line->contains("ok") && !line->value("ok", true)) {
      print_error(line->value("error", std::string("the node ended the subscription")));
      return 1;
    }
    const std::string value = from_base64(line->value("value_b64", std::string()));
    if (o.json) {
      json out{{"key", line->value("key", std::string())},
               {"value", value},
               {"encoding", line->value("encoding", std::string())},
               {"kind", line->value("kind", std::string())},
               {"timestamp", line->value("timestamp", std::string())},
               {"source", line->value("source", std::string())},
               {"seq", line->value("seq", std::uint64_t{0})}};
      const std::string text = out.dump(-1, ' ', false, json::error_handler_t::replace);
      std::printf("%s\n", text.c_str());
    } else {
      const std::string key = line->value("key", std::string());
      std::fwrite(key.data(), 1, key.size(), stdout);
      std::fputc(' ', stdout);
      std::fwrite(value.data(), 1, value.size(), stdout);
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
    ++seen;
  }
  return 0;
}

}  // namespace starling::app
