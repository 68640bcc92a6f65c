#!/usr/bin/env bash
# Data layer across a 5-node chain A - B - C - D - E of real `starling node` processes, where
# only neighbours can reach each other: every hop is its own LAN (bridge), B, C and D are
# dual-homed (forwarding off), so A has no route to C, D or E. Nodes run with --no-mdns and
# bootstrap to their left neighbour only.
#  - the shape: each node is connected to exactly its neighbours;
#  - `starling sub 'chain/**' --json` on E; A learns the subscription (probe puts on chain/probe
#    until E prints one; printed: how long after the sub started);
#  - 100 samples of chain/data put on A: 10 by `starling put` (--encoding text/plain), 89 through
#    the control socket (one every 2 ms), then one `starling del`; E gets seq 1..100, each once,
#    in order, values v<seq>, the last a delete, through three relays (printed: time from the
#    first socket put to the last sample, put-to-print latency median / p99 / max);
#  - the relays forwarded them (status data.samples_forwarded >= 100 on B, C, D) and E saw no
#    duplicates or gaps.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
# shellcheck source=data.sh
. "$HERE/data.sh"
LAN_TEST_NAME=netns_data_chain
lan_init 60
stl_require_bin

N=100

# Hosts ha..he; LANs ab, bc, cd, de (10.200.1-4.0/24), one per hop.
for l in ab bc cd de; do lan_switch "$l"; done
lan_host ha ab
lan_host hb ab; lan_attach hb bc
lan_host hc bc; lan_attach hc cd
lan_host hd cd; lan_attach hd de
lan_host he de
lan_check "A cannot reach C's address (no route: only neighbours reach each other)" \
  lan_not lan_exec ha timeout 1 bash -c "exec 3<>/dev/tcp/$(lan_ip hc bc)/9" 2>/dev/null

dat_node na ha ++ --no-mdns
stl_wait_started na
dat_node nb hb ab bc -- "$(stl_addr na)" ++ --no-mdns
stl_wait_started nb
dat_node nc hc bc cd -- "$(stl_addr nb "$(lan_ip hb bc)")" ++ --no-mdns
stl_wait_started nc
dat_node nd hd cd de -- "$(stl_addr nc "$(lan_ip hc cd)")" ++ --no-mdns
stl_wait_started nd
dat_node ne he de -- "$(stl_addr nd "$(lan_ip hd de)")" ++ --no-mdns
stl_wait_started ne

ida=$(stl_id na) idb=$(stl_id nb) idc=$(stl_id nc) idd=$(stl_id nd) ide=$(stl_id ne)
stl_watch have 20 "na=$idb" "nb=$ida,$idc" "nc=$idb,$idd" "nd=$idc,$ide" "ne=$idd"
lan_check "chain formed: A-B, B-C, C-D, D-E connected" stl_watch_result
lan_check "... and nothing else (A 1 peer, B 2, C 2, D 2, E 1)" \
  eval 'stl_wait_peer_count na 1 5 && stl_wait_peer_count nb 2 5 && stl_wait_peer_count nc 2 5 &&
        stl_wait_peer_count nd 2 5 && stl_wait_peer_count ne 1 5'

t_sub=$(stl_now_ms)
dat_sub se he ne 'chain/**'
lan_check "A learns E's subscription across 4 hops (a probe put on A reaches E)" \
  dat_wait_route na se chain/probe 20
printf 'measured: subscription on E known at A and routed: %d ms after starling sub started\n' \
  $((DAT_ROUTE_MS - t_sub))

# 10 puts with the CLI (one process each), 89 through the control socket, one CLI del.
for i in $(seq 1 10); do
  dat_cli ha put na chain/data "v$i" --encoding text/plain || lan_fail "starling put #$i failed"
done
t_put=$(stl_now_ms)
dat_put na chain/data 11 $((N - 1)) 2 v >/dev/null || lan_fail "socket puts failed"
dat_cli ha del na chain/data || lan_fail "starling del failed"
lan_check "E received $N samples of chain/data" dat_wait_count se chain/data "$N" 20
sleep 0.5 # a duplicate would come right after; nothing else to wait for
lan_check "E got seq 1..$N exactly once, in order, values v<seq>, the last a delete" \
  dat_check se chain/data 1 "$N" v delete
read -r _ t_last _ _ < <(dat_times se chain/data)
read -r lat_med lat_p99 lat_max < <(dat_latency se na chain/data)
printf 'measured: %d samples (89 socket puts every 2 ms + 1 CLI del) across 4 hops: last one %d ms after the first socket put\n' \
  $((N - 10)) $((t_last - t_put))
printf 'measured: put-to-print latency across 4 hops (socket puts): median %s ms, p99 %s ms, max %s ms\n' \
  "$lat_med" "$lat_p99" "$lat_max"
lan_check "E's encoding for a CLI put is text/plain" \
  grep -qF '"encoding":"text/plain","key":"chain/data"' "$(lan_out se)"
for n in nb nc nd; do
  fw=$(dat_stat "$n" samples_forwarded)
  lan_check "relay $n forwarded the samples (samples_forwarded $fw >= $N)" test "$fw" -ge "$N"
done
lan_check "E counted no duplicates" test "$(dat_stat ne duplicates)" -eq 0
lan_pass "$N samples across a 5-node chain, $((t_last - t_put)) ms for the last $((N - 10))"
