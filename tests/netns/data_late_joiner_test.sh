#!/usr/bin/env bash
# Data layer: a node that joins late. A - B on LAN ab; L, started later on LAN bl, reaches only
# B (dual-homed, forwarding off); --no-mdns, bootstrap to B.
#  - `starling sub 'late/**' --json` on B from the start; A publishes 50 samples of late/data
#    (seq 1..50), B gets them all;
#  - A keeps the latest value of 'late/**' (`--storage`);
#  - L starts (new identity, empty data directory) and runs two subscribers on 'late/**': a
#    plain one and one with `--latest`; A learns them (probe puts on late/probe until L prints
#    one; printed: the time from L's start);
#  - the `--latest` subscriber prints the current value at once, "v50" (from A's storage,
#    asked with a query across B), the plain one nothing from before it subscribed;
#  - A publishes 50 more (seq 51..100): both of L's subscribers get exactly 51..100, each
#    once, in order (the latest one after its v50), and B has all of 1..100.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
# shellcheck source=data.sh
. "$HERE/data.sh"
LAN_TEST_NAME=netns_data_late_joiner
lan_init 60
stl_require_bin

K=50 # before L joins
# The --latest subscriber's lines of KEY: first the stored latest value (value v<K>, seq 0: a
# storage's reply has no sequence number), then the live samples K+1..LAST in order.
LATE_CHECK='
import json, sys
path, key, k, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
got = [j for j in (json.loads(l.partition(" ")[2]) for l in open(path)) if j.get("key") == key]
want = [("v%d" % k, 0)] + [("v%d" % i, i) for i in range(k + 1, last + 1)]
have = [(j["value"], j["seq"]) for j in got]
if have != want:
    print("# got %d lines, first %s, want %d, first %s" % (len(have), have[:3], len(want), want[:3]))
    sys.exit(1)
'
M=50 # after
lan_switch ab
lan_switch bl
lan_host ha ab
lan_host hb ab; lan_attach hb bl
lan_host hl bl

dat_node na ha ++ --no-mdns --storage 'late/**'
stl_wait_started na
dat_node nb hb ab bl -- "$(stl_addr na)" ++ --no-mdns
stl_wait_started nb
lan_check "B identified A" stl_wait_identified nb "$(stl_id na)" 20

dat_sub sb hb nb 'late/**'
lan_check "A learns B's subscription (a probe put on A reaches B)" dat_wait_route na sb late/probe 20
dat_put na late/data 1 "$K" 2 v >/dev/null || lan_fail "puts failed"
lan_check "B received the first $K samples" dat_wait_count sb late/data "$K" 20

# --- L joins ------------------------------------------------------------------------------------
t_join=$(stl_now_ms)
dat_node nl hl -- "$(stl_addr nb "$(lan_ip hb bl)")" ++ --no-mdns
stl_wait_started nl
lan_check "L connected to B" stl_wait_identified nl "$(stl_id nb)" 20
dat_sub sl hl nl 'late/**'
lan_check "A learns L's subscription (a probe put on A reaches L)" dat_wait_route na sl late/probe 20
# Same node, same expression: A routes to L already; the second subscriber is local to L.
dat_sub sl2 hl nl 'late/**' --latest
lan_check "L's --latest subscriber printed the latest value, v50, before anything new" \
  dat_wait_count sl2 late/data 1 20
printf 'measured: late joiner: its subscription routed from A %d ms after the node was started\n' \
  $((DAT_ROUTE_MS - t_join))
lan_check "L got none of the samples published before it joined" \
  test "$(dat_count sl late/data)" -eq 0

dat_put na late/data $((K + 1)) $((K + M)) 2 v >/dev/null || lan_fail "puts failed"
lan_check "L received $M samples" dat_wait_count sl late/data "$M" 20
lan_check "B received all $((K + M))" dat_wait_count sb late/data $((K + M)) 20
sleep 0.5 # a duplicate (or a late replay of 1..$K) would come right after
lan_check "L got exactly seq $((K + 1))..$((K + M)), once each, in order" \
  dat_check sl late/data $((K + 1)) $((K + M)) v
lan_check "L's --latest subscriber got v$K (stored, seq 0) then exactly seq $((K + 1))..$((K + M))" \
  "$STL_PY" -c "$LATE_CHECK" "$(lan_out sl2)" late/data "$K" $((K + M))
lan_check "B got seq 1..$((K + M)) exactly once, in order" dat_check sb late/data 1 $((K + M)) v
lan_pass "late joiner got the latest value at once, then the $M samples published after it joined"
