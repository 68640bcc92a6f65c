#!/usr/bin/env bash
# The mDNS service on real multicast sockets, inside a virtual LAN (no multicast ever leaves
# the run's namespaces). Runs the integration test MdnsNetns.Node (integration_tests binary)
# as a node in each host, and python3 observers that listen on 224.0.0.251:5353 like any other
# mDNS process (SO_REUSEADDR), decoding the dnsaddr TXT strings of what they hear.
#
# Layout: LAN a = h1, h2, ra (observer), gw; LAN b = rb (observer), gw. gw is dual-homed:
# eth0 = 10.200.1.254 on LAN a, eth1 = 10.200.2.254 on LAN b.
#  1. h1 and h2 (IPv4+IPv6) discover each other with their LAN addresses, see each other
#     again (later responses), while an observer bound to 5353 in h1 keeps working beside the
#     node, and garbage multicast on the LAN is counted as malformed, not fatal.
#  2. IPv6 only: h1 and h2 discover each other over ff02::fb.
#  3. gw listening on 0.0.0.0, mDNS on eth0 and eth1: LAN a hears only 10.200.1.254, LAN b only
#     10.200.2.254; h1 discovers gw on its eth0 with the LAN-a address only.
#  4. gw with the allow list eth0: LAN b hears nothing at all, LAN a hears gw.
#  5. a node listening only on 127.0.0.1 queries on the LAN but announces no address.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces).
# MDNS_TEST_BIN picks the gtest binary (default <repo>/build/dev/tests/integration_tests).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
LAN_TEST_NAME=netns_mdns
lan_init 150

BIN=${MDNS_TEST_BIN:-$HERE/../../build/dev/tests/integration_tests}
[[ -x $BIN ]] || lan_fail "no test binary at $BIN (cmake --build --preset dev --target integration_tests)"
command -v python3 >/dev/null || lan_skip "python3 is not installed"

lan_switch a
lan_switch b
lan_host h1 a
lan_host h2 a
lan_host ra a
lan_host rb b
lan_host gw a 254
lan_attach gw b 254

# The observer: prints one line per datagram heard on 224.0.0.251:5353 via IFACE_IP:
#   "<src ip> q|r <dnsaddr value>..."  (q = query, r = response)
OBSERVER='
import socket, struct, sys, time, select
ifip, secs = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("224.0.0.251", 5353))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton("224.0.0.251") + socket.inet_aton(ifip))
print("listening", flush=True)
end = time.time() + secs
while time.time() < end:
    r, _, _ = select.select([s], [], [], 0.1)
    if not r:
        continue
    data, src = s.recvfrom(9000)
    kind = "r" if len(data) > 2 and data[2] & 0x80 else "q"
    found, i = [], 0
    while True:
        i = data.find(b"dnsaddr=", i)
        if i < 1:
            break
        n = data[i - 1]  # the TXT character-string length byte
        found.append(data[i:i - 1 + 1 + n].decode("ascii", "replace"))
        i += 1
    print(src[0], kind, *found, flush=True)
'

# observe NAME HOST IFACE_IP SECONDS: start an observer, wait until it listens.
observe() {
  lan_spawn "$1" "$2" python3 -c "$OBSERVER" "$3" "$4"
  lan_wait_lines "$1" 1 10 || lan_fail "observer $1 did not start"
}

# node NAME HOST IFACES LISTEN EXPECT RUN_MS [FAMILIES]: start the gtest node in HOST.
node() {
  lan_spawn "$1" "$2" env STARLING_MDNS_NETNS_TEST=1 STARLING_MDNS_INTERFACES="$3" \
    STARLING_MDNS_LISTEN="$4" STARLING_MDNS_EXPECT="$5" STARLING_MDNS_RUN_MS="$6" \
    STARLING_MDNS_FAMILIES="${7:-46}" "$BIN" --gtest_filter=MdnsNetns.Node
  lan_wait_log_out "$1" '^mdns-test interfaces ' 10 || lan_fail "node $1 did not start"
}
lan_wait_log_out() { lan_wait_file "$(lan_out "$1")" "$2" "${3:-10}"; }
node_id() { sed -n 's/^mdns-test id //p' "$(lan_out "$1")"; }
# wait_exit NAME SECONDS: wait for a spawned node to finish; its gtest must have passed.
wait_exit() {
  lan_wait_gone "$(lan_pid "$1")" "$2" || return 1
  grep -q '^\[  PASSED  \] 1 test' "$(lan_out "$1")"
}
heard() { grep -Eq -- "$2" "$(lan_out "$1")"; }
both_pass() { wait_exit "$1" "$3" && wait_exit "$2" "$3"; }

# IPv6 link-local addresses must finish duplicate address detection before they can send.
for h in h1 h2 gw; do
  for _ in $(seq 50); do
    [[ -z $(ip -n "$(lan_ns $h)" -6 addr show tentative) ]] && break
    sleep 0.1
  done
done

# --- 1. two hosts on one LAN --------------------------------------------------------------------
observe obs_h1 h1 "$(lan_ip h1)" 12   # another mDNS process on h1, bound to 5353 too
observe obs_ra ra "$(lan_ip ra)" 12
node n1 h1 eth0 "/ip4/$(lan_ip h1)/tcp/0" 1 12000
# Garbage on the LAN while n1 runs (it waits for n2).
lan_exec ra python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(sys.argv[1]))
for p in (b"\xde\xad\xbe\xef", b"\x00\x00\x84\x00\x00\x00\x00\x05\x00\x00\x00\x00\xc0", b"\x00" * 12 + b"\x3f" * 40):
    s.sendto(p, ("224.0.0.251", 5353))
' "$(lan_ip ra)"
node n2 h2 eth0 "/ip4/$(lan_ip h2)/tcp/0" 1 12000
id1=$(node_id n1)
id2=$(node_id n2)
lan_check "n1 and n2 both discover and see each other again (gtest passes)" \
  both_pass n1 n2 15
lan_check "n1 discovered n2 on eth0 with n2's LAN address only" \
  grep -Eq "^mdns-test discovered $id2 on eth0 index [0-9]+ from [^ ]+: /ip4/$(lan_ip h2)/tcp/[0-9]+\$" "$(lan_out n1)"
lan_check "n2 discovered n1 on eth0 with n1's LAN address only" \
  grep -Eq "^mdns-test discovered $id1 on eth0 index [0-9]+ from [^ ]+: /ip4/$(lan_ip h1)/tcp/[0-9]+\$" "$(lan_out n2)"
lan_check "n1 reports a later response of n2 (seen)" grep -q "^mdns-test seen $id2 on eth0" "$(lan_out n1)"
lan_check "the garbage was counted as malformed" grep -Eq '^mdns-test stats .* malformed=[1-9]' "$(lan_out n1)"
lan_check "an observer bound to 5353 beside n1 still hears n2's announcement" \
  heard obs_h1 "^$(lan_ip h2) r dnsaddr=/ip4/$(lan_ip h2)/tcp/[0-9]+/p2p/$id2"
lan_check "the observer on ra hears n1's announcement (one dnsaddr, its LAN address)" \
  heard obs_ra "^$(lan_ip h1) r dnsaddr=/ip4/$(lan_ip h1)/tcp/[0-9]+/p2p/$id1\$"
lan_check "the observer on ra hears n1's queries" heard obs_ra "^$(lan_ip h1) q\$"
lan_kill obs_h1
lan_kill obs_ra

# --- 2. IPv6 only ---------------------------------------------------------------------------------
node v1 h1 eth0 "/ip4/$(lan_ip h1)/tcp/0" 1 12000 6
node v2 h2 eth0 "/ip4/$(lan_ip h2)/tcp/0" 1 12000 6
idv2=$(node_id v2)
lan_check "IPv6 only: both discover each other over ff02::fb" \
  both_pass v1 v2 15
lan_check "IPv6 only: the packet came from a link-local source on eth0" \
  grep -Eq "^mdns-test discovered $idv2 on eth0 index [0-9]+ from \[fe80::[0-9a-f:]+%eth0\]:5353: /ip4/$(lan_ip h2)/tcp/" "$(lan_out v1)"

# --- 3. dual-homed, wildcard listener: per-interface announcements --------------------------------
observe obs_a ra "$(lan_ip ra)" 6
observe obs_b rb "$(lan_ip rb)" 6
node g1 gw eth0,eth1 "/ip4/0.0.0.0/tcp/0" 0 5000
node w1 h1 eth0 "/ip4/$(lan_ip h1)/tcp/0" 1 6000
idg=$(node_id g1)
lan_check "gw runs on eth0 and eth1" lan_wait_log_out g1 '^mdns-test interfaces eth0,eth1$' 5
lan_check "h1 discovers gw on eth0" \
  wait_exit w1 10
# gw announces over IPv4 and IPv6 alike; whichever reaches h1 first is the discovery, so the
# source may be gw's LAN-a address or its link-local one. What is announced is LAN-a only.
lan_check "h1 got gw's LAN-a address only" \
  grep -Eq "^mdns-test discovered $idg on eth0 index [0-9]+ from (10.200.1.254|\[fe80::[0-9a-f:]+%eth0\]):5353: /ip4/10.200.1.254/tcp/[0-9]+\$" "$(lan_out w1)"
lan_wait_gone "$(lan_pid g1)" 10
lan_wait_gone "$(lan_pid obs_a)" 10
lan_wait_gone "$(lan_pid obs_b)" 10
lan_check "LAN a hears gw announce 10.200.1.254" heard obs_a "^10.200.1.254 r dnsaddr=/ip4/10.200.1.254/tcp/[0-9]+/p2p/$idg\$"
lan_check "LAN b hears gw announce 10.200.2.254" heard obs_b "^10.200.2.254 r dnsaddr=/ip4/10.200.2.254/tcp/[0-9]+/p2p/$idg\$"
lan_check "LAN a never hears the LAN-b address (or any other)" lan_not heard obs_a "dnsaddr=/ip4/10\.200\.2\."
lan_check "LAN b never hears the LAN-a address" lan_not heard obs_b "dnsaddr=/ip4/10\.200\.1\."
lan_check "LAN a hears gw only from its LAN-a address" lan_not heard obs_a "^10\.200\.2\."
lan_check "the wildcard never leaks: no 0.0.0.0 or 127.0.0.1 announced" \
  lan_not grep -Eq "dnsaddr=/ip4/(0\.0\.0\.0|127\.)" "$(lan_out obs_a)" "$(lan_out obs_b)"

# --- 4. allow list: eth0 only -----------------------------------------------------------------------
observe obs_a2 ra "$(lan_ip ra)" 5
observe obs_b2 rb "$(lan_ip rb)" 5
node g2 gw eth0 "/ip4/0.0.0.0/tcp/0" 0 4000
lan_check "gw runs on eth0 only" lan_wait_log_out g2 '^mdns-test interfaces eth0$' 5
lan_wait_gone "$(lan_pid g2)" 10
lan_wait_gone "$(lan_pid obs_a2)" 10
lan_wait_gone "$(lan_pid obs_b2)" 10
lan_check "LAN a hears gw" heard obs_a2 "^10.200.1.254 r dnsaddr=/ip4/10.200.1.254/"
lan_check "LAN b hears nothing at all from gw" test "$(wc -l <"$(lan_out obs_b2)")" -eq 1

# --- 5. loopback-only node ------------------------------------------------------------------------
observe obs_a3 ra "$(lan_ip ra)" 4
node l1 h1 eth0 "/ip4/127.0.0.1/tcp/0" 0 3000
lan_wait_gone "$(lan_pid l1)" 10
lan_wait_gone "$(lan_pid obs_a3)" 10
lan_check "a loopback-only node still queries on the LAN" heard obs_a3 "^$(lan_ip h1) q\$"
lan_check "but announces no address there" lan_not heard obs_a3 "^$(lan_ip h1) r"

lan_pass
