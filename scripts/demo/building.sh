#!/usr/bin/env bash
# The demo building (scripts/demo.sh runs it): five `starling node`s on two floors.
#
#   floor 1 LAN:  kitchen (temperature sensor)   hall (the monitor; sends the commands)
#   floor 2 LAN:  bedroom (temperature sensor, the blinds)   office (humidity sensor)
#   gateway:      on both LANs, the only node that reaches both floors
#
# So hall and bedroom are two hops apart (hall - gateway - bedroom). As root each device is a
# network namespace, a floor is a bridge, the nodes are given nothing but their interface and
# find each other by mDNS (the gateway on both of its interfaces). Otherwise (or --loopback)
# they all listen on 127.0.0.1 with mDNS off and `--max-connections 0` (dial nobody but the
# --bootstrap peers): kitchen and hall bootstrap to the gateway, hall also to kitchen, bedroom
# to the gateway and office, office to the gateway; the same shape.
#
# What runs: scripts/demo/sensor.sh loops of `starling put` (one value a second), `starling
# reply 'building/floor2/blinds' -- scripts/demo/blinds.sh` on bedroom, one `starling alive
# building/<device>` token per device, and on hall `starling sub 'building/**'` and `starling
# alive --watch 'building/**'`, whose output is summarised. Then: a command two hops away
# (`starling get 'building/floor2/blinds?position=closed'` on hall), bedroom's node killed
# with SIGKILL (the monitor keeps receiving the other sensors, bedroom's token goes), restarted
# with the same data directory (its token comes back, its sensor resumes, the command works).
#
# Exit 0 when every step shown worked, 1 (with the logs kept) when one did not. Every process
# and namespace is removed on exit, also on Ctrl-C. Traffic stays on 127.0.0.1 or inside the
# namespaces made here (named stl-<6 chars>-*, registered in /run/stl-netns like the netns
# tests', so `tests/netns/lan.sh cleanup-stale` removes what a killed run left).
# Usage: STARLING_BIN=path scripts/demo/building.sh [--loopback]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$(realpath "${STARLING_BIN:?set STARLING_BIN to the starling binary}")
[[ -x $bin ]] || { echo "building.sh: $bin is not executable" >&2; exit 1; }
netns=1
[[ ${1:-} == --loopback ]] && netns=0
if ((netns)) && { [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null; }; then netns=0; fi

bold=$'\e[1m' dim=$'\e[2m' green=$'\e[32m' red=$'\e[31m' reset=$'\e[0m'
[[ -t 1 ]] || { bold=; dim=; green=; red=; reset=; }

work=$(mktemp -d /tmp/starling-demo.XXXXXX)
declare -A pid=() ip=() ip2=() addr=() name_of=()
prefix="" state_file="" keep=0 t0=0

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
since() { echo $(($(now_ms) - $1)); }  # ms since a now_ms value

# ---------------------------------------------------------------------------------------------
# Processes and clean-up

cleanup() {
  local code=$? p ns
  trap - EXIT INT TERM
  set +e
  for p in "${pid[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local alive=0
    for p in "${pid[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${pid[@]}"; do kill -KILL "$p" 2>/dev/null; done
  # Every namespace of this run (also one made just before an interrupt): what still runs
  # inside goes first.
  if [[ -n $prefix ]]; then
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
      [[ $ns == "$prefix"-* ]] || continue
      # shellcheck disable=SC2046  # one pid per word
      kill -KILL $(ip netns pids "$ns" 2>/dev/null) 2>/dev/null
      ip netns del "$ns" 2>/dev/null
    done
  fi
  [[ -n $state_file ]] && rm -f "$state_file"
  wait 2>/dev/null
  if ((keep || (code != 0 && code != 130))); then  # kept on failure, not after Ctrl-C
    echo "${dim}logs kept in $work${reset}" >&2
  else
    rm -rf "$work"
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "${red}${bold}FAILED${reset}: $*" >&2
  keep=1
  exit 1
}

# in_host HOST CMD...: run CMD in HOST's namespace (or just run it, on loopback).
in_host() {
  local host=$1
  shift
  if ((netns)); then ip netns exec "$prefix-$host" "$@"; else "$@"; fi
}

# spawn NAME HOST CMD...: CMD in the background in HOST, output in $work/NAME.out and .err.
spawn() {
  local name=$1 host=$2
  shift 2
  # No function in between: $! is the command's own pid (`ip netns exec` execs it).
  if ((netns)); then
    ip netns exec "$prefix-$host" "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null &
  else
    "$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null &
  fi
  pid[$name]=$!
  disown "$!"  # no "Killed" job report; cleanup() polls and kills by pid
}

# wait_for FILE REGEX SECONDS [FROM_LINE]: until FILE has a line matching REGEX (from line
# FROM_LINE on).
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -Eq -- "$2" <(tail -n "+${4:-1}" "$1" 2>/dev/null); do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# wait_lines FILE N SECONDS: until FILE has at least N lines.
wait_lines() {
  local deadline=$((SECONDS + $3))
  until [[ -f $1 && $(wc -l <"$1") -ge $2 ]]; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# ---------------------------------------------------------------------------------------------
# The floors (as root): bridges in "switch" namespaces, devices as namespaces with veths
# created inside the switch namespace and moved straight into the device, so nothing but the
# namespace handles appears in the root namespace. No default routes, no forwarding.

make_ns() {
  ip netns add "$1"
  ip -n "$1" link set lo up
}

make_floor() {  # FLOOR
  make_ns "$prefix-sw-$1"
  ip -n "$prefix-sw-$1" link add br0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0
  ip -n "$prefix-sw-$1" link set br0 up
}

attach() {  # HOST FLOOR IFACE ADDRESS
  local host=$1 ifname=$3 address=$4 hns="$prefix-$1" sw="$prefix-sw-$2"
  ip -n "$sw" link add "p-$host" type veth peer name "$ifname" netns "$hns"
  ip -n "$sw" link set "p-$host" master br0
  ip -n "$sw" link set "p-$host" up
  ip -n "$hns" addr add "$address/24" dev "$ifname"
  ip -n "$hns" link set "$ifname" up
  ip -n "$hns" route add 224.0.0.0/4 dev "$ifname" metric $((${ifname#eth} * 100))
}

make_device() {  # HOST
  make_ns "$prefix-$1"
  ip netns exec "$prefix-$1" sysctl -qw net.ipv4.ip_forward=0
}

build_floors() {
  local root=${LAN_STATE_ROOT:-/run/stl-netns} chars
  mkdir -p "$root"
  while :; do
    chars=$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 6 || true)
    prefix="stl-$chars"
    # The owner (pid, start time) lets `tests/netns/lan.sh cleanup-stale` spare a live run.
    if (set -C; echo "$$ $(awk '{print $22}' /proc/$$/stat)" >"$root/$prefix") 2>/dev/null; then
      state_file="$root/$prefix"
      break
    fi
  done
  make_floor f1
  make_floor f2
  local h
  for h in kitchen hall gateway bedroom office; do make_device "$h"; done
  ip[kitchen]=10.200.1.1 ip[hall]=10.200.1.2 ip[gateway]=10.200.1.254
  ip[bedroom]=10.200.2.1 ip[office]=10.200.2.2 ip2[gateway]=10.200.2.254
  attach kitchen f1 eth0 "${ip[kitchen]}"
  attach hall f1 eth0 "${ip[hall]}"
  attach gateway f1 eth0 "${ip[gateway]}"
  attach gateway f2 eth1 "${ip2[gateway]}"
  attach bedroom f2 eth0 "${ip[bedroom]}"
  attach office f2 eth0 "${ip[office]}"
}

# ---------------------------------------------------------------------------------------------
# Nodes and the devices' programs

# start_node DEV: `starling node` of DEV; waits until it printed its id and addresses.
start_node() {
  local dev=$1
  local -a args=(node --data-dir "$work/$dev")
  if ((netns)); then
    # Fixed port: a restarted node is found again at the address its peers remember.
    args+=(--listen "/ip4/${ip[$dev]}/tcp/4001" --interface eth0)
    [[ -n ${ip2[$dev]:-} ]] && args+=(--listen "/ip4/${ip2[$dev]}/tcp/4001" --interface eth1)
  else
    args+=(--listen /ip4/127.0.0.1/tcp/0 --no-mdns --max-connections 0)
    local b
    for b in "${@:2}"; do args+=(--bootstrap "${addr[$b]}"); done
  fi
  rm -f "$work/node-$dev.out"
  spawn "node-$dev" "$dev" "$bin" "${args[@]}"
  local lines=2
  [[ -n ${ip2[$dev]:-} ]] && lines=3
  wait_lines "$work/node-$dev.out" "$lines" 15 || fail "the $dev node did not start (see $work/node-$dev.err)"
  addr[$dev]=$(sed -n 2p "$work/node-$dev.out")
  name_of[$(sed -n 1p "$work/node-$dev.out")]=$dev
}

# start_programs DEV: its liveliness token, and the blinds on bedroom.
start_programs() {
  local dev=$1 token=building/$1
  case $dev in
    kitchen | hall) token=building/floor1/$dev ;;
    bedroom | office) token=building/floor2/$dev ;;
  esac
  if [[ $dev == bedroom ]]; then
    spawn reply-blinds bedroom env BLINDS_STATE="$work/blinds.state" \
      "$bin" reply --data-dir "$work/bedroom" 'building/floor2/blinds' -- "$HERE/blinds.sh"
  fi
  spawn "alive-$dev" "$dev" "$bin" alive --data-dir "$work/$dev" "$token"
}

# peers_of DEV: the device names DEV's node is connected to, sorted, space-separated.
peers_of() {
  local id out=""
  for id in $(in_host "$1" "$bin" peers --data-dir "$work/$1" 2>/dev/null |
    grep -o '12D3KooW[1-9A-HJ-NP-Za-km-z]*' | sort -u); do
    out+="${name_of[$id]:-?} "
  done
  tr ' ' '\n' <<<"$out" | grep . | sort | tr '\n' ' ' | sed 's/ $//'
}

# wait_shape SECONDS: until each node is connected to its floor and the gateway, and no more.
wait_shape() {
  local deadline=$((SECONDS + $1))
  until [[ $(peers_of hall) == "gateway kitchen" && $(peers_of kitchen) == "gateway hall" &&
    $(peers_of bedroom) == "gateway office" && $(peers_of office) == "bedroom gateway" &&
    $(peers_of gateway) == "bedroom hall kitchen office" ]]; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# count KEY [FROM_LINE]: samples of KEY the monitor printed (from line FROM_LINE on).
count() { tail -n "+${2:-1}" "$work/monitor-sub.out" | grep -c "^$1 " || true; }
lines() { wc -l <"$work/$1.out"; }

# command SELECTOR: `starling get` on hall, retried (10 s) while hall knows no queryable for it
# yet (a declaration still on its way); prints the reply indented with its time, fails the demo when
# there is none.
command() {
  local t out deadline=$((SECONDS + 10))
  echo "${bold}hall\$ starling get '$1'${reset}"
  while :; do
    t=$(now_ms)
    if out=$(in_host hall "$bin" get --data-dir "$work/hall" "$1" --timeout 5 2>&1); then
      printf '  %s  %s\n' "$out" "${dim}($(since "$t") ms, hall -> gateway -> bedroom and back)${reset}"
      return 0
    fi
    if [[ $out != *"no queryable matches"* ]] || ((SECONDS >= deadline)); then
      fail "no reply to $1: $out"
    fi
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------------

t0=$(now_ms)
if ((netns)); then
  build_floors
  echo "${bold}Starling demo: a small building, 5 nodes in network namespaces, one LAN per floor${reset}"
  for d in gateway kitchen hall bedroom office; do start_node "$d"; done
  how="found each other by mDNS (no addresses given)"
else
  echo "${bold}Starling demo: a small building, 5 nodes on 127.0.0.1${reset}"
  start_node gateway
  start_node kitchen gateway
  start_node hall gateway kitchen
  start_node office gateway
  start_node bedroom gateway office
  how="connected by --bootstrap (mDNS off, --max-connections 0)"
fi
echo "  floor 1: kitchen (temperature), hall (monitor, commands)"
echo "  floor 2: bedroom (temperature, blinds), office (humidity); the gateway is on both floors"
wait_shape 30 || fail "the nodes did not connect as expected: hall: $(peers_of hall); bedroom: $(peers_of bedroom); gateway: $(peers_of gateway)"
echo "  $how in $(since "$t0") ms"
echo "  hall <-> kitchen, gateway   bedroom <-> office, gateway   (hall to bedroom: two hops)"

# The monitor first, then the devices' programs.
spawn monitor-sub hall "$bin" sub --data-dir "$work/hall" 'building/**'
spawn monitor-alive hall "$bin" alive --watch --data-dir "$work/hall" 'building/**'
sleep 0.3
for d in gateway kitchen hall bedroom office; do start_programs "$d"; done
spawn sensor-kitchen kitchen "$HERE/sensor.sh" "$bin" "$work/kitchen" building/floor1/kitchen/temp 21.5
spawn sensor-bedroom bedroom "$HERE/sensor.sh" "$bin" "$work/bedroom" building/floor2/bedroom/temp 19.0
spawn sensor-office office "$HERE/sensor.sh" "$bin" "$work/office" building/floor2/office/humidity 45.0
for k in floor1/kitchen/temp floor2/bedroom/temp floor2/office/humidity; do
  wait_for "$work/monitor-sub.out" "^building/$k " 20 || fail "the monitor got no building/$k"
done
wait_lines "$work/monitor-alive.out" 5 10 || fail "the monitor saw $(lines monitor-alive) of 5 tokens"
sleep 2.5

echo
echo "${bold}hall\$ starling alive --watch 'building/**'; starling sub 'building/**'${reset}"
paste -sd' ' "$work/monitor-alive.out" | fold -s -w 92 | sed 's/^/  /; s/ *$//'
for k in floor1/kitchen/temp floor2/bedroom/temp floor2/office/humidity; do
  printf '  building/%-24s %s  %s\n' "$k" "$(grep "^building/$k " "$work/monitor-sub.out" |
    tail -n 3 | cut -d' ' -f2 | paste -sd' ')" "${dim}(one a second)${reset}"
done

echo
command 'building/floor2/blinds?position=closed'

# Kill bedroom's node: no goodbye. Its token and queryable go with it; the sensor loop keeps
# trying (its puts fail), the reply and token processes lose their node and exit.
echo
echo "${bold}kill -9 the bedroom node (the bedroom sensor and the blinds)${reset}"
sub_at=$(($(lines monitor-sub) + 1))
alive_at=$(($(lines monitor-alive) + 1))
t_kill=$(now_ms)
kill -KILL "${pid[node-bedroom]}"
wait_for "$work/monitor-alive.out" '^- building/floor2/bedroom$' 10 "$alive_at" ||
  fail "the monitor did not see bedroom's token go"
echo "  monitor: - building/floor2/bedroom  ${dim}($(since "$t_kill") ms after the kill)${reset}"
out=$(in_host hall "$bin" get --data-dir "$work/hall" 'building/floor2/blinds?position=open' --timeout 2 2>&1) &&
  fail "a command to the dead blinds was answered: $out"
out=${out#starling: }
echo "  hall\$ starling get 'building/floor2/blinds?position=open'  ->  ${out% building/*}"
sleep 3
k_out=$(count building/floor1/kitchen/temp "$sub_at")
o_out=$(count building/floor2/office/humidity "$sub_at")
((k_out > 0 && o_out > 0)) || fail "the monitor stopped receiving while bedroom was down ($k_out kitchen, $o_out office values)"
echo "  monitor, meanwhile: kitchen/temp ${k_out}x, office/humidity ${o_out}x (the others carry on)"

echo
echo "${bold}restart it (same data directory, same identity)${reset}"
alive_at=$(($(lines monitor-alive) + 1))
t_start=$(now_ms)
if ((netns)); then start_node bedroom; else start_node bedroom gateway office; fi
start_programs bedroom
wait_for "$work/monitor-alive.out" '^\+ building/floor2/bedroom$' 20 "$alive_at" ||
  fail "bedroom's token did not come back"
printf '  monitor: + building/floor2/bedroom  %s\n' "${dim}($(since "$t_start") ms after the restart)${reset}"
back_at=$(($(lines monitor-sub) + 1))
wait_for "$work/monitor-sub.out" '^building/floor2/bedroom/temp ' 15 "$back_at" ||
  fail "no value from bedroom's sensor after the restart"
echo "  monitor: building/floor2/bedroom/temp $(grep '^building/floor2/bedroom/temp ' "$work/monitor-sub.out" | tail -n1 | cut -d' ' -f2) again"
command 'building/floor2/blinds?position=open'

echo
echo "${green}${bold}OK${reset} ($(($(since "$t0") / 1000)) s): 5 nodes on two floors ${how%% (*}; hall, on floor 1,"
echo "closed and opened the blinds two hops away; its monitor saw every sensor and token, kept"
echo "receiving while bedroom's node was dead, saw its token go and come back, its sensor resume."
