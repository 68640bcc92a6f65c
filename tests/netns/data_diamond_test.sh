#!/usr/bin/env bash
# Data layer through a diamond whose relay is killed mid-stream. A is connected to B and C, both
# are connected to D; A and D are not (every link is its own LAN, hosts dual-homed with
# forwarding off; --no-mdns, bootstrap to the neighbours). Then:
#  - `starling sub 'dia/**' --json` on D; A learns it (probe puts on dia/probe until D prints one);
#  - A publishes 500 samples of dia/data, one every 4 ms, through its control socket (one
#    implicit publisher: seq 1..500);
#  - when D has printed 150, the relay that carries them is killed with SIGKILL (A's tree to D
#    goes through one of B and C: the one whose status data.samples_forwarded counted the
#    probes);
#  - D still gets seq 1..500, each exactly once, in order (what was in flight on the dead relay
#    is repaired from A's history through the other one), and the other relay forwarded the
#    rest. Printed: the longest silence at D, the time from the kill to D's next sample, D's
#    gap count.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
# shellcheck source=data.sh
. "$HERE/data.sh"
LAN_TEST_NAME=netns_data_diamond
lan_init 60
stl_require_bin

N=${DIAMOND_SAMPLES:-500}
INTERVAL_MS=${DIAMOND_INTERVAL_MS:-4}
KILL_AT=${DIAMOND_KILL_AT:-150}

for l in ab ac bd cd; do lan_switch "$l"; done
lan_host ha ab; lan_attach ha ac
lan_host hb ab; lan_attach hb bd
lan_host hc ac; lan_attach hc cd
lan_host hd bd; lan_attach hd cd
lan_check "A cannot reach D (no route: only neighbours reach each other)" \
  lan_not lan_exec ha timeout 1 bash -c "exec 3<>/dev/tcp/$(lan_ip hd bd)/9" 2>/dev/null

dat_node na ha ab ac ++ --no-mdns
stl_wait_started na
dat_node nb hb ab bd -- "$(stl_addr na "$(lan_ip ha ab)")" ++ --no-mdns
dat_node nc hc ac cd -- "$(stl_addr na "$(lan_ip ha ac)")" ++ --no-mdns
stl_wait_started nb nc
dat_node nd hd bd cd -- "$(stl_addr nb "$(lan_ip hb bd)")" "$(stl_addr nc "$(lan_ip hc cd)")" ++ --no-mdns
stl_wait_started nd

ida=$(stl_id na) idb=$(stl_id nb) idc=$(stl_id nc) idd=$(stl_id nd)
stl_watch have 20 "na=$idb,$idc" "nb=$ida,$idd" "nc=$ida,$idd" "nd=$idb,$idc"
lan_check "diamond formed: A-B, A-C, B-D, C-D connected" stl_watch_result
lan_check "... and A-D not (2 peers each)" \
  eval 'stl_wait_peer_count na 2 5 && stl_wait_peer_count nd 2 5'

dat_sub sd hd nd 'dia/**'
lan_check "A learns D's subscription (a probe put on A reaches D)" dat_wait_route na sd dia/probe 20

# Which relay carries A's samples to D: the one that forwarded the probes (asked now, before the
# stream, so that the kill below costs nothing but the signal).
fb=$(dat_stat nb samples_forwarded)
fc=$(dat_stat nc samples_forwarded)
if ((fb >= fc)); then victim=nb survivor=nc; else victim=nc survivor=nb; fi
lan_check "one relay forwarded the probes (B $fb, C $fc): $victim carries A's samples to D" \
  test $((fb > fc ? fb : fc)) -gt 0

dat_put_bg pub na dia/data 1 "$N" "$INTERVAL_MS" v
lan_check "D printed $KILL_AT samples while A publishes" dat_wait_count sd dia/data "$KILL_AT" 20
t_kill=$(stl_now_ms)
lan_kill "$victim" KILL
before=$(dat_count sd dia/data)
printf '# killed %s with SIGKILL when D had printed %s of %s samples\n' "$victim" "$before" "$N"
lan_check "the relay was killed mid-stream (D had $before < $N samples)" test "$before" -lt "$N"
fs_before=$(dat_stat "$survivor" samples_forwarded)

lan_check "D received all $N samples after the relay died" dat_wait_count sd dia/data "$N" 30
lan_check "the publisher finished" lan_wait_gone "$(lan_pid pub)" 10
lan_check "... and published $N" grep -q "^published $N " "$(lan_out pub)"
sleep 0.5 # a late duplicate (repair and re-routed copy) would come right after
lan_check "D got seq 1..$N exactly once, in order, values v<seq>" dat_check sd dia/data 1 "$N" v
fs_after=$(dat_stat "$survivor" samples_forwarded)
lan_check "the surviving relay $survivor carried the rest ($fs_before -> $fs_after forwarded)" \
  test "$fs_after" -gt "$fs_before"

# Figures: when D printed its samples (time-stamped by the sub wrapper). Samples are printed in
# order only, so a sample lost on the dead relay shows as a silence until its repair arrived.
read -r _ _ gap_before _ < <(dat_times sd dia/data)
read -r next_ms _ gap gap_end < <(dat_times sd dia/data "$t_kill")
printf 'measured: relay killed mid-stream (one sample every %s ms): D printed its next sample %d ms after the kill; longest silence at D after the kill %d ms (ended %d ms after it; over the whole run %d ms)\n' \
  "$INTERVAL_MS" $((next_ms - t_kill)) "$gap" $((gap_end - t_kill)) "$gap_before"
printf 'measured: D status after the kill: gaps %s, duplicates %s\n' \
  "$(dat_stat nd gaps)" "$(dat_stat nd duplicates)"
lan_pass "$N samples, relay $victim killed at $before: none lost, none twice"
