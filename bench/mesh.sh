#!/usr/bin/env bash
# Discovery and mesh benchmark on the virtual LAN of tests/netns (root; all traffic stays in the
# run's own network namespaces). Every node runs `starling node --interface eth0` listening on
# its LAN address. Prints one table of medians over RUNS runs:
#   - time to full mesh for SIZES nodes (default "10 30"), all started at once, fresh identities;
#     "polled" = when `starling peers --json` of every node listed all the others (the poll of
#     all nodes takes tens of ms), "log" = the last first "connected" log line of any pair;
#   - join latency: a new node (fresh identity) joining the 10-node mesh until it is connected
#     to all 10;
#   - dead-peer detection: a host's link goes down (no RST, only keep-alive can tell); time
#     until all 9 others dropped it; link up and back to a full mesh between runs;
#   - idle discovery traffic per node per minute: mDNS packets and bytes sent + received from
#     `starling status --json` of each node of an idle 10-node mesh over IDLE_S seconds
#     (default 60), cross-checked with an nftables counter of UDP 5353 on one host;
#   - memory: VmRSS of a node connected to 30 peers (the 31-node mesh), median over nodes.
# Settings (environment): RUNS (3), SIZES ("10 30"), IDLE_S (60), STARLING_BIN.
# Usage: sudo bench/mesh.sh        (about 4-6 minutes with the defaults)
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NETNS=$HERE/../tests/netns
# shellcheck source=../tests/netns/lan.sh
. "$NETNS/lan.sh"
# shellcheck source=../tests/netns/starling.sh
. "$NETNS/starling.sh"
LAN_TEST_NAME=bench_mesh
RUNS=${RUNS:-3}
SIZES=${SIZES:-10 30}
IDLE_S=${IDLE_S:-60}
lan_init
stl_require_bin

maxn=0
for n in $SIZES; do ((n > maxn)) && maxn=$n; done
((maxn < 31)) && maxn=31  # the 30-peer memory figure needs 31 nodes
lan_switch a
for i in $(seq 1 $((maxn + 1))); do lan_host "h$i" a; done
lan_log "$((maxn + 1)) hosts ready"

run=0
# start_mesh N: start nodes m1..mN (fresh data dirs) on h1..hN; names in MESH.
# Identities are made first and the full-mesh watch is armed before the first node starts;
# MESH_T0 is taken just before the first start.
start_mesh() {
  local n=$1 i
  run=$((run + 1))
  MESH=()
  for i in $(seq 1 "$n"); do
    STL_DATA_DIR=$LAN_DIR/r$run-m$i.data stl_make_id "m$i"
    MESH+=("m$i")
  done
  stl_watch_full_mesh 60 "${MESH[@]}"
  MESH_T0=$(stl_now_ms)
  for i in $(seq 1 "$n"); do
    STL_DATA_DIR=$LAN_DIR/r$run-m$i.data stl_node "m$i" "h$i" ++ --interface eth0
  done
}
stop_mesh() {
  local m
  for m in "${MESH[@]}"; do kill -TERM "$(lan_pid "$m")" 2>/dev/null; done
  for m in "${MESH[@]}"; do lan_kill "$m" TERM; done
  MESH=()
}
med() { stl_median "$@"; }
# rss_report: VmRSS of the nodes of a 31-node mesh (each connected to 30 peers).
rss_report() {
  local m rss=() c
  for m in "${MESH[@]}"; do rss+=("$(stl_rss_kb "$m")"); done
  c=$(stl_peer_count m1)
  RESULT[rss30]="median $(med "${rss[@]}") KiB over 31 nodes (min $(printf '%s\n' "${rss[@]}" | sort -n | head -1), max $(printf '%s\n' "${rss[@]}" | sort -n | tail -1); m1 connected to $c peers)"
}
declare -A RESULT=()

# --- time to full mesh --------------------------------------------------------------------------
for n in $SIZES; do
  polled=() logged=()
  for r in $(seq 1 "$RUNS"); do
    start_mesh "$n"
    t0=$MESH_T0
    stl_wait_started "${MESH[@]}"
    if stl_watch_result; then
      polled+=($((STL_AT_MS - t0)))
      lg=$(stl_mesh_log_ms "${MESH[@]}") && logged+=($((lg - t0)))
      lan_log "full mesh of $n, run $r: ${polled[-1]} ms polled, ${logged[-1]:-?} ms log"
    else
      lan_log "full mesh of $n, run $r: NOT reached in 60 s (missing: $STL_NOT_YET)"
      polled+=(999999)
    fi
    ((n == 31 && r == RUNS)) && rss_report
    stop_mesh
  done
  RESULT[mesh$n]="$(med "${polled[@]}") ms polled / $(med "${logged[@]:-0}") ms log  (runs: ${polled[*]})"
done
if [[ -z ${RESULT[rss30]:-} ]]; then
  # SIZES without 31+: make a 31-node mesh for the memory figure.
  start_mesh 31
  stl_wait_started "${MESH[@]}"
  stl_watch_result || lan_log "31-node mesh not full (missing: $STL_NOT_YET)"
  sleep 2
  rss_report
  stop_mesh
fi

# --- join latency, dead-peer detection, idle traffic on a 10-node mesh --------------------------
start_mesh 10
stl_wait_started "${MESH[@]}"
stl_watch_result || lan_log "10-node mesh not full (missing: $STL_NOT_YET)"
base=("${MESH[@]}")
want=$(stl__ids_except "" "${base[@]}")
joins=()
for r in $(seq 1 "$RUNS"); do
  STL_NODE_DATA[j$r]=$LAN_DIR/join$r.data
  stl_watch have 30 "j$r=$want"
  t0=$(stl_now_ms)
  STL_DATA_DIR=$LAN_DIR/join$r.data stl_node "j$r" h$((maxn + 1)) ++ --interface eth0
  if stl_watch_result; then joins+=($((STL_AT_MS - t0))); else joins+=(999999); fi
  lan_log "join $r: ${joins[-1]} ms"
  lan_kill "j$r" TERM
  sleep 1
done
RESULT[join]="$(med "${joins[@]}") ms  (runs: ${joins[*]})"

drops=()
for r in $(seq 1 "$RUNS"); do
  victim=m$((r + 1))
  vid=$(stl_id "$victim")
  others=()
  for m in "${base[@]}"; do [[ $m == "$victim" ]] || others+=("$m"); done
  stl_wait_full_mesh 30 "${base[@]}" || lan_log "mesh not full before link-down run $r"
  stl_watch_all 30 lack "$vid" "${others[@]}"
  t0=$(stl_now_ms)
  lan_link_down "h$((r + 1))"
  if stl_watch_result; then drops+=($((STL_AT_MS - t0))); else drops+=(999999); fi
  lan_log "dead-peer run $r: ${drops[-1]} ms"
  lan_link_up "h$((r + 1))"
done
RESULT[dead]="$(med "${drops[@]}") ms  (runs: ${drops[*]})"

stl_wait_full_mesh 60 "${base[@]}" || lan_log "mesh not full before the idle measurement"
ns1=$(lan_ns h1)
ip netns exec "$ns1" nft -f - <<'EOF'
table inet stl_bench {
  chain in { type filter hook input priority 0; policy accept; udp dport 5353 counter; }
  chain out { type filter hook output priority 0; policy accept; udp dport 5353 counter; }
}
EOF
snap() {
  local m
  for m in "${base[@]}"; do
    stl_status "$m" | "$STL_PY" -c '
import json, sys
d = json.load(sys.stdin)["mdns"]
print(d["packets_sent"], d["bytes_sent"], d["packets_received"], d["bytes_received"])'
  done
}
s0=$(snap)
lan_log "idle for $IDLE_S s"
sleep "$IDLE_S"
s1=$(snap)
nft_out=$(ip netns exec "$ns1" nft list table inet stl_bench)
read -r ps bs pr br <<<"$(paste <(echo "$s0") <(echo "$s1") | awk -v s="$IDLE_S" -v n=${#base[@]} '
  { ps += $5 - $1; bs += $6 - $2; pr += $7 - $3; br += $8 - $4 }
  END { f = 60 / s / n; printf "%.1f %.0f %.1f %.0f\n", ps * f, bs * f, pr * f, br * f }')"
nft_counts=$(awk '/chain in/ {c = "in"} /chain out/ {c = "out"}
  /counter packets/ {for (i = 1; i < NF; i++) if ($i == "packets") printf "%s %s packets, %s bytes; ", c, $(i + 1), $(i + 3)}' <<<"$nft_out")
RESULT[idle]="sent $ps packets / $bs bytes, received $pr packets / $br bytes per node per minute"
RESULT[idle_nft]="UDP 5353 at h1 over $IDLE_S s: $nft_counts"
stop_mesh

printf '\n## Discovery and mesh (%s, %d run(s) each, medians; %s)\n\n' "$(date -u +%F)" "$RUNS" "$("$STARLING_BIN" --version)"
printf '| what | result |\n|---|---|\n'
for n in $SIZES; do printf '| time to full mesh, %s nodes | %s |\n' "$n" "${RESULT[mesh$n]}"; done
printf '| join latency (new node -> connected to all 10) | %s |\n' "${RESULT[join]}"
printf '| dead-peer detection after link down (all 9 dropped it) | %s |\n' "${RESULT[dead]}"
printf '| idle mDNS traffic, 10-node mesh | %s |\n' "${RESULT[idle]}"
printf '| idle mDNS traffic, nftables cross-check | %s |\n' "${RESULT[idle_nft]}"
printf '| VmRSS of a node connected to 30 peers | %s |\n' "${RESULT[rss30]}"
