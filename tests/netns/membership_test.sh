#!/usr/bin/env bash
# Membership on a virtual LAN (issue 14), real processes found by mDNS (`--interface eth0`):
#  - four open nodes n1..n4 form a mesh;
#  - n1 creates a network and opens an invite; `starling join CODE` on n2, with no address
#    given, finds n1 by itself and exits 0; n1 and n2 reconnect as members and data flows;
#  - n3 never joins: n1 and n2 refuse it (it reaches neither), and it reports no member peer;
#  - n4 creates a second network on the same LAN: the two networks stay apart;
#  - n1 publishes a stream that n2 subscribes to; n1 revokes n2 while it streams: n2's
#    subscription stops within seconds (printed), and n2 stays out.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
# shellcheck source=data.sh
. "$HERE/data.sh"
LAN_TEST_NAME=netns_membership
lan_init 90
stl_require_bin

lan_switch a
for i in 1 2 3 4; do lan_host "h$i" a; done
for i in 1 2 3 4; do DAT_HOST[n$i]=h$i; stl_mdns_node "n$i" "h$i"; done
stl_wait_started n1 n2 n3 n4
lan_check "n2 found n1 by mDNS" stl_wait_identified n2 "$(stl_id n1)" 20

# --- create, invite, join with nothing but the code --------------------------------------------
timeout 10 "$STARLING_BIN" network create --data-dir "${STL_NODE_DATA[n1]}" --name lab >/dev/null || lan_fail "network create failed"
code=$(stl_ctl invite n1 --role member --no-qr) || lan_fail "invite failed"
lan_check "the setup code has 20 symbols in groups of 4" \
  grep -Eq '^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$' <<<"$code"
t_join=$(stl_now_ms)
lan_exec h2 timeout 60 "$STARLING_BIN" join --data-dir "${STL_NODE_DATA[n2]}" "$code" \
  >"$LAN_DIR/join.out" 2>&1 || lan_fail "join failed: $(cat "$LAN_DIR/join.out")"
printf 'measured: starling join, code to admitted: %d ms\n' $(($(stl_now_ms) - t_join))
lan_check "join says which network" grep -q 'joined network' "$LAN_DIR/join.out"

member_connected() {  # NODE PEER_ID: members --json shows PEER_ID connected
  stl_ctl members "$1" --json | "$STL_PY" -c '
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if any(m["id"] == sys.argv[1] and m["connected"] for m in j["members"]) else 1)' "$2"
}
wait_until() {  # SECONDS CMD...: run CMD every 200 ms until it succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do ((SECONDS >= deadline)) && return 1; sleep 0.2; done
}
lan_check "n1 and n2 reconnect as members" wait_until 20 member_connected n1 "$(stl_id n2)"

# --- strangers and another network stay out -----------------------------------------------
timeout 10 "$STARLING_BIN" network create --data-dir "${STL_NODE_DATA[n4]}" --name other >/dev/null || lan_fail "second network create failed"
lan_check "n1 refuses n3 (no network)" lan_wait_log n1 "refused $(stl_id n3)" 20
lan_check "n4 and n1 refuse each other (another network)" \
  wait_until 20 grep -q "member of another network" "$(lan_err n1)" "$(lan_err n4)"
sleep 2
lan_check "n1 is connected to n2 only" test "$(stl_peer_ids n1 | tr '\n' ' ')" = "$(stl_id n2) "
lan_check "n4 is connected to neither n1 nor n2" \
  stl_lacks_peers n4 "$(stl_id n1)" "$(stl_id n2)"

# --- revoke while a subscription streams ---------------------------------------------------
dat_sub s2 h2 n2 'lab/**'
lan_check "n2's subscription is routed from n1" dat_wait_route n1 s2 lab/probe 20
dat_put_bg p1 n1 lab/stream 1 600 20 v
lan_check "n2 receives the stream" dat_wait_count s2 lab/stream 20 20
c0=$(dat_count s2 lab/stream)
stl_ctl revoke n1 "$(stl_id n2)" >/dev/null || lan_fail "revoke failed"
lan_check "n1 cuts n2 off" lan_wait_log n1 "closing the connection to $(stl_id n2)" 10
sleep 3
c1=$(dat_count s2 lab/stream)
sleep 3
c2=$(dat_count s2 lab/stream)
printf 'measured: after the revoke, n2 got %d samples in the first 3 s and %d in the next 3 s\n' \
  $((c1 - c0)) $((c2 - c1))
lan_check "n2's stream stopped within 3 s of the revoke" test "$c2" -eq "$c1"
lan_check "n2 stays out (refused on reconnect, or never re-dialled)" \
  lan_not member_connected n1 "$(stl_id n2)"
lan_pass "join by code over mDNS, strangers and a second network kept out, revoke cut a live stream"
