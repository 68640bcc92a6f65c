// The one Starling binary. Subcommands are added as the node grows.
#include <CLI/CLI.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  CLI::App app{"starling: a peer-to-peer IoT node"};
  app.set_version_flag("--version", "starling 0.1.0");
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
