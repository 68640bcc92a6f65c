#!/usr/bin/env bash
# The zero-config part of the demo: six "Raspberry Pis" (network namespaces on one virtual
# switch, built by tests/netns/lan.sh) start `starling node` with nothing but the interface to
# use, find each other by mDNS and form a full mesh; then one is unplugged (its switch port
# goes down), the others notice, and it is plugged back in and rejoins by itself.
# Needs root (for namespaces); all traffic stays inside the namespaces this script creates,
# and they are removed on exit. Usage: STARLING_BIN=build/release/bin/starling scripts/demo_lan.sh
# (exits 77 when namespaces cannot be made, e.g. not root).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../tests/netns/lan.sh"
LAN_TEST_NAME=demo_lan
bin=$(realpath "${STARLING_BIN:-$HERE/../build/release/bin/starling}")
N=6
lan_init 150 2>/dev/null

bold=$'\e[1m' dim=$'\e[2m' green=$'\e[32m' reset=$'\e[0m'
[[ -t 1 ]] || { bold=; dim=; green=; reset=; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# Polling through `starling status` is slow on a busy machine, so the times reported come from
# the nodes' own log timestamps (HH:MM:SS.mmm, UTC like `date -u`).
day_ms() { date -u +%H:%M:%S.%3N | log_ms; }
log_ms() { awk -F'[:. ]' '{ print (($1 * 60 + $2) * 60 + $3) * 1000 + $4 }'; }
last_log_ms() {  # regex -> the latest matching log line's time (ms of day) over all nodes
  local p
  for p in "${pis[@]}"; do grep -E "$1" "$LAN_DIR/$p.err"; done | log_ms | sort -n | tail -1
}
connected() {  # pi -> number of connected peers (0 if the node does not answer)
  lan_exec "$1" "$bin" status --json --data-dir "$LAN_DIR/$1" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["connected_peers"])' 2>/dev/null || echo 0
}
wait_all() {  # want seconds pi...: until each pi has `want` peers
  local want=$1 limit=$2; shift 2
  local end=$(( $(now_ms) + limit * 1000 )) p ok
  while (( $(now_ms) < end )); do
    ok=1
    for p in "$@"; do [[ $(connected "$p") -eq $want ]] || { ok=0; break; }; done
    ((ok)) && return 0
    sleep 0.05
  done
  return 1
}

lan_switch a 2>/dev/null
pis=()
for i in $(seq 1 $N); do lan_host "pi$i" a 2>/dev/null; pis+=("pi$i"); done

echo
echo "${bold}Zero-config LAN: $N devices on one switch, no peer addresses given${reset}"
echo "  ${dim}each runs: starling node --interface eth0 --listen /ip4/<its address>/tcp/4001${reset}"
t0=$(day_ms)
for p in "${pis[@]}"; do
  lan_spawn "$p" "$p" "$bin" node --data-dir "$LAN_DIR/$p" --interface eth0 --listen "/ip4/$(lan_ip "$p")/tcp/4001"
done
if wait_all $((N - 1)) 60 "${pis[@]}"; then
  first=$(for p in "${pis[@]}"; do grep -E "mdns: running" "$LAN_DIR/$p.err"; done | log_ms | sort -n | head -1)
  last=$(last_log_ms "connected (to|from)")
  echo "  full mesh ($((N * (N - 1) / 2)) links) $((last - first)) ms after the first node was up" \
    "($((last - t0)) ms after the first process was launched)"
else
  echo "  the mesh did not form within 30 s; logs are in $LAN_DIR" >&2
  LAN_KEEP_LOGS=1
  exit 1
fi
echo
echo "${bold}pi1: starling peers${reset}"
lan_exec pi1 "$bin" peers --data-dir "$LAN_DIR/pi1" | sed 's/^/  /'

echo
echo "${bold}Unplugging pi$N (its switch port goes down: no goodbye, no TCP reset)${reset}"
gone=$(sed -n 1p "$LAN_DIR/pi$N.out")
t0=$(day_ms)
lan_link_down "pi$N"
others=("${pis[@]:0:N-1}")
if wait_all $((N - 2)) 30 "${others[@]}"; then
  echo "  the other $((N - 1)) dropped it $(( $(last_log_ms "disconnected $gone") - t0 )) ms later (dead-peer time: 3 s)"
else
  echo "  not every node dropped it within 20 s" >&2
fi
sleep 1
echo "${bold}Plugging pi$N back in${reset}"
t0=$(day_ms)
lan_link_up "pi$N"
if wait_all $((N - 1)) 60 "${pis[@]}"; then
  echo "  full mesh again $(( $(last_log_ms "connected (to|from)") - t0 )) ms later (backoff re-dials and mDNS, by itself)"
else
  echo "  pi$N did not rejoin within 40 s" >&2
fi
echo
echo "${bold}pi1: starling status${reset}"
lan_exec pi1 "$bin" status --data-dir "$LAN_DIR/pi1" | sed 's/^/  /'
echo
echo "${green}${bold}OK${reset}: discovered, meshed, noticed a dead peer and healed, with no configuration."
LAN_RESULT_PRINTED=1
exit 0
