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
stl_id() { sed -n 1p "$(lan_out "$1")"; }

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
# (exit 1 unless it says "ok": true). grep, not python: the mesh polls run it for every node
# several times a second and must not steal the CPU the nodes are being timed on.
stl_json_ids() {
  local json
  json=$(cat)
  grep -qE '"ok"[[:space:]]*:[[:space:]]*true' <<<"$json" || return 1
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

# stl__poll_all SECONDS PREDICATE NAME... : poll PREDICATE NAME for every NAME (in parallel)
# until it holds for all, or SECONDS pass. Sets STL_AT_MS to the time it held. Returns 1 on
# timeout, with STL_NOT_YET listing the names that still failed.
stl__poll_all() {
  local secs=$1 pred=$2
  shift 2
  local deadline=$(($(stl_now_ms) + secs * 1000)) name i
  local -a pids names
  while :; do
    pids=() names=()
    for name in "$@"; do
      "$pred" "$name" >/dev/null 2>&1 &
      pids+=($!)
      names+=("$name")
    done
    STL_NOT_YET=""
    for i in "${!pids[@]}"; do
      wait "${pids[i]}" || STL_NOT_YET+="${names[i]} "
    done
    STL_AT_MS=$(stl_now_ms)
    [[ -z $STL_NOT_YET ]] && return 0
    ((STL_AT_MS >= deadline)) && return 1
    sleep 0.05
  done
}

# stl_wait_full_mesh SECONDS NAME... : wait until each NAME is connected to every other NAME.
# STL_AT_MS: when that was seen (the poll, all nodes queried at once, takes some tens of ms).
stl_wait_full_mesh() {
  local secs=$1 name
  shift
  declare -gA STL__MESH_WANT=()
  for name in "$@"; do
    STL__MESH_WANT[$name]=""
    local other
    for other in "$@"; do
      [[ $other == "$name" ]] || STL__MESH_WANT[$name]+="$(stl_id "$other") "
    done
  done
  stl__poll_all "$secs" stl__mesh_ok "$@"
}
stl__mesh_ok() {
  # shellcheck disable=SC2086
  stl_has_peers "$1" ${STL__MESH_WANT[$1]}
}

# stl_wait_all_have SECONDS PEER_ID NAME... : wait until every NAME is connected to PEER_ID.
stl_wait_all_have() {
  local secs=$1
  STL__ID=$2
  shift 2
  stl__poll_all "$secs" stl__has_one "$@"
}
stl__has_one() { stl_has_peers "$1" "$STL__ID"; }

# stl_wait_all_lack SECONDS "PEER_ID..." NAME... : wait until no NAME is connected to any of the
# (space-separated) PEER_IDs.
stl_wait_all_lack() {
  local secs=$1
  STL__IDS=$2
  shift 2
  stl__poll_all "$secs" stl__lacks "$@"
}
stl__lacks() {
  # shellcheck disable=SC2086
  stl_lacks_peers "$1" $STL__IDS
}

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
