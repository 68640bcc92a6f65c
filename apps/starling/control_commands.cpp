// `starling peers` and `starling status`: one request over the control socket, then print.
#include "control_commands.hpp"

#include "commands.hpp"
#include "node/control.hpp"
#include "session_client.hpp"

namespace starling::app {

namespace {

int run_control(const control_options& o, control_text::view v) {
  const auto sock = control_socket_for(o.data_dir);
  auto r = node::control_request(sock, control_text::request_for(v));
  if (!r) {
    print_error(node::describe_control_error(r.error(), sock));
    return 1;
  }
  auto out = control_text::render_response(*r, v, o.json);
  if (!out.ok) {
    print_error(out.text);
    return 1;
  }
  std::fwrite(out.text.data(), 1, out.text.size(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int run_peers(const control_options& o) {
  return run_control(o, o.all ? control_text::view::known : control_text::view::peers);
}

int run_status(const control_options& o) {
  return run_control(o, control_text::view::status);
}

}  // namespace starling::app
