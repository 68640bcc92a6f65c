// The one Starling binary: `starling node` runs the daemon; the other subcommands are tools.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>

#include "acl_commands.hpp"
#include "commands.hpp"
#include "control_commands.hpp"
#include "data_commands.hpp"
#include "member_commands.hpp"
#include "query_commands.hpp"

int main(int argc, char** argv) {
  using namespace starling::app;
  auto logger = spdlog::stderr_color_mt("starling");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::info);

  CLI::App app{"starling: a peer-to-peer IoT node (libp2p on the wire)"};
  app.set_version_flag("--version", "starling 0.1.0");
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("starling: ") + e.what() + " (see --help)\n";
  });
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  node_options node_opts;
  auto* node_cmd =
      app.add_subcommand("node", "run the node: listen, discover peers, keep the mesh connected");
  node_cmd->add_option("--data-dir", node_opts.data_dir,
                       "identity and state (default: $XDG_DATA_HOME/starling)");
  node_cmd->add_option("--listen", node_opts.listen,
                       "multiaddr to listen on (repeatable), e.g. /ip4/127.0.0.1/tcp/0");
  node_cmd->add_option("--bootstrap", node_opts.bootstrap,
                       "peer multiaddr to connect to at start (repeatable)");
  node_cmd->add_option("--config", node_opts.config_file, "TOML config file (flags override it)");
  node_cmd->add_flag("--no-early-muxer", node_opts.no_early_muxer,
                     "do not offer Yamux inside the Noise handshake");
  node_cmd->add_option("--interface", node_opts.interfaces,
                       "run mDNS discovery only on this interface (repeatable; default: every "
                       "multicast LAN interface)");
  node_cmd->add_flag("--no-mdns", node_opts.no_mdns, "turn mDNS discovery off");
  node_cmd
      ->add_option("--max-connections", node_opts.max_connections,
                   "connect to at most this many discovered peers (default 32)")
      ->check(CLI::Range(0, 100000));
  node_cmd
      ->add_option(
          "--dead-peer-timeout", node_opts.dead_peer_timeout_ms,
          "milliseconds after which a silent peer is dropped (default 3000; 0 disables keep-alive)")
      ->check(CLI::Range(0, 3600000));
  node_cmd->add_flag(
      "--serve-perf", node_opts.serve_perf,
      "serve /perf/1.0.0 throughput tests to any peer (at most 1 GiB per request; default off)");

  node_cmd->add_option("--storage", node_opts.storage,
                       "keep the latest value of each key matching this expression in memory "
                       "and answer queries on it (repeatable; [[storage]] in the config file "
                       "for history and SQLite)");

  std::string id_dir;
  auto* id_cmd =
      app.add_subcommand("id", "print this node's peer id (creating the identity if needed)");
  id_cmd->add_option("--data-dir", id_dir, "identity and state (default: $XDG_DATA_HOME/starling)");

  ping_options ping_opts;
  auto* ping_cmd = app.add_subcommand("ping", "ping a peer over libp2p, like ping(8)");
  ping_cmd
      ->add_option("multiaddr", ping_opts.target,
                   "peer address, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...")
      ->required();
  ping_cmd->add_option("-c,--count", ping_opts.count, "number of pings (default 4)")
      ->check(CLI::Range(1, 1000000));
  ping_cmd->add_option("-i,--interval", ping_opts.interval, "seconds between pings (default 1)")
      ->check(CLI::Range(0.0, 3600.0));
  ping_cmd
      ->add_option("-W,--timeout", ping_opts.timeout, "seconds to wait for each reply (default 10)")
      ->check(CLI::Range(0.001, 3600.0));

  perf_options perf_opts;
  auto* perf_cmd = app.add_subcommand("perf", "measure throughput with the libp2p perf protocol");
  perf_cmd->add_option("multiaddr", perf_opts.target, "peer address")->required();
  perf_cmd->add_option("--upload-bytes", perf_opts.upload, "bytes to send (default 0)");
  perf_cmd->add_option("--download-bytes", perf_opts.download, "bytes to receive (default 0)");
  perf_cmd->add_flag("--json", perf_opts.json, "print JSON lines like the libp2p perf tools");

  control_options peers_opts;
  auto* peers_cmd = app.add_subcommand("peers", "list the peers the running node is connected to");
  peers_cmd->add_option("--data-dir", peers_opts.data_dir,
                        "the node's data directory (default: $XDG_DATA_HOME/starling)");
  peers_cmd->add_flag("--json", peers_opts.json, "print the node's JSON answer");
  peers_cmd->add_flag(
      "--all", peers_opts.all,
      "every known peer (discovered, learned, remembered), not only connected ones");

  control_options status_opts;
  auto* status_cmd = app.add_subcommand("status", "show the running node's state");
  status_cmd->add_option("--data-dir", status_opts.data_dir,
                         "the node's data directory (default: $XDG_DATA_HOME/starling)");
  status_cmd->add_flag("--json", status_opts.json, "print the node's JSON answer");

  put_options put_opts;
  auto* put_cmd = app.add_subcommand("put", "publish a value on a key through the running node");
  put_cmd->add_option("--data-dir", put_opts.data_dir, "the node's data directory");
  put_cmd->add_option("key", put_opts.key, "key, e.g. home/kitchen/temp")->required();
  put_cmd->add_option("value", put_opts.value, "the value; - reads it from standard input")
      ->required();
  put_cmd->add_option("--encoding", put_opts.encoding, "content type, e.g. text/plain");

  put_options del_opts;
  auto* del_cmd = app.add_subcommand("del", "publish a delete of a key through the running node");
  del_cmd->add_option("--data-dir", del_opts.data_dir, "the node's data directory");
  del_cmd->add_option("key", del_opts.key, "key, e.g. home/kitchen/temp")->required();

  sub_options sub_opts;
  auto* sub_cmd = app.add_subcommand("sub", "print the samples of a key expression, one per line");
  sub_cmd->add_option("--data-dir", sub_opts.data_dir, "the node's data directory");
  sub_cmd->add_option("keyexpr", sub_opts.expr, "key expression, e.g. home/*/temp or home/**")
      ->required();
  sub_cmd->add_option("-c,--count", sub_opts.count, "exit after this many samples");
  sub_cmd->add_flag(
      "--json", sub_opts.json,
      "one JSON object per sample: key, value, encoding, kind, timestamp, source, seq");

  sub_cmd->add_flag("--latest", sub_opts.latest,
                    "first print the current values kept by storages, then the live samples");

  get_options get_opts;
  auto* get_cmd =
      app.add_subcommand("get", "query the queryables matching a selector, one line per reply");
  get_cmd->add_option("--data-dir", get_opts.data_dir, "the node's data directory");
  get_cmd->add_option("selector", get_opts.selector, "KEYEXPR[?PARAMETERS], e.g. cmd/blinds")
      ->required();
  get_cmd->add_option("--timeout", get_opts.timeout, "seconds to wait for replies (default 10)");
  get_cmd
      ->add_option("--target", get_opts.target,
                   "all (default), best (the nearest node) or complete")
      ->check(CLI::IsMember({"all", "best", "complete"}));
  get_cmd->add_flag("--latest", get_opts.latest, "one reply per key, the latest");
  get_cmd->add_option("--value", get_opts.value, "a value sent with the query");
  get_cmd->add_flag("--json", get_opts.json,
                    "one JSON object per reply: key, value, encoding, timestamp, from, error");

  reply_options reply_opts;
  auto* reply_cmd = app.add_subcommand(
      "reply", "answer queries on a key expression by running a command (after --)");
  reply_cmd->add_option("--data-dir", reply_opts.data_dir, "the node's data directory");
  reply_cmd->add_flag("--complete", reply_opts.complete,
                      "this queryable answers for every key of its expression");
  reply_cmd->add_option("--command-timeout", reply_opts.command_timeout,
                        "seconds a command may run (default 30)");
  reply_cmd->add_option("keyexpr", reply_opts.expr, "key expression, e.g. cmd/blinds")->required();
  reply_cmd
      ->add_option("command", reply_opts.command,
                   "COMMAND [ARG...]: gets STARLING_KEY and STARLING_PARAMS, the query's "
                   "value on stdin; its stdout is the reply")
      ->required();

  alive_options alive_opts;
  auto* alive_cmd = app.add_subcommand(
      "alive", "declare a liveliness token until killed, or --watch tokens (+ key / - key)");
  alive_cmd->add_option("--data-dir", alive_opts.data_dir, "the node's data directory");
  alive_cmd->add_flag("--watch", alive_opts.watch, "watch the tokens matching KEY (an expression)");
  alive_cmd->add_option("key", alive_opts.key, "key (or key expression with --watch)")->required();

  auto* acl_cmd = app.add_subcommand("acl", "access policies: show, set, explain, test");
  acl_cmd->require_subcommand(1);
  std::string acl_test_file;
  auto* acl_test_cmd = acl_cmd->add_subcommand(
      "test", "parse a policy file and run its own [[test]] cases (exit 0 when all pass)");
  acl_test_cmd->add_option("file", acl_test_file, "the policy file (TOML)")->required();
  std::string acl_dir, acl_set_file, acl_peer, acl_op, acl_key;
  auto* acl_show_cmd = acl_cmd->add_subcommand("show", "print the policy in force");
  acl_show_cmd->add_option("--data-dir", acl_dir, "the node's data directory");
  auto* acl_set_cmd = acl_cmd->add_subcommand(
      "set", "apply a policy file to the whole network (it must pass its own tests)");
  acl_set_cmd->add_option("file", acl_set_file, "the policy file (TOML)")->required();
  acl_set_cmd->add_option("--data-dir", acl_dir, "the node's data directory");
  auto* acl_explain_cmd =
      acl_cmd->add_subcommand("explain", "say which rule decides whether PEER may do OP on KEY");
  acl_explain_cmd->add_option("peer", acl_peer, "the peer id")->required();
  acl_explain_cmd
      ->add_option("op", acl_op,
                   "put, del, subscribe, query, reply, declare_queryable, liveliness_token, "
                   "liveliness_watch or admin")
      ->required();
  acl_explain_cmd->add_option("key", acl_key, "a key (or a key expression)")->required();
  acl_explain_cmd->add_option("--data-dir", acl_dir, "the node's data directory");

  const char* data_dir_help = "the node's data directory (default: $XDG_DATA_HOME/starling)";
  member_options net_opts;
  auto* network_cmd = app.add_subcommand("network", "the network this node belongs to");
  network_cmd->require_subcommand(1);
  auto* network_create_cmd = network_cmd->add_subcommand(
      "create", "make a new network: this node becomes its owner and first admin");
  network_create_cmd->add_option("--data-dir", net_opts.data_dir, data_dir_help);
  network_create_cmd->add_option("--name", net_opts.name, "the network's name (default home)");

  member_options invite_opts;
  auto* invite_cmd = app.add_subcommand(
      "invite", "open a one-time setup code for a new device (prints the code, then a QR code)");
  invite_cmd->add_option("--data-dir", invite_opts.data_dir, data_dir_help);
  invite_cmd->add_option("--role", invite_opts.role, "the new device's role, e.g. member")
      ->required();
  invite_cmd->add_option("--expires", invite_opts.expires,
                         "how long the code stays valid: 30s, 10m, 2h, 7d (default 10m)");
  invite_cmd->add_option("--png", invite_opts.png, "also write the QR code to this PNG file");
  invite_cmd->add_flag("--no-qr", invite_opts.no_qr, "print the code only");

  member_options join_opts;
  auto* join_cmd = app.add_subcommand(
      "join", "join the network of the device that printed CODE (found on the LAN)");
  join_cmd->add_option("--data-dir", join_opts.data_dir, data_dir_help);
  join_cmd->add_option("code", join_opts.code, "the setup code, e.g. K3F9-...")->required();
  join_cmd->add_option("--peer", join_opts.peers,
                       "the inviter's multiaddr with /p2p/, when discovery cannot find it "
                       "(repeatable)");

  member_options members_opts;
  auto* members_cmd = app.add_subcommand("members", "list the members of this node's network");
  members_cmd->add_option("--data-dir", members_opts.data_dir, data_dir_help);
  members_cmd->add_flag("--json", members_opts.json, "print the node's JSON answer");

  member_options revoke_opts;
  auto* revoke_cmd =
      app.add_subcommand("revoke", "revoke a device for good; every member cuts it off");
  revoke_cmd->add_option("--data-dir", revoke_opts.data_dir, data_dir_help);
  revoke_cmd->add_option("peer", revoke_opts.peer, "the device's peer id")->required();

  member_options role_opts;
  auto* role_cmd = app.add_subcommand("role", "replace a member's roles");
  role_cmd->add_option("--data-dir", role_opts.data_dir, data_dir_help);
  role_cmd->add_option("peer", role_opts.peer, "the member's peer id")->required();
  role_cmd->add_option("roles", role_opts.roles, "one or more roles")->required();

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (*node_cmd) return run_node(node_opts);
  if (*id_cmd) return run_id(id_dir);
  if (*ping_cmd) return run_ping(ping_opts);
  if (*perf_cmd) return run_perf(perf_opts);
  if (*peers_cmd) return run_peers(peers_opts);
  if (*status_cmd) return run_status(status_opts);
  if (*put_cmd) return run_put(put_opts);
  if (*del_cmd) return run_del(del_opts);
  if (*sub_cmd) return run_sub(sub_opts);
  if (*get_cmd) return run_get(get_opts);
  if (*reply_cmd) return run_reply(reply_opts);
  if (*alive_cmd) return run_alive(alive_opts);
  if (*acl_test_cmd) return run_acl_test(acl_test_file);
  if (*acl_show_cmd) return run_acl_show(acl_dir);
  if (*acl_set_cmd) return run_acl_set(acl_set_file, acl_dir);
  if (*acl_explain_cmd) return run_acl_explain(acl_peer, acl_op, acl_key, acl_dir);
  if (*network_create_cmd) return run_network_create(net_opts);
  if (*invite_cmd) return run_invite(invite_opts);
  if (*join_cmd) return run_join(join_opts);
  if (*members_cmd) return run_members(members_opts);
  if (*revoke_cmd) return run_revoke(revoke_opts);
  if (*role_cmd) return run_role(role_opts);
  return 2;
}
