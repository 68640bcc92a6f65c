#!/usr/bin/env bash
# Ten Starling nodes on one LAN, configured with nothing but `--interface eth0` (each listens on
# the node's default address, a wildcard, inside its own namespace), find each other by mDNS:
#  - they form a full mesh (every node connected to the 9 others); the time from the first
#    start to the full mesh is printed (goal < 2 s; asserted < MESH_BOUND_S, default 10 s);
#  - no node advertises its loopback address to the others;
#  - a late joiner (a new identity each time) is connected to all ten: 3 joins, each time and the
#    median printed (goal < 1 s; median asserted < JOIN_BOUND_MS, default 3000);
#  - a node killed with SIGKILL is dropped by all the others within the dead-peer time (3 s;
#    asserted < DROP_BOUND_MS, default 4000); restarted with the same data directory (same
#    identity) it is connected to all nine again (goal < 2 s; asserted < REJOIN_BOUND_MS,
#    default 6000) and the mesh is full again.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
LAN_TEST_NAME=netns_mesh
lan_init 85
stl_require_bin

MESH_BOUND_S=${MESH_BOUND_S:-10}
JOIN_BOUND_MS=${JOIN_BOUND_MS:-3000}
DROP_BOUND_MS=${DROP_BOUND_MS:-4000}
REJOIN_BOUND_MS=${REJOIN_BOUND_MS:-6000}
N=10

lan_switch a
for i in $(seq 1 $((N + 1))); do lan_host "h$i" a; done
nodes=()
for i in $(seq 1 $N); do nodes+=("n$i"); done

# --- 1. ten nodes at once -> full mesh ------------------------------------------------------
export STL_DEFAULT_LISTEN=1
# Identities made beforehand so that the watch is armed before the first node starts.
for n in "${nodes[@]}"; do stl_make_id "$n"; done
stl_watch_full_mesh "$MESH_BOUND_S" "${nodes[@]}"
t0=$(stl_now_ms)
for i in $(seq 1 $N); do stl_mdns_node "n$i" "h$i"; done
stl_wait_started "${nodes[@]}"
lan_check "n1 says mDNS runs on eth0 only" lan_wait_log n1 'mdns: running on eth0([^,]|$)' 5
if ! stl_watch_result; then
  for n in $STL_NOT_YET; do echo "# $n is connected to: $(stl_peer_ids "$n" | tr '\n' ' ')"; done
  lan_fail "no full mesh of $N nodes within $MESH_BOUND_S s (still missing peers: $STL_NOT_YET)"
fi
mesh_ms=$((STL_AT_MS - t0))
log_ms=$(stl_mesh_log_ms "${nodes[@]}") && log_ms=$((log_ms - t0)) || log_ms="?"
printf 'measured: time to full mesh, %d nodes: %d ms polled (%s ms from the logs)\n' "$N" "$mesh_ms" "$log_ms"
lan_check "full mesh of $N nodes from nothing but --interface eth0 in $mesh_ms ms (< $MESH_BOUND_S s)" \
  test "$mesh_ms" -lt $((MESH_BOUND_S * 1000))

no_loopback() {
  local n
  for n in "${nodes[@]}"; do
    if stl_known "$n" | grep -q '/ip4/127\.'; then
      echo "# $n knows a peer at a loopback address: $(stl_known "$n")"
      return 1
    fi
  done
}
lan_check "no node learnt a loopback address of another (each interface announces its own)" no_loopback

# --- 2. late joiners ------------------------------------------------------------------------
# Connected to everyone = its peer list holds all ten. The watch is armed before the joiner
# starts (its control socket does not exist yet: "not yet").
all_ids=$(stl__ids_except "" "${nodes[@]}")
joins=()
for j in 1 2 3; do
  name="late$j"
  STL_NODE_DATA[$name]=$LAN_DIR/$name.data
  stl_watch have 15 "$name=$all_ids"
  t0=$(stl_now_ms)
  stl_mdns_node "$name" "h$((N + 1))"
  if ! stl_watch_result; then
    echo "# $name is connected to: $(stl_peer_ids "$name" | tr '\n' ' ')"
    lan_fail "late joiner $j not connected to all $N nodes within 15 s"
  fi
  ms=$((STL_AT_MS - t0))
  joins+=("$ms")
  printf 'measured: late joiner %d connected to all %d nodes in %d ms\n' "$j" "$N" "$ms"
  stl_wait_started "$name"
  lan_check "late joiner $j: \`starling peers\` lists all $N" stl_has_peers "$name" ${all_ids//,/ }
  lan_check "all $N nodes list late joiner $j among their peers" \
    stl_wait_all_have 10 "$(stl_id "$name")" "${nodes[@]}"
  lan_kill "$name" TERM
  lan_check "all $N nodes dropped late joiner $j after it stopped" \
    stl_wait_all_lack 10 "$(stl_id "$name")" "${nodes[@]}"
done
join_median=$(stl_median "${joins[@]}")
printf 'measured: late joiner, median of 3: %d ms (%s)\n' "$join_median" "${joins[*]}"
lan_check "late joiner median $join_median ms < $JOIN_BOUND_MS ms" test "$join_median" -lt "$JOIN_BOUND_MS"

# --- 3. kill -9 and restart with the same identity ------------------------------------------
victim=n5
victim_id=$(stl_id $victim)
others=()
for n in "${nodes[@]}"; do [[ $n == "$victim" ]] || others+=("$n"); done
lan_check "full mesh again before the kill" stl_wait_full_mesh 10 "${nodes[@]}"
stl_watch_all 15 lack "$victim_id" "${others[@]}"
t0=$(stl_now_ms)
lan_kill $victim KILL
lan_check "all 9 others dropped the killed node within 15 s" stl_watch_result
drop_ms=$((STL_AT_MS - t0))
log_ms=$(stl_logged_all_ms "disconnected $victim_id" "${others[@]}") && log_ms=$((log_ms - t0)) || log_ms="?"
printf 'measured: SIGKILLed node dropped by all others in %d ms polled (%s ms from the logs)\n' "$drop_ms" "$log_ms"
lan_check "dropped within $drop_ms ms (< $DROP_BOUND_MS ms)" test "$drop_ms" -lt "$DROP_BOUND_MS"

STL_NODE_DATA[n5again]=$LAN_DIR/$victim.data
stl_watch have 20 "n5again=$(stl__ids_except "$victim" "${others[@]}")"
t0=$(stl_now_ms)
STL_DATA_DIR=$LAN_DIR/$victim.data stl_mdns_node n5again h5
if ! stl_watch_result; then
  echo "# n5again is connected to: $(stl_peer_ids n5again | tr '\n' ' ')"
  lan_fail "the restarted node is not connected to all 9 others within 20 s"
fi
rejoin_ms=$((STL_AT_MS - t0))
printf 'measured: restarted node (same data dir) connected to all 9 others in %d ms\n' "$rejoin_ms"
stl_wait_started n5again
lan_check "the restarted node has the same identity" test "$(stl_id n5again)" == "$victim_id"
lan_check "restarted node back within $rejoin_ms ms (< $REJOIN_BOUND_MS ms)" test "$rejoin_ms" -lt "$REJOIN_BOUND_MS"
nodes_after=("${others[@]}" n5again)
lan_check "the mesh of $N is full again" stl_wait_full_mesh 10 "${nodes_after[@]}"

lan_pass "full mesh ${mesh_ms} ms, join median ${join_median} ms, kill drop ${drop_ms} ms, rejoin ${rejoin_ms} ms"
