#!/usr/bin/env bash
# Two LANs joined by a dual-homed node, discovery only (no bootstrap anywhere):
#   LAN a: a1, a2 (10.200.1.x)     gw: eth0 10.200.1.254 + eth1 10.200.2.254    LAN b: b1, b2
# gw runs `--interface eth0 --interface eth1` and listens on both addresses; the others run
# `--interface eth0`. gw does not route between the LANs.
#  - mDNS: gw says it runs on eth0,eth1; a1/a2 connect to each other and to gw, b1/b2 likewise;
#  - gw learnt each side by mDNS on the right interface and announced on each LAN only its
#    address on that LAN (a1's log: gw discovered with 1 address);
#  - peer exchange: `starling peers --all --json` on a1 lists b1 and b2 with source "pex" (and
#    on b1: a1 and a2), within PEX_BOUND_S (default 15 s); a1 is not connected to b1 (it cannot
#    be: there is no route) and still has its LAN-a peers.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
LAN_TEST_NAME=netns_mesh_two_lans
lan_init 80
stl_require_bin

PEX_BOUND_S=${PEX_BOUND_S:-15}

lan_switch a
lan_switch b
lan_host a1 a
lan_host a2 a
lan_host b1 b
lan_host b2 b
lan_host gw a 254
lan_attach gw b 254

stl_node gw gw a b ++ --interface eth0 --interface eth1
for n in a1 a2 b1 b2; do stl_mdns_node "$n" "$n"; done
stl_wait_started gw a1 a2 b1 b2
lan_check "gw runs mDNS on eth0 and eth1" lan_wait_log gw 'mdns: running on eth0,eth1([^,]|$)' 5
idgw=$(stl_id gw)

lan_check "LAN a: a1, a2 and gw fully connected" stl_wait_full_mesh 15 a1 a2 gw
lan_check "LAN b: b1, b2 and gw fully connected" stl_wait_full_mesh 15 b1 b2 gw
lan_check "gw discovered a1 by mDNS on eth0" \
  lan_wait_log gw "discovered $(stl_id a1) via mdns on eth0: " 5
lan_check "gw discovered b1 by mDNS on eth1" \
  lan_wait_log gw "discovered $(stl_id b1) via mdns on eth1: " 5
lan_check "a1 discovered gw by mDNS on its eth0" \
  lan_wait_log a1 "discovered $idgw via mdns on eth0: " 5
lan_check "gw connected from/to a1 over LAN a" \
  lan_wait_log gw "connected (to|from) $(stl_id a1) via /ip4/10\.200\.1\." 5
lan_check "gw connected from/to b1 over LAN b" \
  lan_wait_log gw "connected (to|from) $(stl_id b1) via /ip4/10\.200\.2\." 5

# known_has NAME ID SOURCE: NAME's `peers --all --json` lists ID with SOURCE among its sources.
known_has() {
  stl_known "$1" 2>/dev/null | "$STL_PY" -c '
import json, sys
d = json.load(sys.stdin)
ok = any(k.get("id") == sys.argv[1] and sys.argv[2] in k.get("sources", []) for k in d.get("known", []))
sys.exit(0 if d.get("ok", True) and ok else 1)' "$2" "$3"
}
wait_known() {
  local deadline=$((SECONDS + $4))
  until known_has "$1" "$2" "$3"; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.2
  done
}
# What gw announced on LAN a (mDNS only: the known-peer list also holds what identify said):
# a1 logs how many addresses the mDNS answer carried; gw has one per LAN.
lan_check "gw announced one address on LAN a (a1: 'discovered gw via mdns on eth0: 1 addresses')" \
  lan_wait_log a1 "discovered $idgw via mdns on eth0: 1 addresses" 5
lan_check "... and one on LAN b (b1 says the same)" \
  lan_wait_log b1 "discovered $idgw via mdns on eth0: 1 addresses" 5

t0=$(stl_now_ms)
for pair in "a1 b1" "a1 b2" "a2 b1" "b1 a1" "b1 a2" "b2 a1"; do
  read -r who whom <<<"$pair"
  lan_check "$who lists $whom with source pex (peers --all --json)" \
    wait_known "$who" "$(stl_id "$whom")" pex "$PEX_BOUND_S"
done
printf 'measured: both sides knew of each other through gw %d ms after the LANs were meshed\n' \
  $(($(stl_now_ms) - t0))
if ! known_has a1 "$(stl_id b1)" pex; then lan_fail "a1 forgot b1"; fi
lan_check "a1 is not connected to b1 or b2 (no route between the LANs)" \
  stl_lacks_peers a1 "$(stl_id b1)" "$(stl_id b2)"
lan_check "a1 still connected to a2 and gw" stl_has_peers a1 "$(stl_id a2)" "$idgw"
lan_check "b1 still connected to b2 and gw" stl_has_peers b1 "$(stl_id b2)" "$idgw"

lan_pass "two LANs: each side learnt of the other through the dual-homed node (pex)"
