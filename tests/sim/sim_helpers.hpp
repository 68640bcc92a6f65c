#pragma once
// Helpers shared by the simulations: seeds from the environment and random topologies.
#include <cstdint>
#include <cstdlib>
#include <random>
#include <vector>

#include "sim_net.hpp"

namespace starling::sim {

/// The seeds to run: STARLING_SIM_SEED=<n> replays one, STARLING_SIM_SOAK=<n> runs n of them,
/// otherwise `defaults`.
inline std::vector<std::uint64_t> seeds(std::vector<std::uint64_t> defaults) {
  if (const char* s = std::getenv("STARLING_SIM_SEED")) return {std::strtoull(s, nullptr, 10)};
  if (const char* n = std::getenv("STARLING_SIM_SOAK")) {
    std::vector<std::uint64_t> out;
    for (std::uint64_t i = 0; i < std::strtoull(n, nullptr, 10); ++i)
      out.push_back(1000 + i);
    return out;
  }
  return defaults;
}

/// A random connected topology: a random tree plus `extra` random edges.
inline void random_topology(network& net, std::size_t n, std::size_t extra) {
  for (std::size_t i = 0; i < n; ++i)
    net.add_node();
  for (std::size_t i = 1; i < n; ++i) {
    std::uniform_int_distribution<std::size_t> pick(0, i - 1);
    net.connect(i, pick(net.rng()));
  }
  std::uniform_int_distribution<std::size_t> any(0, n - 1);
  for (std::size_t e = 0; e < extra; ++e)
    net.connect(any(net.rng()), any(net.rng()));
}

}  // namespace starling::sim
