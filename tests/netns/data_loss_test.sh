#!/usr/bin/env bash
# Data layer over lossy links: a chain A - B - C (each hop its own LAN, --no-mdns, bootstrap to
# the left neighbour) where every host drops 5% of what it receives (nftables, input hook,
# `numgen random mod 100 < 5 drop`; lan_loss), so each link loses 5% both ways.
#  - `starling sub 'loss/**' --json` on C; A learns it (probe puts until C prints one);
#  - A publishes 300 samples of loss/data through its control socket, one every 3 ms;
#  - C gets seq 1..300, each once, in order, values v<seq>; the loss rules did drop packets
#    (their counters, printed); printed: the time to deliver and the latency median / p99 / max.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
# shellcheck source=data.sh
. "$HERE/data.sh"
LAN_TEST_NAME=netns_data_loss
lan_init 60
stl_require_bin

N=${LOSS_SAMPLES:-300}
LOSS=${LOSS_PERCENT:-5}

lan_switch ab
lan_switch bc
lan_host ha ab
lan_host hb ab; lan_attach hb bc
lan_host hc bc
for h in ha hb hc; do lan_loss "$h" "$LOSS"; done

dat_node na ha ++ --no-mdns
stl_wait_started na
dat_node nb hb ab bc -- "$(stl_addr na)" ++ --no-mdns
stl_wait_started nb
dat_node nc hc -- "$(stl_addr nb "$(lan_ip hb bc)")" ++ --no-mdns
stl_wait_started nc
ida=$(stl_id na) idb=$(stl_id nb) idc=$(stl_id nc)
stl_watch have 30 "na=$idb" "nb=$ida,$idc" "nc=$idb"
lan_check "chain A-B-C formed under $LOSS% loss" stl_watch_result

dat_sub sc hc nc 'loss/**'
lan_check "A learns C's subscription (a probe put on A reaches C)" dat_wait_route na sc loss/probe 30

t_put=$(stl_now_ms)
dat_put na loss/data 1 "$N" 3 v >/dev/null || lan_fail "puts failed"
lan_check "C received $N samples of loss/data" dat_wait_count sc loss/data "$N" 30
sleep 0.5 # a duplicate would come right after
lan_check "C got seq 1..$N exactly once, in order, values v<seq>" dat_check sc loss/data 1 "$N" v

# nft's counter on each host's drop rule: "counter packets N bytes M".
dropped=0
for h in ha hb hc; do
  d=$(lan_exec "$h" nft list table inet stl_loss | awk '/counter packets/ {for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1)}')
  dropped=$((dropped + ${d:-0}))
done
lan_check "the loss rules dropped packets ($dropped)" test "$dropped" -gt 0
read -r _ t_last _ _ < <(dat_times sc loss/data)
read -r lat_med lat_p99 lat_max < <(dat_latency sc na loss/data)
printf 'measured: %d samples (one every 3 ms) across 2 hops with %d%% loss per host: last one %d ms after the first put; %d packets dropped in all\n' \
  "$N" "$LOSS" $((t_last - t_put)) "$dropped"
printf 'measured: put-to-print latency with %d%% loss over 2 hops: median %s ms, p99 %s ms, max %s ms\n' \
  "$LOSS" "$lat_med" "$lat_p99" "$lat_max"
lan_pass "$N samples over 2 lossy hops, none lost, none twice"
