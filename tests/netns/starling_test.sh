#!/usr/bin/env bash
# Starling on one virtual LAN: 5 nodes, one per host, each listening on its host's 10.200.1.x
# address and bootstrapping to host 1's node.
#  - every node logs "identified" for node 1, and node 1 for every other node;
#  - `starling ping` from host 3 to node 5's address gets a reply;
#  - node 2 killed (SIGKILL): node 1 logs "disconnected" for it.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
LAN_TEST_NAME=netns_starling_lan
lan_init 60
stl_require_bin

lan_switch a
for i in 1 2 3 4 5; do lan_host "h$i" a; done

stl_node n1 h1
stl_wait_started n1
id1=$(stl_id n1)
addr1=$(stl_addr n1)
lan_check "node 1 listens on its LAN address: $addr1" \
  lan_wait_file "$(lan_out n1)" "^/ip4/$(lan_ip h1)/tcp/[0-9]+/p2p/$id1\$" 0
t0=$EPOCHREALTIME
for i in 2 3 4 5; do stl_node "n$i" "h$i" -- "$addr1"; done
stl_wait_started n2 n3 n4 n5

for i in 2 3 4 5; do
  lan_check "node $i listens on 10.200.1.$i, not a wildcard" \
    lan_wait_file "$(lan_out "n$i")" "^/ip4/$(lan_ip "h$i")/tcp/[0-9]+/p2p/" 0
done
for i in 2 3 4 5; do
  lan_check "node $i identified node 1" stl_wait_identified "n$i" "$id1" 10
done
for i in 2 3 4 5; do
  lan_check "node 1 identified node $i" stl_wait_identified n1 "$(stl_id "n$i")" 10
done
echo "  all 4 nodes and node 1 identified each other $(python3 -c "print('%.2f' % ($EPOCHREALTIME - $t0))") s after the nodes started"

addr5=$(stl_addr n5)
stl_ping h3 "$addr5" 2 >"$LAN_DIR/ping.out" 2>&1
code=$?
sed 's/^/  | /' "$LAN_DIR/ping.out"
lan_check "starling ping from host 3 to node 5 ($addr5) exits 0" test "$code" -eq 0
lan_check "... with replies from node 5's peer id" grep -q "bytes from $(stl_id n5)" "$LAN_DIR/ping.out"

id2=$(stl_id n2)
lan_check "node 1 has not logged node 2 as disconnected yet" lan_not grep -q "disconnected $id2" "$(lan_err n1)"
lan_kill n2 KILL
lan_check "node 2 killed: node 1 logs 'disconnected' for it" stl_wait_disconnected n1 "$id2" 10
for i in 3 4 5; do lan_check "node $i still runs" lan_not lan_wait_gone "$(lan_pid "n$i")" 0; done
lan_check "node 1 still answers ping (from host 4)" stl_ping_quiet h4 "$addr1" 1
lan_pass "5 nodes on one LAN identified, ping across the LAN, dead peer noticed"
