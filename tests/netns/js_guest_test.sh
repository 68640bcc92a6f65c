#!/usr/bin/env bash
# js_guest_test.sh: a plain js-libp2p peer against a Starling node that belongs to a network
# (issue 14: "a plain js-libp2p peer reaches identify and ping only"). Real processes, two
# namespaces on one virtual LAN:
#   h1: `starling node` (no mDNS, listening on h1's address), which creates a network;
#   h2: tests/interop/peer.mjs, js-libp2p with its defaults, driven by JSON lines on a fifo.
# 1. No invite open: js's dial is refused. Either the dial fails or the connection js got
#    closes at once (the node decides after the Noise handshake); the node logs "refused <js id>",
#    counts it (refused_not_member), and js holds no connection to it afterwards.
# 2. An invite open (`starling invite --no-qr`): js dials again and is admitted as a guest. Ping
#    works (RTTs printed), identify works (js gets the node's id, agent starling/..., and a
#    protocol list of ping, identify and join, without data or members), /ipfs/ping/1.0.0 can be
#    negotiated on a stream of its own, /starling/data/1 and /starling/members/1 are refused at
#    multistream-select (UnsupportedProtocolError) and the connection survives the refusals;
#    the node counts a guest (guests_admitted) and reports no peer event for it (a guest is
#    nobody's peer).
# Exit 0 PASS, 1 FAIL, 77 SKIP (not root / no namespaces). STARLING_BIN picks the binary;
# needs `npm ci` in tests/interop. LAN_KEEP_LOGS=1 keeps the logs.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lan.sh
. "$HERE/lan.sh"
# shellcheck source=starling.sh
. "$HERE/starling.sh"
LAN_TEST_NAME=netns_js_guest
lan_init 60

INTEROP=$STL_REPO/tests/interop
command -v node >/dev/null ||
  lan_fail "node is not on PATH: install Node.js 20 (Debian package nodejs)"
[[ -d $INTEROP/node_modules/libp2p && -d $INTEROP/node_modules/@libp2p/ping ]] ||
  lan_fail "js-libp2p is not installed: run npm ci in $INTEROP (scripts/test.sh does this)"
stl_require_bin

# ---------------------------------------------------------------------------------------------
# The js peer: peer.mjs reads commands from a fifo that this script keeps open on fd 7 (opened
# read-write, so neither side blocks; the peer sees EOF only when it is killed).

JS_FIFO=$LAN_DIR/js.in
JS_NEXT_ID=0

# js_start HOST: peer.mjs in HOST, listening on the namespace's own loopback only (it dials
# out; nothing dials it); waits for its "listening" line and sets JS_ID.
js_start() {
  mkfifo "$JS_FIFO"
  exec 7<>"$JS_FIFO"
  # shellcheck disable=SC2016
  lan_spawn js "$1" bash -c 'exec 7<&- node --import "$1/polyfill.mjs" "$1/peer.mjs" --timeout 55 <"$2"' \
    _ "$INTEROP" "$JS_FIFO"
  js_wait_event 30 'e.get("event") == "listening"' >/dev/null ||
    lan_fail "the js peer did not start (see $(lan_out js) and $(lan_err js))"
  JS_ID=$(js_wait_event 0 'e.get("event") == "listening"' | "$STL_PY" -c 'import json, sys; print(json.load(sys.stdin)["peerId"])')
}

# js_wait_event SECONDS PYTHON_EXPR [ARGS...]: wait until a JSON line `e` of js's stdout makes
# PYTHON_EXPR true (A = ARGS); print that line. 1 on timeout, or at once when js has exited.
js_wait_event() {
  local secs=$1 expr=$2
  shift 2
  "$STL_PY" - "$(lan_out js)" "$(lan_pid js)" "$secs" "$expr" "$@" <<'EOF'
import json, os, sys, time
path, pid, secs, expr, A = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5:]
deadline = time.monotonic() + secs
while True:
    alive = os.path.exists("/proc/%d" % pid)
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
    if not alive or time.monotonic() >= deadline:
        sys.exit(1)
    time.sleep(0.02)
EOF
}

# js_cmd JSON_FIELDS: send {"id":N,JSON_FIELDS} to js; sets JS_CMD_ID=N.
js_cmd() {
  JS_NEXT_ID=$((JS_NEXT_ID + 1))
  JS_CMD_ID=$JS_NEXT_ID
  printf '{"id":%d,%s}\n' "$JS_CMD_ID" "$1" >&7
}

# js_call SECONDS JSON_FIELDS: send a command and set JS_RESULT to its result line (fails the
# test when none came). Not in a $(...) subshell: the command ids must count up.
js_call() {
  js_cmd "$2"
  JS_RESULT=$(js_wait_event "$1" 'e.get("event") == "result" and e.get("id") == int(A[0])' "$JS_CMD_ID") ||
    lan_fail "js gave no result for command $JS_CMD_ID ($2) within $1 s"
}

# js_seen SECONDS PYTHON_EXPR [ARGS...]: js_wait_event, quietly (for lan_check).
js_seen() { js_wait_event "$@" >/dev/null; }

# json_check JSON PYTHON_EXPR [ARGS...]: PYTHON_EXPR over the object `r` (A = ARGS) is true;
# otherwise print the JSON (lan_check shows it with the failure).
json_check() {
  local json=$1 expr=$2
  shift 2
  "$STL_PY" -c '
import json, sys
r = json.loads(sys.argv[1])
ok = eval(sys.argv[2], {"r": r, "A": sys.argv[3:]})
if not ok:
    print("not true: %s\n  of %s" % (sys.argv[2], sys.argv[1]), file=sys.stderr)
sys.exit(0 if ok else 1)' "$json" "$expr" "$@"
}

# json_get JSON PYTHON_EXPR: print the value of PYTHON_EXPR over the object `r`.
json_get() {
  "$STL_PY" -c 'import json, sys; print(eval(sys.argv[2], {"r": json.loads(sys.argv[1])}))' "$1" "$2"
}

# node_metric NAME KEY: a counter of `starling status --json` (metrics.KEY).
node_metric() {
  stl_status "$1" | "$STL_PY" -c 'import json, sys; print(json.load(sys.stdin)["metrics"][sys.argv[1]])' "$2"
}

# ---------------------------------------------------------------------------------------------

lan_switch a
lan_host h1 a   # Starling
lan_host h2 a   # js
stl_node n1 h1 ++ --no-mdns
stl_wait_started n1
NODE_ID=$(stl_id n1)
NODE_ADDR=$(stl_addr n1)
timeout 10 "$STARLING_BIN" network create --data-dir "${STL_NODE_DATA[n1]}" --name lab >"$LAN_DIR/create.out" 2>&1 ||
  lan_fail "network create failed: $(cat "$LAN_DIR/create.out")"
lan_check "n1 created the network and is its owner" lan_wait_log n1 "created network [0-9a-f]+ \\(\"lab\"\\); this node is its owner" 5

js_start h2
echo "# node $NODE_ID at $NODE_ADDR, js $JS_ID (t=${SECONDS}s)"

# --- 1. no invite: refused ---------------------------------------------------------------------
js_call 20 "\"cmd\":\"dial\",\"addr\":\"$NODE_ADDR\""
dial=$JS_RESULT
echo "#   dial without an invite: $dial"
if json_check "$dial" 'r["ok"]' 2>/dev/null; then
  # The dial completed on js's side (Noise and the muxer are done before the node decides):
  # the node must close that connection at once.
  conn_id=$(json_get "$dial" 'r["connectionId"]')
  lan_check "without an invite, the connection js got is closed by the node" \
    js_seen 5 'e.get("event") == "connection:close" and e.get("connectionId") == A[0]' "$conn_id"
else
  lan_check "without an invite, js's dial fails" json_check "$dial" 'not r["ok"] and r.get("error")'
fi
lan_check "n1 logs 'refused $JS_ID'" lan_wait_log n1 "refused $JS_ID" 5
lan_check "n1 counted the refusal (refused_not_member >= 1)" test "$(node_metric n1 refused_not_member)" -ge 1
lan_check "n1 admitted no guest" test "$(node_metric n1 guests_admitted)" -eq 0
js_call 10 '"cmd":"peers"'
peers=$JS_RESULT
lan_check "js holds no open connection to n1" \
  json_check "$peers" 'not any(c["peerId"] == A[0] and c["status"] == "open" for c in r["connections"])' "$NODE_ID"

# --- 2. an invite open: a guest ---------------------------------------------------------------
code=$(stl_ctl invite n1 --role member --no-qr) || lan_fail "invite failed: $code"
echo "#   invite open: $code"
js_call 20 "\"cmd\":\"dial\",\"addr\":\"$NODE_ADDR\""
dial=$JS_RESULT
echo "#   dial with an invite open: $dial"
lan_check "with an invite open, js's dial succeeds" json_check "$dial" 'r["ok"] and r["peerId"] == A[0] and r["status"] == "open"' "$NODE_ID"

js_call 20 "\"cmd\":\"ping\",\"peer\":\"$NODE_ID\",\"count\":3"
ping=$JS_RESULT
lan_check "js pings n1 (3 pings, one stream each)" \
  json_check "$ping" 'r["ok"] and len(r["rtts"]) == 3 and all(isinstance(x, (int, float)) and x >= 0 for x in r["rtts"])'
echo "measured: guest ping RTTs (ms): $(json_get "$ping" '" ".join(str(x) for x in r["rtts"])')"

js_call 20 "\"cmd\":\"identify\",\"peer\":\"$NODE_ID\""
ident=$JS_RESULT
echo "#   identify: $ident"
lan_check "js identifies n1: its peer id and agent starling/..." \
  json_check "$ident" 'r["ok"] and r["peerId"] == A[0] and (r.get("agentVersion") or "").startswith("starling/")' "$NODE_ID"
lan_check "n1 lists ping, identify and join to the guest" \
  json_check "$ident" 'set(["/ipfs/ping/1.0.0", "/ipfs/id/1.0.0", "/starling/join/1"]) <= set(r["protocols"])'
lan_check "n1 lists neither data nor members to the guest" \
  json_check "$ident" 'not set(["/starling/data/1", "/starling/members/1"]) & set(r["protocols"])'
lan_check "js's own identify (on connection open) got agent starling/..." \
  js_seen 5 'e.get("event") == "identify" and e["peerId"] == A[0] and (e.get("agentVersion") or "").startswith("starling/")' "$NODE_ID"

js_call 20 "\"cmd\":\"open\",\"peer\":\"$NODE_ID\",\"protocol\":\"/ipfs/ping/1.0.0\""
open=$JS_RESULT
lan_check "a stream for /ipfs/ping/1.0.0 is negotiated" \
  json_check "$open" 'r["ok"] and r["protocol"] == "/ipfs/ping/1.0.0"'
for proto in /starling/data/1 /starling/members/1; do
  js_call 20 "\"cmd\":\"open\",\"peer\":\"$NODE_ID\",\"protocol\":\"$proto\""
  open=$JS_RESULT
  echo "#   open $proto: $open"
  lan_check "a stream for $proto is refused at multistream-select, the connection stays open" \
    json_check "$open" 'not r["ok"] and r["error"].startswith("UnsupportedProtocolError") and r["connectionStatus"] == "open"'
done
js_call 20 "\"cmd\":\"ping\",\"peer\":\"$NODE_ID\",\"count\":1"
ping=$JS_RESULT
lan_check "ping still works after the refusals" json_check "$ping" 'r["ok"] and len(r["rtts"]) == 1'
js_call 10 '"cmd":"peers"'
peers=$JS_RESULT
lan_check "js holds exactly one open connection to n1" \
  json_check "$peers" 'sum(1 for c in r["connections"] if c["peerId"] == A[0] and c["status"] == "open") == 1' "$NODE_ID"

lan_check "n1 counted a guest (guests_admitted >= 1)" test "$(node_metric n1 guests_admitted)" -ge 1
# A guest is nobody's peer: no peer event (the "connected from" line), and the node does not
# identify it. (`starling peers` does list its connection, with an empty agent.)
lan_check "n1 reports no peer event for js and does not identify it" \
  lan_not grep -Eq "connected (to|from) $JS_ID|identified $JS_ID" "$(lan_err n1)"
lan_check "no fatal js errors" lan_not js_seen 0 'e.get("event") == "error" and e.get("fatal")'
lan_pass "refused without an invite; with one, a guest: ping and identify work, data and members refused"
