// `starling put`, `starling del`, `starling sub` against the running node.
#include "data_commands.hpp"

#include <sodium.h>

#include <cstdint>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "node/data_control.hpp"
#include "session_client.hpp"

namespace starling::app {

namespace {

using nlohmann::json;

int send_put(const put_options& o, bool del) {
  json req{{"cmd", del ? "del" : "put"}, {"key", o.key}, {"encoding", o.encoding}};
  if (!del) {
    std::string value = o.value;
    if (value == "-") {
      value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    req["value_b64"] = node::to_base64(as_bytes(value));
  }
  const auto sock = control_socket_for(o.data_dir);
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
  const auto sock = control_socket_for(o.data_dir);
  json req{{"cmd", "sub"}, {"expr", o.expr}};
  if (o.latest) req["latest"] = true;
  auto s = open_session(sock, req, "the node refused the subscription");
  if (!s) return 1;
  catch_stop_signals();
  std::uint64_t seen = 0;
  while (!stop_requested() && (!o.count || seen < *o.count)) {
    auto line = next_line(*s, sock);
    if (!line) return stop_requested() ? 0 : 1;
    if (line->contains("ok") && !line->value("ok", true)) {
      print_error(line->value("error", std::string("the node ended the subscription")));
      return 1;
    }
    const std::string value = decode_base64(*line, "value_b64");
    if (o.json) {
      json out{{"key", line->value("key", std::string())},
               {"value", value},
               {"encoding", line->value("encoding", std::string())},
               {"kind", line->value("kind", std::string())},
               {"timestamp", line->value("timestamp", std::string())},
               {"source", line->value("source", std::string())},
               {"seq", line->value("seq", std::uint64_t{0})}};
      write_json_line(out);
    } else {
      write_line(line->value("key", std::string()), value);
    }
    ++seen;
  }
  return 0;
}

}  // namespace starling::app
