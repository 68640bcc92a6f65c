#!/usr/bin/env bash
# A LAN split in two by a link going down, and healed. The switch is two bridges joined by one
# link (a veth "trunk"); h1-h3 hang off one bridge, h4-h6 off the other. Six nodes started with
# `--interface eth0` (default dead-peer time, 3 s) form a full mesh by mDNS. Then:
#  - the trunk goes down: each half still works inside, but the other half's packets vanish (no
#    RST, no carrier change on any host), so only keep-alive can notice. Both halves drop each
#    other within the dead-peer time (printed; asserted < DEAD_BOUND_MS, default 5000: 3 s +
#    slack for polling on a busy machine) and stay fully connected inside;
#  - the trunk comes back up: the mesh of six is full again by itself, nothing restarted
#    (printed; asserted < HEAL_BOUND_S, default 25 s: mDNS re-queries every 10 s and redials back
#    off up to 30 s);
#  - then one host's own link goes down (it sees its carrier drop): all others drop it and it
#    drops them all; link up: it is back in the full mesh.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
LAN_TEST_NAME=netns_mesh_partition
lan_init 85
stl_require_bin

DEAD_BOUND_MS=${DEAD_BOUND_MS:-5000}
HEAL_BOUND_S=${HEAL_BOUND_S:-25}
HOLD_S=${HOLD_S:-3}

lan_switch a
for i in 1 2 3 4 5 6; do lan_host "h$i" a; done
# Second bridge in the same switch namespace, joined to br0 by the trunk; h4-h6 move to it.
sw=${LAN_SWITCH_NS[a]}
ip -n "$sw" link add br1 type bridge forward_delay 0 stp_state 0 mcast_snooping 0
ip -n "$sw" link set br1 up
ip -n "$sw" link add trunk0 type veth peer name trunk1
ip -n "$sw" link set trunk0 master br0
ip -n "$sw" link set trunk1 master br1
ip -n "$sw" link set trunk0 up
ip -n "$sw" link set trunk1 up
for h in h4 h5 h6; do ip -n "$sw" link set "p-$h" master br1; done
trunk() { ip -n "$sw" link set trunk0 "$1"; }

half_a=(n1 n2 n3)
half_b=(n4 n5 n6)
all=("${half_a[@]}" "${half_b[@]}")
for i in 1 2 3 4 5 6; do stl_mdns_node "n$i" "h$i"; done
stl_wait_started "${all[@]}"
lan_check "full mesh of 6 across the trunk" stl_wait_full_mesh 15 "${all[@]}"
ids_a="$(stl_id n1) $(stl_id n2) $(stl_id n3)"
ids_b="$(stl_id n4) $(stl_id n5) $(stl_id n6)"

# --- the trunk goes down ----------------------------------------------------------------------
ca=${ids_a// /,}
cb=${ids_b// /,}
stl_watch lack 15 "n1=$cb" "n2=$cb" "n3=$cb" "n4=$ca" "n5=$ca" "n6=$ca"
t0=$(stl_now_ms)
trunk down
if ! stl_watch_result; then
  for n in $STL_NOT_YET; do echo "# $n is connected to: $(stl_peer_ids "$n" | tr '\n' ' ')"; done
  lan_fail "the halves did not drop each other within 15 s (still connected across: $STL_NOT_YET)"
fi
drop_ms=$((STL_AT_MS - t0))
log_ms=$(stl_logged_all_ms "disconnected ($(stl_id n1)|$(stl_id n2)|$(stl_id n3)|$(stl_id n4)|$(stl_id n5)|$(stl_id n6))" "${all[@]}") &&
  log_ms=$((log_ms - t0)) || log_ms="?"
printf 'measured: dead-peer detection after a silent partition: %d ms polled (%s ms from the logs; dead-peer time 3000 ms)\n' \
  "$drop_ms" "$log_ms"
lan_check "both halves dropped each other in $drop_ms ms (< $DEAD_BOUND_MS ms)" \
  test "$drop_ms" -lt "$DEAD_BOUND_MS"
lan_check "... and not before keep-alive could know ($drop_ms ms >= 1000 ms: nothing else tells)" \
  test "$drop_ms" -ge 1000
sleep "$HOLD_S"
lan_check "half A still fully connected inside" stl_wait_full_mesh 5 "${half_a[@]}"
lan_check "half B still fully connected inside" stl_wait_full_mesh 5 "${half_b[@]}"
lan_check "still partitioned after $HOLD_S s (nobody connected across)" \
  stl_wait_all_lack 1 "$ids_b" "${half_a[@]}"

# --- the trunk comes back -----------------------------------------------------------------------
stl_watch_full_mesh "$HEAL_BOUND_S" "${all[@]}"
t0=$(stl_now_ms)
trunk up
if ! stl_watch_result; then
  for n in $STL_NOT_YET; do echo "# $n is connected to: $(stl_peer_ids "$n" | tr '\n' ' ')"; done
  lan_fail "no full mesh within $HEAL_BOUND_S s of the link coming back (missing: $STL_NOT_YET)"
fi
heal_ms=$((STL_AT_MS - t0))
printf 'measured: full mesh again %d ms after the link came back\n' "$heal_ms"
lan_check "the halves reconnected by themselves in $heal_ms ms (< $HEAL_BOUND_S s)" \
  test "$heal_ms" -lt $((HEAL_BOUND_S * 1000))

# --- one host's own link (its carrier drops) ----------------------------------------------------
others=(n1 n2 n3 n4 n5)
id6=$(stl_id n6)
stl_watch_all 15 lack "$id6" "${others[@]}"
t0=$(stl_now_ms)
lan_link_down h6
lan_check "the 5 others dropped n6 after its link went down" stl_watch_result
lost_ms=$((STL_AT_MS - t0))
lan_check "n6 dropped all 5 others" stl_wait_peer_count n6 0 15
printf 'measured: a host whose link went down dropped by all others in %d ms\n' "$lost_ms"
lan_check "dropped in $lost_ms ms (< $DEAD_BOUND_MS ms)" test "$lost_ms" -lt "$DEAD_BOUND_MS"
stl_watch_full_mesh "$HEAL_BOUND_S" "${all[@]}"
t0=$(stl_now_ms)
lan_link_up h6
lan_check "n6 back in the full mesh after its link came up" stl_watch_result
back_ms=$((STL_AT_MS - t0))
printf 'measured: n6 back in the full mesh %d ms after its link came up\n' "$back_ms"

lan_pass "partition noticed in ${drop_ms} ms, healed in ${heal_ms} ms; single link down ${lost_ms} ms, back in ${back_ms} ms"
