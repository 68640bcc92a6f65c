#!/usr/bin/env bash
# A flood of fake mDNS traffic on the LAN while real nodes look for each other.
# Host "fl" multicasts, from UDP port 5353 on its own LAN address, FLOOD_RATE packets/s (default
# 400) of:
#  - announcements of random, valid-looking peer ids (a fresh one each time) whose addresses are
#    unreachable (10.200.1.200-249: nobody answers ARP; 192.0.2.x: no route), wrong-identity
#    (the real nodes' own listen address: the handshake answers with another id) or closed
#    ports (refused);
#  - spoofed announcements that reuse the real nodes' peer ids with a few such bad addresses;
#  - queries for _p2p._udp.local (each asks every node to answer);
#  - malformed packets: random bytes, truncated records, compression loops, bad labels,
#    oversized counts and lengths, dnsaddr TXT values that are not multiaddrs or carry bad ids.
# Meanwhile:
#  - n1 (started before the flood) and n2-n4 (started 1 s into it) form a full mesh within
#    FIND_BOUND_S (default 10 s; time printed);
#  - n1's memory (VmRSS) stays bounded: growth over the first phase < RSS_BOUND_KB (default
#    32768) and over the second, equally long phase < RSS_PHASE2_KB (default 8192) (a leak
#    grows linearly with the packets; bounded tables stop growing once full);
#  - n1 still answers its control socket, knows a bounded number of peers (< 2048), counted
#    the malformed packets (status "mdns.malformed" >= half of those sent: some "bad" ones,
#    e.g. dnsaddr values that are not multiaddrs, are valid DNS) and sent a bounded number of
#    mDNS packets (answers are rate-limited: < 4 per second of flood);
#  - the mesh of four is still full after the flood.
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
LAN_TEST_NAME=netns_mesh_flood
lan_init 85
stl_require_bin

FLOOD_RATE=${FLOOD_RATE:-400}
PHASE_S=${PHASE_S:-8}
FIND_BOUND_S=${FIND_BOUND_S:-10}
RSS_BOUND_KB=${RSS_BOUND_KB:-32768}
RSS_PHASE2_KB=${RSS_PHASE2_KB:-8192}

lan_switch a
for i in 1 2 3 4; do lan_host "h$i" a; done
lan_host fl a 100

cat >"$LAN_DIR/flood.py" <<'PY'
# mDNS flooder (runs inside its own test namespace only). argv: own_ip rate seconds
# real_ips(comma) real_ids(comma). Prints one line of counts at the end.
import os, random, socket, struct, sys, time

own_ip, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
real_ips = sys.argv[4].split(",")
real_ids = [x for x in sys.argv[5].split(",") if x]
rnd = random.Random(int.from_bytes(os.urandom(8), "big"))
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

def b58(b):
    n = int.from_bytes(b, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(b) - len(b.lstrip(b"\0"))) + out

def fake_id():
    # identity multihash of a protobuf ed25519 public key: the usual "12D3KooW..." shape
    return b58(bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]) + os.urandom(32))

def enc_name(s):
    return b"".join(bytes([len(l)]) + l.encode() for l in s.split(".")) + b"\0"

def rr(name, typ, ttl, rdata, cls=1):
    return name + struct.pack("!HHIH", typ, cls, ttl, len(rdata)) + rdata

def txt(strings):
    return b"".join(bytes([len(s)]) + s for s in strings)

def inst():
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rnd.randint(32, 63)))

def response(peer_id, addrs):
    full = inst() + "._p2p._udp.local"
    an = [rr(enc_name("_p2p._udp.local"), 12, 120, enc_name(full))]
    ar = [rr(enc_name(full), 16, 120, txt([("dnsaddr=%s/p2p/%s" % (a, peer_id)).encode()])) for a in addrs]
    return struct.pack("!HHHHHH", 0, 0x8400, 0, len(an), 0, len(ar)) + b"".join(an) + b"".join(ar)

def bad_addr():
    k = rnd.randrange(4)
    if k == 0:
        return "/ip4/10.200.1.%d/tcp/4001" % rnd.randint(200, 249)   # nobody there
    if k == 1:
        return "/ip4/%s/tcp/4001" % rnd.choice(real_ips)              # wrong identity
    if k == 2:
        return "/ip4/%s/tcp/%d" % (rnd.choice(real_ips), rnd.randint(5000, 5100))  # refused
    return "/ip4/192.0.2.%d/tcp/4001" % rnd.randint(1, 254)           # no route

def query():
    return struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 0) + enc_name("_p2p._udp.local") + struct.pack("!HH", 12, 1)

def malformed():
    k = rnd.randrange(9)
    good = response(fake_id(), [bad_addr()])
    if k == 0:
        return os.urandom(rnd.randint(0, 1500))
    if k == 1:
        return good[: rnd.randint(1, len(good) - 1)]                   # truncated
    if k == 2:   # an answer whose name is a pointer to itself
        return struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + b"\xc0\x0c" + struct.pack("!HHIH", 12, 1, 120, 2) + b"\xc0\x0c"
    if k == 3:   # counts far beyond the records present
        return struct.pack("!HHHHHH", 0, 0x8400, 65535, 65535, 65535, 65535) + good[12:]
    if k == 4:   # reserved label type bits, label longer than the packet
        return struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + b"\x7f" + os.urandom(20)
    if k == 5:   # TXT rdlength beyond the end
        full = enc_name(inst() + "._p2p._udp.local")
        return (struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 1) + rr(enc_name("_p2p._udp.local"), 12, 120, full)
                + full + struct.pack("!HHIH", 16, 1, 120, 60000) + b"\x10dnsaddr=/ip4/1.2")
    if k == 6:   # dnsaddr values that are not multiaddrs / ids that are not peer ids
        vals = [b"dnsaddr=/ip4/999.1.1.1/tcp/1/p2p/" + fake_id().encode(), b"dnsaddr=/ip4/10.200.1.1/tcp/4001/p2p/QmNotAPeerId",
                b"dnsaddr=" + b"/" * 200, b"dnsaddr=/unknown/proto/p2p/" + fake_id().encode(), b"dnsaddr=", os.urandom(255)]
        full = enc_name(inst() + "._p2p._udp.local")
        return (struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 1) + rr(enc_name("_p2p._udp.local"), 12, 120, full)
                + rr(full, 16, 120, txt([rnd.choice(vals)[:255]])))
    if k == 7:   # a long chain of pointers
        body = b"".join(struct.pack("!H", 0xC000 | (12 + 2 * (i + 1))) for i in range(300))
        return struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + body + b"\0"
    # PTR to a name of 20 labels of 63 bytes (longer than the 255 a name may have)
    long_name = b"".join(b"\x3f" + b"a" * 63 for _ in range(20)) + b"\0"
    return struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + rr(enc_name("_p2p._udp.local"), 12, 120, long_name)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((own_ip, 5353))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(own_ip))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
counts = {"fake": 0, "spoof": 0, "query": 0, "malformed": 0, "bytes": 0}
start = time.monotonic()
n = 0
while time.monotonic() - start < seconds:
    r = rnd.random()
    if r < 0.55:
        pkt, kind = response(fake_id(), [bad_addr() for _ in range(rnd.randint(1, 4))]), "fake"
    elif r < 0.65 and real_ids:
        # a real id with bad addresses, from a small fixed pool per id (below any per-peer cap)
        pid = rnd.choice(real_ids)
        pool = ["/ip4/10.200.1.%d/tcp/4001" % (200 + real_ids.index(pid)), "/ip4/%s/tcp/5999" % real_ips[0]]
        pkt, kind = response(pid, pool), "spoof"
    elif r < 0.75:
        pkt, kind = query(), "query"
    else:
        pkt, kind = malformed(), "malformed"
    try:
        s.sendto(pkt, ("224.0.0.251", 5353))
        counts[kind] += 1
        counts["bytes"] += len(pkt)
    except OSError:
        pass  # e.g. an oversized random packet
    n += 1
    delay = start + n / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print(" ".join("%s=%d" % kv for kv in counts.items()), flush=True)
PY

real_ips=$(for i in 1 2 3 4; do printf '%s,' "$(lan_ip "h$i")"; done)
real_ips=${real_ips%,}
# Identities made beforehand (`starling id` creates the key), so the flood can spoof them.
real_ids=""
for i in 1 2 3 4; do
  stl_make_id "n$i"
  real_ids+="$(stl_id "n$i"),"
done
real_ids=${real_ids%,}

real_node() { stl_node "$1" "$2" ++ --interface eth0 --listen "/ip4/$(lan_ip "$2")/tcp/4001"; }
real_node n1 h1
stl_wait_started n1
lan_check "n1 kept the identity made beforehand" test "$(stl_id n1)," == "${real_ids%%,*},"
sleep 1
rss0=$(stl_rss_kb n1)
st0=$(stl_status n1) || lan_fail "n1 does not answer status"
sent0=$("$STL_PY" -c 'import json,sys; print(json.load(sys.stdin)["mdns"]["packets_sent"])' <<<"$st0")

flood_once() {
  lan_spawn "flood$1" fl "$STL_PY" "$LAN_DIR/flood.py" "$(lan_ip fl)" "$FLOOD_RATE" "$PHASE_S" "$real_ips" "$real_ids"
}
flood_once 1
tf=$(stl_now_ms)
sleep 1
stl_watch_full_mesh "$FIND_BOUND_S" n1 n2 n3 n4
t0=$(stl_now_ms)
for i in 2 3 4; do real_node "n$i" "h$i"; done
stl_wait_started n2 n3 n4
if ! stl_watch_result; then
  for n in $STL_NOT_YET; do echo "# $n is connected to: $(stl_peer_ids "$n" | tr '\n' ' ')"; done
  lan_fail "real nodes did not find each other within $FIND_BOUND_S s under the flood (missing: $STL_NOT_YET)"
fi
find_ms=$((STL_AT_MS - t0))
printf 'measured: 4 real nodes fully meshed %d ms after start, under a flood of %s packets/s\n' "$find_ms" "$FLOOD_RATE"
lan_check "real nodes found each other under the flood in $find_ms ms (< $FIND_BOUND_S s)" \
  test "$find_ms" -lt $((FIND_BOUND_S * 1000))

lan_wait_lines flood1 1 $((PHASE_S + 10)) || lan_fail "flooder 1 did not finish"
rss1=$(stl_rss_kb n1)
flood_once 2
lan_wait_lines flood2 1 $((PHASE_S + 10)) || lan_fail "flooder 2 did not finish"
flood_s=$((($(stl_now_ms) - tf) / 1000))
rss2=$(stl_rss_kb n1)
echo "# flood phase 1: $(cat "$(lan_out flood1)")"
echo "# flood phase 2: $(cat "$(lan_out flood2)")"
printf 'measured: n1 VmRSS %d KiB before the flood, %d after phase 1, %d after phase 2 (%d s each, %s packets/s)\n' \
  "$rss0" "$rss1" "$rss2" "$PHASE_S" "$FLOOD_RATE"
lan_check "n1 grew $((rss1 - rss0)) KiB over phase 1 (< $RSS_BOUND_KB KiB)" test $((rss1 - rss0)) -lt "$RSS_BOUND_KB"
lan_check "n1 grew $((rss2 - rss1)) KiB over phase 2 (< $RSS_PHASE2_KB KiB: no growth with the packet count)" \
  test $((rss2 - rss1)) -lt "$RSS_PHASE2_KB"

st=$(stl_status n1) || lan_fail "n1 no longer answers status after the flood"
read -r known sent malformed <<<"$("$STL_PY" -c '
import json, sys
d = json.load(sys.stdin)
print(d["known_peers"], d["mdns"]["packets_sent"], d["mdns"].get("malformed", -1))' <<<"$st")"
bad_sent=$(($(grep -o 'malformed=[0-9]*' "$(lan_out flood1)" | cut -d= -f2) + $(grep -o 'malformed=[0-9]*' "$(lan_out flood2)" | cut -d= -f2)))
printf 'measured: n1 counted %d malformed mDNS packets of the %d malformed ones sent\n' "$malformed" "$bad_sent"
lan_check "n1 counted the malformed packets as such (status mdns.malformed $malformed >= half of $bad_sent)" \
  test "$malformed" -ge $((bad_sent / 2))
printf 'measured: after the flood n1 knows %d peers and sent %d mDNS packets during %d s of flood\n' \
  "$known" $((sent - sent0)) "$flood_s"
lan_check "n1 knows a bounded number of peers ($known < 2048)" test "$known" -lt 2048
lan_check "n1's mDNS answers were rate-limited ($((sent - sent0)) packets in ${flood_s} s, < 4/s)" \
  test $((sent - sent0)) -lt $((4 * flood_s + 4))
lan_check "the four real nodes are still fully meshed after the flood" stl_wait_full_mesh 10 n1 n2 n3 n4
lan_check "every node is still running" bash -c "kill -0 $(lan_pid n1) $(lan_pid n2) $(lan_pid n3) $(lan_pid n4)"

lan_pass "real peers meshed in ${find_ms} ms under the flood; RSS +$((rss1 - rss0)) KiB, then +$((rss2 - rss1)) KiB"
