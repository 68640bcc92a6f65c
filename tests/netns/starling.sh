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

# stl_require_bin: set STARLING_BIN (default <repo>/build/dev/bin/starling) or fail clearly.
stl_require_bin() {
  STARLING_BIN=${STARLING_BIN:-$STL_REPO/build/dev/bin/starling}
  if [[ ! -x $STARLING_BIN ]]; then
    lan_fail "no starling binary at $STARLING_BIN (build it: cmake --preset dev && cmake --build --preset dev --target starling, or set STARLING_BIN)"
  fi
}

# stl_node NAME HOST [LAN...] [-- BOOTSTRAP_MULTIADDR...]: start `starling node` as process NAME
# in HOST, listening on HOST's address on each LAN named (default: its first address), with
# data directory $LAN_DIR/NAME.data. Waits until it has printed its id and listen addresses.
stl_node() {
  local name=$1 host=$2
  shift 2
  local -a lans=() args=()
  while (($#)) && [[ $1 != -- ]]; do lans+=("$1"); shift; done
  [[ ${1:-} == -- ]] && shift
  local lan b
  if ((${#lans[@]} == 0)); then
    args+=(--listen "/ip4/$(lan_ip "$host")/tcp/0")
  else
    for lan in "${lans[@]}"; do args+=(--listen "/ip4/$(lan_ip "$host" "$lan")/tcp/0"); done
  fi
  for b in "$@"; do args+=(--bootstrap "$b"); done
  lan_spawn "$name" "$host" "$STARLING_BIN" node --data-dir "$LAN_DIR/$name.data" "${args[@]}"
  STL_NODE_NLISTEN[$name]=$((${#lans[@]} > 0 ? ${#lans[@]} : 1))
}
declare -gA STL_NODE_NLISTEN=()

# stl_wait_started NAME... : wait until each node printed its id and all its listen addresses.
stl_wait_started() {
  local name
  for name in "$@"; do
    lan_wait_lines "$name" $((1 + STL_NODE_NLISTEN[$name])) 15 ||
      lan_fail "node $name did not print its id and addresses (see $(lan_err "$name"))"
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
