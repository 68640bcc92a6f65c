#!/usr/bin/env bash
# Starling demo: a small building (scripts/demo/building.sh). Five nodes on two floors, the
# gateway the only one on both, so the monitor on floor 1 and the blinds on floor 2 are two hops
# apart; simulated sensors (`starling put` loops), the blinds (`starling reply` running
# scripts/demo/blinds.sh), liveliness tokens, and a monitor (`starling sub` and `starling alive
# --watch` on 'building/**') summarised. A command crosses two hops; then a node is killed with
# SIGKILL and restarted while the others carry on. About 30 lines, 15-30 s after the build.
#   As root: each device is a network namespace, each floor a bridge, and the nodes find each
#   other by mDNS with no addresses given. Otherwise (or with --loopback): 127.0.0.1, wired by
#   --bootstrap into the same shape.
#
# What became of the earlier demo: the building is the data layer, which is what users come for,
# and it shows the mesh too (zero-config discovery per floor as root, a killed node noticed and
# rejoining by itself), so it is the whole default run. The link-layer part (three nodes connect,
# identify, ping, 256 MiB of encrypted throughput each way) moved to scripts/demo/link.sh, run
# first with --link; the six-device zero-config LAN with a link unplugged is still
# scripts/demo_lan.sh, run last with --lan (root only). Both would double the output.
#
# Traffic stays on 127.0.0.1 or inside the namespaces the demo creates; every process and
# namespace is removed on exit, also on Ctrl-C or failure. Exit status 0 only when every step
# it shows worked (e.g. the command got its reply).
#
# Usage: scripts/demo.sh [--loopback] [--link] [--lan] [--no-build]
#   --loopback  127.0.0.1 even as root (no namespaces)
#   --link      also the link-layer part first (connect, identify, ping, throughput)
#   --lan       also the zero-config LAN of six devices last (root only)
#   --no-build  no package install, no build: use $STARLING_BIN (the CTest smoke test does
#               STARLING_BIN=build/dev/bin/starling scripts/demo.sh --no-build --loopback)
set -euo pipefail
cd "$(dirname "$0")/.."

loopback=0 link=0 lan=0 build=1
for arg in "$@"; do
  case $arg in
    --loopback) loopback=1 ;;
    --link) link=1 ;;
    --lan) lan=1 ;;
    --no-build) build=0 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

if ((build)); then
  scripts/install-deps.sh >/dev/null
  echo "Building starling (first run takes a few minutes)..."
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target starling >/dev/null
  bin=build/release/bin/starling
else
  bin=${STARLING_BIN:?--no-build needs STARLING_BIN=path/to/starling}
  [[ -x $bin ]] || { echo "demo.sh: STARLING_BIN=$bin is not an executable" >&2; exit 1; }
fi
export STARLING_BIN
STARLING_BIN=$(realpath "$bin")

if ((link)); then
  scripts/demo/link.sh
  echo
fi

building_args=()
((loopback)) && building_args+=(--loopback)
scripts/demo/building.sh "${building_args[@]}"

if ((!loopback)) && [[ $(id -u) -ne 0 ]]; then
  echo "(As root the nodes run in network namespaces, a LAN per floor, and find each other by mDNS.)"
fi

if ((lan)); then
  set +e
  scripts/demo_lan.sh
  code=$?
  set -e
  if ((code == 77)); then
    echo "(The zero-config LAN part needs root to create network namespaces: sudo scripts/demo.sh --lan)"
  elif ((code != 0)); then
    exit "$code"
  fi
fi
