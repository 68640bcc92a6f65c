// `starling put`, `starling del`, `starling sub` against the running node.
#include "data_commands.hpp"

#include <sodium.h>

#include <cstdint>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <variant>

#include "commands.hpp"
#include "node/control_api.hpp"
#include "session_client.hpp"

namespace starling::app {

namespace {

using nlohmann::json;

int send_put(const put_options& o, bool del) {
  node::api::request req = node::api::del_request{o.key};
  if (!del) {
    std::string value = o.value;
    if (value == "-") {
      value.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    }
    const auto b = as_bytes(value);
    req = node::api::put_request{o.key, bytes(b.begin(), b.end()), o.encoding};
  }
  const auto sock = control_socket_for(o.data_dir);
  auto r = node::control_request(sock, node::api::to_json(req));
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
  const node::api::request req = node::api::sub_request{o.expr, o.latest};
  auto s = open_session(sock, node::api::to_json(req), "the node refused the subscription");
  if (!s) return 1;
  catch_stop_signals();
  std::uint64_t seen = 0;
  while (!stop_requested() && (!o.count || seen < *o.count)) {
    auto line = next_line(*s, sock);
    if (!line) return stop_requested() ? 0 : 1;
    auto ev = node::api::parse_sub_event(*line);
    if (!ev) {
      print_error("unexpected line from the node: " + ev.error().message);
      return 1;
    }
    if (const auto* r = std::get_if<node::api::refusal>(&*ev)) {
      print_error(r->error);
      return 1;
    }
    const auto& sample = std::get<node::api::sample_event>(*ev);
    const std::string value(sample.value.begin(), sample.value.end());
    if (o.json) {
      json out{{"key", sample.key},
               {"value", value},
               {"encoding", sample.encoding},
               {"kind", sample.del ? "delete" : "put"},
               {"timestamp", sample.timestamp},
               {"source", sample.source},
               {"seq", sample.seq}};
      write_json_line(out);
    } else {
      write_line(sample.key, value);
    }
    ++seen;
  }
  return 0;
}

}  // namespace starling::app
