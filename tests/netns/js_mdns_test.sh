#!/usr/bin/env bash
# js_mdns_test.sh: Starling's mDNS against js-libp2p's (@libp2p/mdns) on the virtual LAN, both
# directions (ISSUE4: "a js-libp2p node with mDNS in one namespace and Starling in another find
# and connect to each other, both ways").
#
# LAN a: h1 (js, 10.200.1.1), h2 (Starling, 10.200.1.2), h3 (a passive mDNS sniffer that logs
# every packet on the LAN as hex, for the post-mortem). Rounds:
#   0. js <-> js: two js nodes find, connect to and identify each other (validates the LAN, the
#      multicast route and the js peer itself; if this fails, nothing below means anything);
#   1. Starling first, then js (js dials on discovery; Starling never dials: --max-connections 0);
#   2. js first, then Starling (the same);
#   3. js first with --no-dial, then Starling: the connection must come from Starling.
# Each Starling round checks both directions separately:
#   - js's mDNS reports Starling's peer id with Starling's exact listen address (js accepted our
#     answer or announcement: PTR, TXT placement, dnsaddr format, peer id);
#   - Starling logs "discovered <js id> via mdns on eth0: N addresses" (we read js's answers);
#   - libp2p's own peer:discovery event carries that address too;
#   - a connection is up on both sides (round 1: js's own dial to the announced address; round 3:
#     inbound on js, which never dials) and each identified the other (Starling logs
#     "identified <js id>", js emits identify with agent starling/...);
#   - exactly one connection remains: js does not deduplicate simultaneous dials, Starling must.
#
# Network safety: everything runs inside this run's namespaces (lan.sh). js's multicast-dns
# binds 0.0.0.0:5353 and joins 224.0.0.251 on all interfaces it sees, which is acceptable only
# because those are the namespace's own lo and test veth (mdns_peer.mjs refuses to run in the
# network namespace of pid 1). Starling is told --interface eth0 and listens on h2's address.
#
# Env: STARLING_BIN (default build/dev/bin/starling), LAN_KEEP_LOGS=1, JS_MDNS_QUICK=1 (round 0
# and round 1 only).

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
LAN_TEST_NAME=netns_js_mdns
lan_init 240

INTEROP=$STL_REPO/tests/interop
command -v node >/dev/null ||
  lan_fail "node is not on PATH: install Node.js 20 (Debian package nodejs)"
[[ -d $INTEROP/node_modules/@libp2p/mdns && -d $INTEROP/node_modules/libp2p ]] ||
  lan_fail "js-libp2p with @libp2p/mdns is not installed: run npm ci in $INTEROP (scripts/test.sh does this)"
command -v python3 >/dev/null || lan_fail "python3 is not on PATH"
# the interpreter itself, not a wrapper such as a pyenv shim (seconds per start on a busy machine)
PY=$(python3 -c 'import sys; print(sys.executable)')
stl_require_bin

# ---------------------------------------------------------------------------------------------
# js helpers

# js_start NAME HOST [FLAGS...]: mdns_peer.mjs as process NAME in HOST, listening on HOST's
# address; waits for its "started" line.
js_start() {
  local name=$1 host=$2
  shift 2
  lan_spawn "$name" "$host" node --import "$INTEROP/polyfill.mjs" "$INTEROP/mdns_peer.mjs" \
    --ip "$(lan_ip "$host")" --ignore-stdin --trace-mdns "$LAN_DIR/$name.mdns" --timeout 200 "$@"
  local deadline=$((SECONDS + 30))
  until grep -q '"event":"started"' "$(lan_out "$name")" 2>/dev/null; do
    if lan_wait_gone "$(lan_pid "$name")" 0 || ((SECONDS >= deadline)); then
      lan_fail "js node $name did not start (see $(lan_out "$name") and $(lan_err "$name"))"
    fi
    sleep 0.05
  done
}

# js_id NAME: the js node's peer id.
js_id() {
  "$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "started":
        print(e["id"]); break
' "$(lan_out "$1")"
}

# js_addr NAME: its first listen address without /p2p/.
js_addr() {
  "$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "started":
        print(e["addrs"][0].split("/p2p/")[0]); break
' "$(lan_out "$1")"
}

# js_wait NAME SECONDS PYTHON_EXPR [ARGS...]: wait until a JSON line `e` of NAME's stdout makes
# PYTHON_EXPR true (A is the list ARGS). Prints the matching line.
js_wait() {
  local name=$1 secs=$2 expr=$3
  shift 3
  "$PY" - "$(lan_out "$name")" "$secs" "$expr" "$@" <<'EOF'
import json, sys, time
path, secs, expr, A = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
deadline = time.monotonic() + secs
while True:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if eval(expr, {"A": A, "e": e}):
            print(line)
            sys.exit(0)
    if time.monotonic() >= deadline:
        sys.exit(1)
    time.sleep(0.05)
EOF
}

# js_none NAME PYTHON_EXPR [ARGS...]: no line of NAME's stdout matches (checked now).
js_none() {
  local name=$1 expr=$2
  shift 2
  ! js_wait "$name" 0 "$expr" "$@" >/dev/null
}

# The checks, as functions for lan_check. A=(peer id, address...).
js_discovered() {       # js_discovered NAME SECONDS PEER_ID [EXACT_ADDR]
  js_wait "$1" "$2" 'e.get("event") == "discovery" and e["id"] == A[0] and (len(A) < 2 or A[1] in e["addrs"])' "${@:3}" >/dev/null
}
js_peer_discovery() {   # js_peer_discovery NAME SECONDS PEER_ID EXACT_ADDR: libp2p's own event
  js_wait "$1" "$2" 'e.get("event") == "peer:discovery" and e["id"] == A[0] and A[1] in e["addrs"]' "${@:3}" >/dev/null
}
js_dialled_addr() {     # js_dialled_addr NAME SECONDS PEER_ID ADDR: js's outbound connection to ADDR
  js_wait "$1" "$2" 'e.get("event") == "connect" and e["id"] == A[0] and e["direction"] == "outbound" and e["addr"] == A[1] + "/p2p/" + A[0]' "${@:3}" >/dev/null
}
js_connected() {        # js_connected NAME SECONDS PEER_ID [DIRECTION]
  js_wait "$1" "$2" 'e.get("event") == "connect" and e["id"] == A[0] and (len(A) < 2 or e["direction"] == A[1])' "${@:3}" >/dev/null
}
js_identified() {       # js_identified NAME SECONDS PEER_ID AGENT_PREFIX
  js_wait "$1" "$2" 'e.get("event") == "identify" and e["id"] == A[0] and (e.get("agent") or "").startswith(A[1])' "${@:3}" >/dev/null
}
js_dialed_ok() {        # js_dialed_ok NAME SECONDS PEER_ID
  js_wait "$1" "$2" 'e.get("event") == "dial" and e["id"] == A[0] and e["ok"]' "${@:3}" >/dev/null
}
# js_one_connection NAME SECONDS PEER_ID: js's open connections to PEER_ID (connects minus
# disconnects) settle at exactly one and stay so for a second: js does not deduplicate
# simultaneous dials, so when both sides dialled, Starling must close the same duplicate.
js_one_connection() {
  "$PY" - "$(lan_out "$1")" "$2" "$3" <<'EOF2'
import json, sys, time
path, secs, peer = sys.argv[1], float(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + secs
stable_since = None
while True:
    n = 0
    for line in open(path).read().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("id") == peer and e.get("event") in ("connect", "disconnect"):
            n += 1 if e["event"] == "connect" else -1
    now = time.monotonic()
    if n == 1:
        stable_since = stable_since or now
        if now - stable_since >= 1.0:
            sys.exit(0)
    else:
        stable_since = None
    if now >= deadline:
        print("js has %d open connections to %s" % (n, peer), file=sys.stderr)
        sys.exit(1)
    time.sleep(0.1)
EOF2
}
js_no_fatal() { js_none "$1" 'e.get("event") == "error" and e.get("fatal")'; }
js_never_dialed() { js_none "$1" 'e.get("event") == "dial"'; }

# ---------------------------------------------------------------------------------------------
# Starling helpers

# st_start NAME HOST: `starling node` with mDNS on eth0 only, listening on HOST's address.
st_start() {
  local name=$1 host=$2
  shift 2
  lan_spawn "$name" "$host" "$STARLING_BIN" node --data-dir "$LAN_DIR/$name.data" \
    --listen "/ip4/$(lan_ip "$host")/tcp/0" --interface eth0 "$@"
  STL_NODE_NLISTEN[$name]=1
  stl_wait_started "$name"
}

# st_addr_of NAME: its listen multiaddr without /p2p/.
st_addr_of() { stl_addr "$1" | sed 's|/p2p/.*||'; }

# st_discovered NAME PEER_ID [SECONDS]: "discovered <id> via mdns on eth0: N addresses", N >= 1.
st_discovered() {
  lan_wait_log "$1" "discovered $2 via mdns on eth0: [1-9][0-9]* address" "${3:-15}"
}
st_connected() { lan_wait_log "$1" "connected (to|from) $2" "${3:-15}"; }

# ---------------------------------------------------------------------------------------------
# A passive sniffer: every mDNS packet on LAN a, as one JSON line with the raw bytes in hex, in
# $LAN_DIR/sniff.mdns (js's decoded view of the same packets: $LAN_DIR/<js name>.mdns).

start_sniffer() {
  local host=$1
  lan_spawn sniff "$host" "$PY" -c '
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("224.0.0.251", 5353))     # the group address only, inside the test namespace
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton("224.0.0.251") + socket.inet_aton(sys.argv[1]))
print(json.dumps({"event": "sniffing"}), flush=True)
with open(sys.argv[2], "a") as log:
    while True:
        data, src = s.recvfrom(9000)
        print(json.dumps({"t": time.time(), "from": "%s:%d" % src, "len": len(data),
                          "hex": data.hex()}), file=log, flush=True)
' "$(lan_ip "$host")" "$LAN_DIR/sniff.mdns"
  lan_wait_lines sniff 1 10 || lan_fail "the mDNS sniffer did not start"
}

# ---------------------------------------------------------------------------------------------
# The LAN

lan_switch a
lan_host h1 a   # js
lan_host h2 a   # Starling (or the second js node in round 0)
lan_host h3 a   # sniffer
start_sniffer h3

# Round 0: js <-> js (the LAN and the js peer work; js finds js in both directions).
echo "# round 0: js <-> js (t=${SECONDS}s)"
js_start js0a h1 --mdns-interval 1000
js_start js0b h2 --mdns-interval 1000
ja=$(js_id js0a)
jb=$(js_id js0b)
lan_check "js on h2 discovers js on h1 by mDNS with its listen address" js_discovered js0b 10 "$ja" "$(js_addr js0a)"
lan_check "js on h1 discovers js on h2 by mDNS with its listen address" js_discovered js0a 10 "$jb" "$(js_addr js0b)"
lan_check "js nodes connected" js_connected js0a 10 "$jb"
lan_check "js on h1 identified js on h2" js_identified js0a 10 "$jb" "js-libp2p/"
lan_check "js on h2 identified js on h1" js_identified js0b 10 "$ja" "js-libp2p/"
lan_check "no fatal js errors" js_no_fatal js0a
lan_kill js0a
lan_kill js0b

# The js address js announces for Starling must be exactly Starling's listen address.
# check_round N JS ST [dial|js-dials|no-dial] [SECONDS for Starling to discover js]
check_round() {
  local r=$1 js=$2 st=$3 mode=${4:-} st_secs=${5:-15}
  local jid sid saddr
  jid=$(js_id "$js")
  sid=$(stl_id "$st")
  saddr=$(st_addr_of "$st")
  [[ -n $jid && -n $sid && -n $saddr ]] || lan_fail "round $r: missing ids/addresses (js '$jid', starling '$sid' '$saddr')"
  echo "#   js $jid, starling $sid at $saddr"
  lan_check "round $r: Starling runs mDNS on eth0" lan_wait_log "$st" "mdns: running on eth0" 10
  lan_check "round $r: js (@libp2p/mdns) discovers Starling's id with its listen address $saddr" \
    js_discovered "$js" 15 "$sid" "$saddr"
  lan_check "round $r: libp2p emits peer:discovery for Starling with that address" \
    js_peer_discovery "$js" 5 "$sid" "$saddr"
  lan_check "round $r: Starling discovers js via mdns on eth0" st_discovered "$st" "$jid" "$st_secs"
  lan_check "round $r: Starling connected to/from js" st_connected "$st" "$jid" 15
  if [[ $mode == no-dial ]]; then
    lan_check "round $r: js sees an inbound connection from Starling (js does not dial)" \
      js_connected "$js" 15 "$sid" inbound
    lan_check "round $r: js never dialled" js_never_dialed "$js"
  elif [[ $mode == js-dials ]]; then
    # Starling does not dial in this round (--max-connections 0): the connection is js's own
    # dial of the announced address.
    lan_check "round $r: js dialled Starling at the announced address" js_dialled_addr "$js" 15 "$sid" "$saddr"
    lan_check "round $r: js's dial of the discovered addresses succeeded" js_dialed_ok "$js" 15 "$sid"
  else
    lan_check "round $r: js sees the connection" js_connected "$js" 15 "$sid"
    lan_check "round $r: js's dial of the discovered addresses succeeded" js_dialed_ok "$js" 15 "$sid"
  fi
  lan_check "round $r: Starling identified js" stl_wait_identified "$st" "$jid" 15
  lan_check "round $r: js identified Starling (agent starling/...)" js_identified "$js" 15 "$sid" "starling/"
  lan_check "round $r: exactly one connection between them (duplicates closed)" js_one_connection "$js" 6 "$sid"
  lan_check "round $r: no fatal js errors" js_no_fatal "$js"
  # informational: who dialled, and what Starling logged about js
  grep -m3 -E "discovered $jid|connected (to|from) $jid" "$(lan_err "$st")" | sed 's/^/#   starling: /'
  js_wait "$js" 0 'e.get("event") == "connect" and e["id"] == A[0]' "$sid" | sed 's/^/#   js: /'
}

# Rounds 1 and 2 test js finding and dialling us: Starling runs with --max-connections 0
# (it discovers but never dials), otherwise whichever side dials first decides what js's
# peer:discovery carries (a peer that connected first gets one without addresses). Round 3
# tests the other way: js never dials, so Starling must.
echo "# round 1: Starling first, then js (js dials on discovery) (t=${SECONDS}s)"
st_start st1 h2 --max-connections 0
js_start js1 h1
# js sends no announcement, but multicast loopback hands it its own first query, which it
# answers: that response tells Starling about js at once (no wait for Starling's next query).
check_round 1 js1 st1 js-dials
lan_kill js1
lan_kill st1

if [[ -z ${JS_MDNS_QUICK:-} ]]; then
  echo "# round 2: js first, then Starling (js dials on discovery) (t=${SECONDS}s)"
  js_start js2 h1
  st_start st2 h2 --max-connections 0
  check_round 2 js2 st2
  lan_kill st2
  lan_kill js2

  echo "# round 3: js first with --no-dial, then Starling (Starling must dial) (t=${SECONDS}s)"
  js_start js3 h1 --no-dial
  st_start st3 h2
  check_round 3 js3 st3 no-dial
  lan_kill st3
  lan_kill js3
fi

lan_pass
