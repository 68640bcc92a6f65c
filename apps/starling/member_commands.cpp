// The membership commands: one control request each (join: a session that ends when the join
// does), then a line for a person.
#include "member_commands.hpp"

#include <unistd.h>

#include <cctype>
#include <cstdio>

#include "commands.hpp"
#include "node/control.hpp"
#include "node/control_api.hpp"
#include "qr_code.hpp"
#include "session_client.hpp"

namespace starling::app {

namespace {

using nlohmann::json;

std::string joined(const json& list) {
  std::string out;
  if (!list.is_array()) return out;
  for (const auto& v : list) {
    if (!v.is_string()) continue;
    out += (out.empty() ? "" : ",") + v.get<std::string>();
  }
  return out;
}

void print_network(const char* verb, const json& n) {
  std::printf("%s network %s (\"%s\"), id %s; this node's roles: %s\n", verb,
              n.value("id", std::string()).substr(0, 16).c_str(),
              n.value("name", std::string()).c_str(), n.value("id", std::string()).c_str(),
              joined(n.value("roles", json::array())).c_str());
  std::fflush(stdout);
}

}  // namespace

unsigned long long parse_duration_seconds(const std::string& text) {
  if (text.empty()) return 0;
  std::size_t i = 0;
  unsigned long long n = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (n > 1'000'000'000ULL) return 0;
    n = n * 10 + static_cast<unsigned>(text[i++] - '0');
  }
  if (i == 0) return 0;
  const std::string unit = text.substr(i);
  if (unit.empty() || unit == "s") return n;
  if (unit == "m") return n * 60;
  if (unit == "h") return n * 3600;
  if (unit == "d") return n * 86400;
  return 0;
}

int run_network_create(const member_options& o) {
  auto r = ask_node(o.data_dir, node::api::network_create_request{o.name});
  if (!r) return 1;
  print_network("created", (*r)["network"]);
  return 0;
}

int run_invite(const member_options& o) {
  const auto ttl = parse_duration_seconds(o.expires);
  if (ttl == 0) {
    print_error("bad --expires '" + o.expires + "': use a number with s, m, h or d, e.g. 10m");
    return 1;
  }
  auto r = ask_node(o.data_dir, node::api::invite_request{o.role, ttl});
  if (!r) return 1;
  const std::string code = r->value("code", std::string());
  std::printf("%s\n", code.c_str());
  std::fflush(stdout);
  if (o.no_qr && o.png.empty()) return 0;
  auto m = qr::encode(code);
  if (!m) {
    print_error(m.error().message);
    return 1;
  }
  if (!o.no_qr) {
    std::fputs(qr::render_text(*m, ::isatty(STDOUT_FILENO) != 0).c_str(), stdout);
    std::printf("role %s, valid for %s: on the new device run `starling join %s`\n", o.role.c_str(),
                o.expires.c_str(), code.c_str());
    std::fflush(stdout);
  }
  if (!o.png.empty()) {
    if (auto w = qr::write_png(*m, o.png); !w) {
      print_error(w.error().message);
      return 1;
    }
  }
  return 0;
}

int run_join(const member_options& o) {
  const auto sock = control_socket_for(o.data_dir);
  auto s = node::control_session_client::open(
      sock, node::api::to_json(node::api::join_request{o.code, o.peers}));
  if (!s) {
    print_error(node::describe_control_error(s.error(), sock));
    return 1;
  }
  // Each candidate inviter gets 10 s; a LAN rarely has more than a few that match the code.
  auto line = s->read_line(std::chrono::minutes(5));
  if (!line) {
    print_error("no answer from the node: " + line.error().message());
    return 1;
  }
  if (!line->value("ok", false)) {
    print_error(line->value("error", std::string("the join failed")));
    return 1;
  }
  print_network("joined", (*line)["network"]);
  return 0;
}

int run_members(const member_options& o) {
  auto r = ask_node(o.data_dir, node::api::members_request{});
  if (!r) return 1;
  if (o.json) {
    r->erase("ok");
    write_json_line(*r);
    return 0;
  }
  if ((*r)["network"].is_null()) {
    std::printf("this node belongs to no network: it admits every peer\n");
    return 0;
  }
  const auto& n = (*r)["network"];
  std::printf("network %s (\"%s\"), log height %llu\n",
              n.value("id", std::string()).substr(0, 16).c_str(),
              n.value("name", std::string()).c_str(),
              static_cast<unsigned long long>(n.value("log_height", 0ULL)));
  std::printf("%-54s %-20s %s\n", "PEER", "ROLES", "STATE");
  for (const auto& m : (*r)["members"]) {
    std::string state = m.value("revoked", false)     ? "revoked"
                        : m.value("self", false)      ? "this node"
                        : m.value("owner", false)     ? "owner key"
                        : m.value("connected", false) ? "connected"
                                                      : "-";
    if (m.value("admin", false) && !m.value("revoked", false)) state += ", admin";
    std::printf("%-54s %-20s %s\n", m.value("id", std::string()).c_str(),
                joined(m.value("roles", json::array())).c_str(), state.c_str());
  }
  std::fflush(stdout);
  return 0;
}

int run_revoke(const member_options& o) {
  if (!ask_node(o.data_dir, node::api::revoke_request{o.peer})) return 1;
  std::printf("revoked %s\n", o.peer.c_str());
  return 0;
}

int run_role(const member_options& o) {
  if (!ask_node(o.data_dir, node::api::role_request{o.peer, o.roles})) return 1;
  std::string roles;
  for (const auto& r : o.roles)
    roles += (roles.empty() ? "" : ",") + r;
  std::printf("%s now has roles %s\n", o.peer.c_str(), roles.c_str());
  return 0;
}

}  // namespace starling::app
