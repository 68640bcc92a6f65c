#!/usr/bin/env bash
# Starling on two LANs joined by one dual-homed host ("gw", 10.200.1.254 and 10.200.2.254,
# which does not route between them). gw's node listens on both addresses; nodes a1, a2 on
# LAN a bootstrap to its LAN-a address, b1, b2 on LAN b to its LAN-b address.
#  - gw identifies all four nodes, each node identifies gw, over the right LAN;
#  - `starling ping` works from each side to gw's address on that side;
#  - a node on LAN a cannot reach a node on LAN b directly (the LANs really are separate).
# (Learning about the other side through gw needs peer exchange, not written yet.)
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
LAN_TEST_NAME=netns_starling_two_lans
lan_init 60
stl_require_bin

lan_switch a
lan_switch b
lan_host a1 a
lan_host a2 a
lan_host b1 b
lan_host b2 b
lan_host gw a 254
lan_attach gw b 254

stl_node gw gw a b
stl_wait_started gw
idgw=$(stl_id gw)
gw_a=$(stl_addr gw "$(lan_ip gw a)")
gw_b=$(stl_addr gw "$(lan_ip gw b)")
lan_check "gw listens on its LAN-a address: $gw_a" test -n "$gw_a"
lan_check "gw listens on its LAN-b address: $gw_b" test -n "$gw_b"

stl_node a1 a1 -- "$gw_a"
stl_node a2 a2 -- "$gw_a"
stl_node b1 b1 -- "$gw_b"
stl_node b2 b2 -- "$gw_b"
stl_wait_started a1 a2 b1 b2

for n in a1 a2 b1 b2; do
  lan_check "$n identified gw" stl_wait_identified "$n" "$idgw" 10
done
for n in a1 a2; do
  lan_check "gw identified $n, connected over LAN a" \
    lan_wait_log gw "connected (from|to) $(stl_id "$n") via /ip4/$(lan_ip "$n")/" 10
done
for n in b1 b2; do
  lan_check "gw identified $n, connected over LAN b" \
    lan_wait_log gw "connected (from|to) $(stl_id "$n") via /ip4/$(lan_ip "$n")/" 10
done
for n in a1 a2 b1 b2; do
  lan_check "gw identified $n" stl_wait_identified gw "$(stl_id "$n")" 10
done

lan_check "starling ping from a2 to gw's LAN-a address" stl_ping_quiet a2 "$gw_a" 1
lan_check "starling ping from b2 to gw's LAN-b address" stl_ping_quiet b2 "$gw_b" 1
lan_check "a1 cannot reach b1 directly (no route between the LANs)" \
  lan_not stl_ping_quiet a1 "$(stl_addr b1)" 1
lan_check "... and says why" grep -q "cannot connect" "$LAN_DIR/ping-a1.out"
for n in a1 a2 b1 b2; do
  lan_check "gw has not lost $n (pings come from throwaway identities and do disconnect)" \
    lan_not grep -q "disconnected $(stl_id "$n")" "$(lan_err gw)"
done
lan_pass "two LANs bridged by a dual-homed node: both sides connected to it"
