#!/usr/bin/env bash
# Self-test of the virtual LAN harness (lan.sh), no Starling involved:
#  - 4 hosts on one bridge reach each other (TCP; ICMP too when ping is installed);
#  - addresses, lo, multicast route, no default route; nothing created in the root namespace;
#  - multicast crosses the bridge and stays on its LAN;
#  - loss: 100% blocks, 30% drops roughly 30% of UDP datagrams, 0% restores;
#  - rate: tbf slows a 1 MB transfer;
#  - partition: link down blocks, link up heals;
#  - a dual-homed host reaches both LANs, which stay separate (no routing through it);
#  - cleanup: after a failed run, after TERM, and (cleanup-stale) after SIGKILL, no namespace
#    or process with the run's prefix remains; cleanup-stale spares live runs and other names.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
LAN_TEST_NAME=netns_harness
lan_init 90

root_links_before=$(ip -o link show | awk -F': ' '{print $2}' | sort)

lan_switch a
for h in h1 h2 h3 h4; do lan_host "$h" a; done
lan_switch b
lan_host b1 b
lan_host gw a 254
lan_attach gw b 254

# --- layout -----------------------------------------------------------------------------------
lan_check "addresses are 10.200.1.1-4 on LAN a, gw is 10.200.1.254 and 10.200.2.254" \
  test "$(lan_ip h1) $(lan_ip h4) $(lan_ip gw a) $(lan_ip gw b) $(lan_ip b1)" \
  = "10.200.1.1 10.200.1.4 10.200.1.254 10.200.2.254 10.200.2.1"
lan_check "h3 has its address on eth0" \
  bash -c "ip -n $(lan_ns h3) -4 -o addr show dev eth0 | grep -q 'inet 10.200.1.3/24'"
lan_check "lo is up in h2" bash -c "ip -n $(lan_ns h2) link show lo | grep -q 'UP'"
lan_check "h2 has the multicast route and no default route" \
  bash -c "ip -n $(lan_ns h2) route | grep -q '^224.0.0.0/4 dev eth0' && ! ip -n $(lan_ns h2) route | grep -q default"
lan_check "gw has multicast routes on both interfaces" \
  bash -c "ip -n $(lan_ns gw) route | grep -q '224.0.0.0/4 dev eth1'"
root_links_after=$(ip -o link show | awk -F': ' '{print $2}' | sort)
lan_check "no interface was created in the root namespace" test "$root_links_before" = "$root_links_after"
lan_check "the run's namespaces are listed with its prefix" \
  test "$(ip netns list | awk '{print $1}' | grep -c "^$LAN_PREFIX-")" -eq 8

# --- reachability -----------------------------------------------------------------------------
lan_tcp_sink 7000 h1 h2 h3 h4 b1 gw
all_ok=1
for from in h1 h2 h3 h4; do
  for to in h1 h2 h3 h4; do
    [[ $from == "$to" ]] && continue
    lan_reach_within "$from" "$(lan_ip "$to")" 7000 3 || { echo "  $from cannot reach $to"; all_ok=0; }
  done
done
lan_check "4 hosts on one bridge reach each other (12 TCP connections)" test $all_ok -eq 1
if command -v ping >/dev/null; then
  lan_check "ICMP ping h1 -> h4" lan_exec h1 ping -c 2 -i 0.2 -W 1 -q "$(lan_ip h4)"
else
  echo "note - ping (iputils-ping) not installed: ICMP check skipped, TCP checks used"
fi

# --- multicast --------------------------------------------------------------------------------
# Receivers join 239.255.42.42 on their LAN interface; h1 sends without choosing an interface
# (so the multicast route is what makes it work). b1, on the other LAN, must hear nothing.
mcast_recv='
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("239.255.42.42", 7400))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             struct.pack("4s4s", socket.inet_aton("239.255.42.42"), socket.inet_aton(sys.argv[1])))
print("joined", flush=True)
s.settimeout(4)
try:
    data, src = s.recvfrom(100)
    print("got", data.decode(), "from", src[0], flush=True)
except socket.timeout:
    print("nothing", flush=True)
'
for h in h2 h4 b1; do lan_spawn "mc-$h" "$h" python3 -c "$mcast_recv" "$(lan_ip "$h")"; done
for h in h2 h4 b1; do lan_wait_lines "mc-$h" 1 20 || lan_fail "multicast receiver in $h did not start"; done
lan_exec h1 python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(10):
    s.sendto(b"hello", ("239.255.42.42", 7400)); time.sleep(0.05)
' || lan_fail "multicast send from h1 failed (no multicast route?)"
lan_check "multicast from h1 reaches h2" lan_wait_file "$(lan_out mc-h2)" '^got hello from 10.200.1.1' 5
lan_check "multicast from h1 reaches h4" lan_wait_file "$(lan_out mc-h4)" '^got hello from 10.200.1.1' 5
lan_check "multicast does not leak to the other LAN (b1 hears nothing)" lan_wait_file "$(lan_out mc-b1)" '^nothing' 8

# --- loss -------------------------------------------------------------------------------------
lan_loss h4 100
lan_check "with 100% loss on h4, h1 cannot reach h4" lan_not lan_reach h1 "$(lan_ip h4)"
lan_check "the loss rule sits on h4's input hook" \
  bash -c "ip netns exec $(lan_ns h4) nft list table inet stl_loss | grep -q 'hook input'"
lan_loss h4 0
lan_check "with the loss rule removed, h1 reaches h4 again" lan_reach_within h1 "$(lan_ip h4)" 7000 5

lan_loss h2 30
lan_spawn udp-h2 h2 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
s.bind(("", 7401)); print("ready", flush=True)
s.settimeout(15); n = 0
try:
    while True:
        s.recv(100); n += 1
        s.settimeout(1)  # after the first datagram: stop when the sender has been quiet 1 s
except socket.timeout:
    pass
print(n, flush=True)
'
lan_wait_lines udp-h2 1 20 || lan_fail "UDP receiver did not start"
lan_exec h1 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(1000):
    s.sendto(b"x" * 32, (sys.argv[1], 7401))
    if i % 50 == 0: time.sleep(0.005)
' "$(lan_ip h2)"
lan_wait_lines udp-h2 2 20 || lan_fail "UDP receiver did not report"
received=$(sed -n 2p "$(lan_out udp-h2)")
echo "  30% loss on h2: $received of 1000 UDP datagrams received"
lan_check "30% input loss drops between 15% and 45% of 1000 datagrams" \
  test "$received" -ge 550 -a "$received" -le 850
lan_loss h2 0

# --- rate -------------------------------------------------------------------------------------
send_1mb='
import socket, sys, time
t = time.monotonic()
s = socket.create_connection((sys.argv[1], 7000), timeout=20)
s.sendall(b"\0" * 1000000); s.shutdown(socket.SHUT_WR)
while s.recv(100): pass
print("%.2f" % (time.monotonic() - t))
'
fast=$(lan_exec h3 python3 -c "$send_1mb" "$(lan_ip h1)")
lan_rate h3 4mbit
slow=$(lan_exec h3 python3 -c "$send_1mb" "$(lan_ip h1)")
lan_check "tbf qdisc installed on h3" bash -c "ip netns exec $(lan_ns h3) tc qdisc show dev eth0 | grep -q tbf"
lan_rate h3 off
echo "  1 MB from h3: ${fast}s unlimited, ${slow}s at 4 Mbit/s (2 s expected)"
lan_check "a 4 Mbit/s rate makes 1 MB take at least 1.5 s" python3 -c "import sys; sys.exit(not float('$slow') >= 1.5)"

# --- partition --------------------------------------------------------------------------------
lan_link_down h2
lan_check "after link down, h1 cannot reach h2" lan_not lan_reach h1 "$(lan_ip h2)"
lan_check "after link down, h2 cannot reach h3" lan_not lan_reach h2 "$(lan_ip h3)"
lan_check "the rest of the LAN still works (h3 -> h4)" lan_reach h3 "$(lan_ip h4)"
lan_link_up h2
lan_check "after link up, h1 reaches h2 again" lan_reach_within h1 "$(lan_ip h2)" 7000 5
lan_check "after link up, h2 reaches h3 again" lan_reach_within h2 "$(lan_ip h3)" 7000 5

# --- two LANs, one dual-homed host ------------------------------------------------------------
lan_check "gw reaches h1 on LAN a" lan_reach_within gw "$(lan_ip h1)" 7000 3
lan_check "gw reaches b1 on LAN b" lan_reach_within gw "$(lan_ip b1)" 7000 3
lan_check "b1 reaches gw's LAN-b address" lan_reach_within b1 "$(lan_ip gw b)" 7000 3
lan_check "h1 reaches gw's LAN-a address" lan_reach_within h1 "$(lan_ip gw a)" 7000 3
lan_check "h1 cannot reach b1 (the LANs are separate; gw does not route)" \
  lan_not lan_reach h1 "$(lan_ip b1)"

# --- cleanup ----------------------------------------------------------------------------------
ours() { ip netns list | awk '{print $1}' | grep -c "^$1-"; }
child="$LAN_DIR/child.sh"
cat >"$child" <<EOF
. "$HERE/lan.sh"
LAN_TEST_NAME=child
lan_init
lan_switch x
lan_host c1 x
lan_host c2 x
lan_spawn sleeper c1 sleep 60
echo "\$LAN_PREFIX \$(lan_pid sleeper) \$LAN_DIR" >"\$1"
case \$2 in
  fail) exit 1 ;;
  wait) while :; do sleep 0.1; done ;;
esac
EOF

bash "$child" "$LAN_DIR/c1.info" fail >/dev/null 2>&1
read -r p1 _ d1 <"$LAN_DIR/c1.info"
lan_check "a failing run leaves no namespace with its prefix ($p1)" test "$(ours "$p1")" -eq 0

bash "$child" "$LAN_DIR/c2.info" wait >/dev/null 2>&1 &
cpid=$!
lan_wait_file "$LAN_DIR/c2.info" . 10 || lan_fail "child run did not start"
read -r p2 sleeper2 d2 <"$LAN_DIR/c2.info"
lan_check "the child run's namespaces exist while it runs" test "$(ours "$p2")" -eq 3
kill -TERM "$cpid"
wait "$cpid" 2>/dev/null
lan_check "a run ended by TERM leaves no namespace ($p2)" test "$(ours "$p2")" -eq 0
lan_check "... and no process it started" lan_wait_gone "$sleeper2"

bash "$child" "$LAN_DIR/c3.info" wait >/dev/null 2>&1 &
cpid=$!
lan_wait_file "$LAN_DIR/c3.info" . 10 || lan_fail "child run did not start"
read -r p3 sleeper3 d3 <"$LAN_DIR/c3.info"
kill -KILL "$cpid"
wait "$cpid" 2>/dev/null
lan_check "a run killed by SIGKILL leaves its namespaces behind" test "$(ours "$p3")" -eq 3
lan_check "... and its process still running inside them" lan_not lan_wait_gone "$sleeper3" 0
decoy="${LAN_PREFIX}x-decoy"  # 7 characters after "stl-": not our pattern
ip netns add "$decoy" && LAN_NAMESPACES+=("$decoy")
"$HERE/lan.sh" cleanup-stale | sed 's/^/  /'
lan_check "cleanup-stale removes the killed run's namespaces" test "$(ours "$p3")" -eq 0
lan_check "... and kills the process left inside them" lan_wait_gone "$sleeper3"
lan_check "cleanup-stale spares a live run (this one)" test "$(ours "$LAN_PREFIX")" -eq 8
lan_check "cleanup-stale spares names outside its pattern" bash -c "ip netns list | grep -q '^$decoy'"
ip netns del "$decoy"
# The child runs keep their logs (failed, terminated, killed): remove them.
for d in "$d1" "$d2" "$d3"; do [[ $d == "${TMPDIR:-/tmp}"/stl-* ]] && rm -rf "$d"; done

# This run's own cleanup (the EXIT trap) is checked by the runs above; the last word:
lan_cleanup
lan_check "lan_cleanup removes all of this run's namespaces" test "$(ours "$LAN_PREFIX")" -eq 0
lan_pass "4-host LAN, multicast, loss, rate, partition, dual-homed host, cleanup"
