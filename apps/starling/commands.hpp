#pragma once
/// The subcommands of the `starling` binary. Each returns the process exit code and prints
/// user errors as one line on stderr.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace starling::app {

struct node_options {
  std::string data_dir;
  std::vector<std::string> listen;
  std::vector<std::string> bootstrap;
  std::string config_file;
  bool no_early_muxer = false;
  std::vector<std::string> interfaces;
  bool no_mdns = false;
  std::optional<std::size_t> max_connections;
  std::optional<long> dead_peer_timeout_ms;
  bool serve_perf = false;
  std::vector<std::string> storage;  ///< --storage EXPR: a memory storage keeping 1 per key
};

struct ping_options {
  std::string target;
  int count = 4;
  double interval = 1.0;
  double timeout = 10.0;
};

struct perf_options {
  std::string target;
  std::uint64_t upload = 0;
  std::uint64_t download = 0;
  bool json = false;
};

int run_node(const node_options& o);
int run_id(const std::string& data_dir);
int run_ping(const ping_options& o);
int run_perf(const perf_options& o);

/// Prints "starling: <msg>" on stderr.
void print_error(const std::string& msg);

}  // namespace starling::app
