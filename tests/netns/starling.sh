# shellcheck shell=bash
# starling.sh: helpers to run `starling node` on the virtual LAN of lan.sh. Source after lan.sh.
#
#   stl_require_bin                          # $STARLING_BIN or <repo>/build/dev/bin/starling
#   stl_node n1 h1                           # node "n1" in host h1, listening on h1's address
#   stl_node n2 h2 -- "$(stl_addr n1)"       # ... bootstrapping to n1
#   stl_wait_identified n2 "$(stl_id n1)"    # n2's log says it identified n1
#
# Nodes listen only on their hosts' 10.200.x.y addresses (never a wildcard), tcp port 0.

STL_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The system python: a version-manager shim (pyenv) in PATH can take seconds to start on a busy
# machine, which is more than the flood/receiver timings here allow.
if [[ -z ${STL_PY:-} ]]; then
  if [[ -x /usr/bin/python3 ]]; then STL_PY=/usr/bin/python3; else STL_PY=python3; fi
fi

# stl_require_bin: set STARLING_BIN (default <repo>/build/dev/bin/starling) or fail clearly.
stl_require_bin() {
  STARLING_BIN=${STARLING_BIN:-$STL_REPO/build/dev/bin/starling}
  if [[ ! -x $STARLING_BIN ]]; then
    lan_fail "no starling binary at $STARLING_BIN (build it: cmake --preset dev && cmake --build --preset dev --target starling, or set STARLING_BIN)"
  fi
}

# stl_node NAME HOST [LAN...] [-- BOOTSTRAP_MULTIADDR...] [++ NODE_FLAG...]: start
# `starling node` as process NAME in HOST, listening on HOST's address on each LAN named
# (default: its first address), with data directory $LAN_DIR/NAME.data (or $STL_DATA_DIR when
# set, e.g. to restart a node under another process name with the same identity). NODE_FLAGs go
# to `starling node` as they are (`++ --interface eth0`); when they contain --listen, no listen
# address is added (a wildcard such as /ip4/0.0.0.0/tcp/4001 is fine: it stays inside HOST's
# namespace). With STL_DEFAULT_LISTEN=1 no --listen is passed at all: the node uses its own
# default (a wildcard, inside HOST's namespace only). Does not wait: stl_wait_started does.
stl_node() {
  local name=$1 host=$2
  shift 2
  local -a lans=() args=() boots=() flags=()
  while (($#)) && [[ $1 != -- && $1 != ++ ]]; do lans+=("$1"); shift; done
  if [[ ${1:-} == -- ]]; then
    shift
    while (($#)) && [[ $1 != ++ ]]; do boots+=("$1"); shift; done
  fi
  [[ ${1:-} == ++ ]] && shift
  flags=("$@")
  local lan b f nlisten=0
  for f in "${flags[@]}"; do [[ $f == --listen ]] && nlisten=$((nlisten + 1)); done
  if ((nlisten == 0)) && [[ -n ${STL_DEFAULT_LISTEN:-} ]]; then
    nlisten=1  # the node's own default (0.0.0.0:4001, inside HOST's namespace): >= 1 line
  elif ((nlisten == 0)); then
    if ((${#lans[@]} == 0)); then
      args+=(--listen "/ip4/$(lan_ip "$host")/tcp/0")
    else
      for lan in "${lans[@]}"; do args+=(--listen "/ip4/$(lan_ip "$host" "$lan")/tcp/0"); done
    fi
    nlisten=$((${#lans[@]} > 0 ? ${#lans[@]} : 1))
  fi
  for b in "${boots[@]}"; do args+=(--bootstrap "$b"); done
  local data=${STL_DATA_DIR:-$LAN_DIR/$name.data}
  lan_spawn "$name" "$host" "$STARLING_BIN" node --data-dir "$data" "${args[@]}" "${flags[@]}"
  STL_NODE_NLISTEN[$name]=$nlisten
  STL_NODE_DATA[$name]=$data
}
declare -gA STL_NODE_NLISTEN=() STL_NODE_DATA=()

# stl_mdns_node NAME HOST [NODE_FLAG...]: a node with nothing configured but its interface:
# `starling node --interface eth0` listening on HOST's LAN address, port 0.
stl_mdns_node() {
  local name=$1 host=$2
  shift 2
  stl_node "$name" "$host" ++ --interface eth0 "$@"
}

# stl_wait_started NAME... : wait until each node printed its id and all its listen addresses
# (15 s); fails at once, with the node's last words, when the node exited instead.
stl_wait_started() {
  local name pid out need deadline
  for name in "$@"; do
    pid=$(lan_pid "$name")
    out=$(lan_out "$name")
    need=$((1 + STL_NODE_NLISTEN[$name]))
    deadline=$((SECONDS + 15))
    until [[ -f $out && $(wc -l <"$out") -ge $need ]]; do
      if lan_wait_gone "$pid" 0; then
        lan_fail "node $name exited at start: $(tail -n 3 "$(lan_err "$name")" | tr '\n' ' ')"
      fi
      ((SECONDS >= deadline)) && lan_fail "node $name did not print its id and addresses (see $(lan_err "$name"))"
      sleep 0.05
    done
  done
}

# stl_id NAME: the node's peer id (first line of its stdout).
stl_id() { stl__id "$1"; printf '%s\n' "$REPLY"; }
# stl__id NAME: the same in $REPLY, without a fork (the watches below need 100s of them).
stl__id() {
  REPLY=""
  [[ -s $LAN_DIR/$1.out ]] && read -r REPLY <"$LAN_DIR/$1.out"
  [[ -n $REPLY ]] || REPLY=${STL_PRE_ID[$1]:-}
}

# stl_make_id NAME: create node NAME's identity now (`starling id --data-dir`), so that its id
# is known (stl_id) and a watch can be armed before the node starts. stl_node NAME uses it.
stl_make_id() {
  local name=$1
  rm -f "$LAN_DIR/$name.out"  # a previous node of that name: its id is not this one
  STL_NODE_DATA[$name]=${STL_DATA_DIR:-$LAN_DIR/$name.data}
  STL_PRE_ID[$name]=$("$STARLING_BIN" id --data-dir "${STL_NODE_DATA[$name]}") ||
    lan_fail "starling id --data-dir ${STL_NODE_DATA[$name]} failed"
}
declare -gA STL_PRE_ID=()

# stl_addr NAME [IP]: the node's listen multiaddr with /p2p/ (the one on IP, default the first).
stl_addr() {
  local out
  out=$(lan_out "$1")
  if [[ -n ${2:-} ]]; then
    grep -m1 "^/ip4/$2/tcp/" "$out"
  else
    sed -n 2p "$out"
  fi
}

# stl_wait_identified NAME PEER_ID [SECONDS]: NAME's log shows "identified PEER_ID".
stl_wait_identified() { lan_wait_log "$1" "identified $2" "${3:-10}"; }

# stl_wait_disconnected NAME PEER_ID [SECONDS]: NAME's log shows "disconnected PEER_ID".
stl_wait_disconnected() { lan_wait_log "$1" "disconnected $2" "${3:-10}"; }

# stl_ping HOST MULTIADDR [COUNT]: run `starling ping` from HOST (exit status of ping; output on
# stdout). Bounded by timeout.
stl_ping() {
  lan_exec "$1" timeout 20 "$STARLING_BIN" ping "$2" -c "${3:-1}" -i 0.2 -W 5
}

# stl_ping_quiet HOST MULTIADDR [COUNT]: stl_ping with its output in $LAN_DIR/ping-HOST.out.
stl_ping_quiet() { stl_ping "$@" >"$LAN_DIR/ping-$1.out" 2>&1; }

# ---------------------------------------------------------------------------------------------
# Mesh helpers: the control socket (`starling peers/status --json`), clocks, memory.

# stl_now_ms: wall-clock milliseconds since the epoch (bash's EPOCHREALTIME, no fork).
stl_now_ms() {
  local t=${EPOCHREALTIME//[.,]/}
  printf '%s\n' $((t / 1000))
}

# stl_log_ms LOG_LINE: the node log line's time (spdlog "%H:%M:%S.%e", local time) as
# milliseconds since the epoch, taking the day that puts it nearest to now.
STL_MIDNIGHT_MS=$(($(date -d "$(date +%F)" +%s) * 1000))
stl_log_ms() {
  local hms=${1%% *} now t
  [[ $hms =~ ^([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{3})$ ]] || return 1
  t=$((STL_MIDNIGHT_MS + (10#${BASH_REMATCH[1]} * 3600 + 10#${BASH_REMATCH[2]} * 60 + 10#${BASH_REMATCH[3]}) * 1000 + 10#${BASH_REMATCH[4]}))
  now=$(stl_now_ms)
  while ((t > now + 43200000)); do t=$((t - 86400000)); done
  while ((t < now - 43200000)); do t=$((t + 86400000)); done
  printf '%s\n' "$t"
}

# stl_ctl CMD NAME [ARGS...]: run `starling CMD --data-dir <NAME's data dir> ARGS...` (the CLI
# talks to the node over the Unix socket in its data directory; no network involved).
stl_ctl() {
  local cmd=$1 name=$2
  shift 2
  timeout 5 "$STARLING_BIN" "$cmd" --data-dir "${STL_NODE_DATA[$name]:?no node $name}" "$@"
}

# stl_peers NAME: the JSON of `starling peers --json` for node NAME (connected peers).
stl_peers() { stl_ctl peers "$1" --json; }
# stl_known NAME: the JSON of `starling peers --all --json` (every peer the node knows of).
stl_known() { stl_ctl peers "$1" --all --json; }
# stl_status NAME: the JSON of `starling status --json`.
stl_status() { stl_ctl status "$1" --json; }

# stl_json_ids: read `peers --json` on stdin, print the distinct connected peer ids, sorted
# (exit 1 unless it is a "peers" answer; the CLI prints the node's answer without "ok").
# grep, not python: the mesh polls run it for every node several times a second and must not
# steal the CPU the nodes are being timed on.
stl_json_ids() {
  local json
  json=$(cat)
  grep -qE '"peers"[[:space:]]*:' <<<"$json" || return 1
  grep -qE '"ok"[[:space:]]*:[[:space:]]*false' <<<"$json" && return 1
  grep -oE '"id"[[:space:]]*:[[:space:]]*"[^"]+"' <<<"$json" | sed -E 's/.*"([^"]+)"$/\1/' | sort -u
}

# stl_peer_ids NAME: NAME's connected peer ids, one per line, sorted (exit 1 if the node did
# not answer).
stl_peer_ids() {
  local json
  json=$(stl_peers "$1" 2>/dev/null) || return 1
  stl_json_ids <<<"$json"
}

# stl_peer_count NAME: the number of distinct peers NAME is connected to ("-1" if no answer).
stl_peer_count() {
  local ids
  if ! ids=$(stl_peer_ids "$1"); then echo -1; return 1; fi
  if [[ -z $ids ]]; then echo 0; else wc -l <<<"$ids"; fi
}

# stl_wait_peer_count NAME N [SECONDS]: wait until NAME is connected to exactly N distinct peers
# (default 10 s).
stl_wait_peer_count() {
  local name=$1 n=$2 secs=${3:-10}
  local deadline=$((SECONDS + secs))
  while :; do
    [[ $(stl_peer_count "$name") == "$n" ]] && return 0
    ((SECONDS >= deadline)) && return 1
    sleep 0.1
  done
}

# stl_has_peers NAME ID... : is NAME connected to every ID given?
stl_has_peers() {
  local name=$1 ids id
  shift
  ids=$(stl_peer_ids "$name") || return 1
  for id in "$@"; do grep -qxF -- "$id" <<<"$ids" || return 1; done
}

# stl_lacks_peers NAME ID... : is NAME connected to none of the IDs (and answering)?
stl_lacks_peers() {
  local name=$1 ids id
  shift
  ids=$(stl_peer_ids "$name") || return 1
  for id in "$@"; do grep -qxF -- "$id" <<<"$ids" && return 1; done
  return 0
}

# Timed waits over many nodes. The CLI costs a process start per call (80 ms idle, 0.3-1 s on
# a loaded 2-core machine), too coarse to time a mesh, so these use one python poller that asks
# every node's control socket ({"cmd":"peers"}, the same request `starling peers` sends) about
# every 20 ms. A watch is armed before the event it times: it answers "ready" after its first
# round, and the test then triggers the event (kill, link down...) and collects the result.
#
# stl_watch MODE SECONDS SPEC... : start the poller in the background and wait until it is
# ready. MODE "have": every node is connected to all of its ids; "lack": to none of them. SPEC is
# NAME=ID,ID,... (the node's data directory from stl_node, or preset in STL_NODE_DATA[NAME]).
# stl_watch_result: wait for it; 0 when the condition held (STL_AT_MS: when it was seen),
# 1 on timeout (STL_NOT_YET: the nodes that did not satisfy it).
STL_POLLER='
import json, socket, sys, time
mode, secs = sys.argv[1], float(sys.argv[2])
specs = []
for a in sys.argv[3:]:
    name, sock, ids = a.split("|")
    specs.append((name, sock, set(x for x in ids.split(",") if x)))
def peers(path):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        s.connect(path)
        s.sendall(b"{\"cmd\":\"peers\"}\n")
        buf = b""
        while not buf.endswith(b"\n"):
            x = s.recv(65536)
            if not x:
                break
            buf += x
        s.close()
        d = json.loads(buf)
        return {p["id"] for p in d.get("peers", [])} if d.get("ok") else None
    except (OSError, ValueError):
        return None
pause = max(0.02, 0.004 * len(specs))
deadline = time.time() + secs
ready = False
while True:
    bad = []
    for name, path, ids in specs:
        got = peers(path)
        if got is None or (mode == "have" and not ids <= got) or (mode == "lack" and ids & got):
            bad.append(name)
    now = time.time()
    if not ready:
        print("ready", flush=True)
        ready = True
    if not bad:
        print("ok %d" % (now * 1000), flush=True)
        sys.exit(0)
    if now >= deadline:
        print("timeout %d %s" % (now * 1000, " ".join(bad)), flush=True)
        sys.exit(1)
    time.sleep(pause)
'
STL_WATCH_N=0
stl_watch() {
  local mode=$1 secs=$2 spec name ids
  shift 2
  local -a args=()
  for spec in "$@"; do
    name=${spec%%=*}
    ids=${spec#*=}
    args+=("$name|${STL_NODE_DATA[$name]:?no data dir for $name}/control.sock|$ids")
  done
  STL_WATCH_N=$((STL_WATCH_N + 1))
  STL_WATCH_OUT=$LAN_DIR/watch$STL_WATCH_N.out
  "$STL_PY" -c "$STL_POLLER" "$mode" "$secs" "${args[@]}" >"$STL_WATCH_OUT" 2>&1 &
  STL_WATCH_PID=$!
  local deadline=$((SECONDS + 30))
  until grep -q '^ready' "$STL_WATCH_OUT" 2>/dev/null; do
    if ! kill -0 "$STL_WATCH_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      # It may have printed "ready" and finished (its condition already held) between the
      # grep above and kill -0: look once more before calling it a failure.
      grep -q '^ready' "$STL_WATCH_OUT" 2>/dev/null && break
      lan_fail "the control-socket poller did not start: $(cat "$STL_WATCH_OUT")"
    fi
    sleep 0.02
  done
}
# shellcheck disable=SC2034  # STL_AT_MS and STL_NOT_YET are read by the tests
stl_watch_result() {
  wait "$STL_WATCH_PID"
  local last
  last=$(tail -n 1 "$STL_WATCH_OUT")
  STL_AT_MS=$(awk '{print $2}' <<<"$last")
  STL_NOT_YET=""
  [[ $last == ok* ]] && return 0
  STL_NOT_YET=$(cut -d' ' -f3- <<<"$last")
  return 1
}

# stl__ids_except NAME NAME... : the ids of the NAMEs other than the first, comma-separated.
stl__ids_except() {
  local me=$1 n out=""
  shift
  for n in "$@"; do
    [[ $n == "$me" ]] && continue
    stl__id "$n"
    out+="$REPLY,"
  done
  printf '%s\n' "${out%,}"
}

# stl_watch_full_mesh SECONDS NAME... : arm a watch for "each NAME connected to all the others".
stl_watch_full_mesh() {
  local secs=$1 n
  shift
  local -a specs=()
  local all
  all=,$(stl__ids_except "" "$@"),
  for n in "$@"; do
    stl__id "$n"
    local mine=${all/,$REPLY,/,}
    mine=${mine#,}
    specs+=("$n=${mine%,}")
  done
  stl_watch have "$secs" "${specs[@]}"
}
# stl_wait_full_mesh SECONDS NAME... : wait until each NAME is connected to every other NAME
# (STL_AT_MS: when it was seen; STL_NOT_YET on timeout).
stl_wait_full_mesh() { stl_watch_full_mesh "$@" && stl_watch_result; }

# stl_watch_all SECONDS have|lack "PEER_ID..." NAME... : arm a watch for "every NAME is
# connected to all of (have) / none of (lack) the space-separated PEER_IDs".
stl_watch_all() {
  local secs=$1 mode=$2 ids=${3// /,} n
  shift 3
  local -a specs=()
  for n in "$@"; do specs+=("$n=$ids"); done
  stl_watch "$mode" "$secs" "${specs[@]}"
}
# stl_wait_all_have SECONDS PEER_ID NAME... / stl_wait_all_lack SECONDS "PEER_ID..." NAME...
stl_wait_all_have() { local s=$1 i=$2; shift 2; stl_watch_all "$s" have "$i" "$@" && stl_watch_result; }
stl_wait_all_lack() { local s=$1 i=$2; shift 2; stl_watch_all "$s" lack "$i" "$@" && stl_watch_result; }

# stl_first_log_ms NAME REGEX: time (ms since the epoch) of NAME's first log line matching the
# extended REGEX; exit 1 when there is none.
stl_first_log_ms() {
  local line
  line=$(grep -Em1 -- "$2" "$(lan_err "$1")" 2>/dev/null) || return 1
  stl_log_ms "$line"
}

# stl_mesh_log_ms NAME... : from the logs, when the last "connected to|from" line that completed
# the mesh was printed: the maximum over pairs (A, B) of the first time A logged a connection
# with B. Prints ms since the epoch (a lower bound of the full-mesh time: it ignores later
# disconnects, which the polled figure does not). Exit 1 when a pair never logged one.
stl_mesh_log_ms() {
  local a b ids max="" t
  for a in "$@"; do
    ids=""
    for b in "$@"; do [[ $a == "$b" ]] || ids+="$(stl_id "$b") "; done
    # One pass per log: the first "connected" time of each wanted id; print the latest of them.
    t=$(awk -v want="$ids" '
      BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) wanted[w[i]] = 1 }
      $3 == "connected" && ($4 == "to" || $4 == "from") && ($5 in wanted) && !($5 in seen) {
        seen[$5] = $1; got++
      }
      END {
        if (got < n) exit 1
        best = ""
        for (id in seen) if (seen[id] > best) best = seen[id]
        print best
      }' "$(lan_err "$a")") || return 1
    [[ -z $max || $t > $max ]] && max=$t
  done
  stl_log_ms "$max"
}

# stl_rss_kb NAME: VmRSS of node NAME in KiB (from /proc/PID/status).
stl_rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$(lan_pid "$1")/status"; }

# stl_median N...: the median of integers (lower middle for an even count).
stl_median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }

# stl_last_log_ms NAME REGEX: time (ms since the epoch) of NAME's last log line matching REGEX.
stl_last_log_ms() {
  local line
  line=$(grep -E -- "$2" "$(lan_err "$1")" 2>/dev/null | tail -n 1)
  [[ -n $line ]] || return 1
  stl_log_ms "$line"
}

# stl_logged_all_ms REGEX NAME... : the latest, over NAMEs, of each one's last log line matching
# REGEX (e.g. when the last of them logged "disconnected <id>"); exit 1 if one has none.
stl_logged_all_ms() {
  local re=$1 n t max=0
  shift
  for n in "$@"; do
    t=$(stl_last_log_ms "$n" "$re") || return 1
    ((t > max)) && max=$t
  done
  printf '%s\n' "$max"
}
