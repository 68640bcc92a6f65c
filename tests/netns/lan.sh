# shellcheck shell=bash
# lan.sh: a virtual LAN of "devices" built from network namespaces, for Starling's netns tests.
#
# Source it from a bash test script (see README.md in this folder):
#
#   . "$(dirname "$0")/lan.sh"
#   lan_init 60                  # root check (exit 77 = skip), unique names, cleanup trap, 60 s limit
#   lan_switch a                 # LAN "a": a bridge inside its own "switch" namespace, 10.200.1.0/24
#   lan_host h1 a                # host h1 on LAN a: eth0 = 10.200.1.1/24
#   lan_host h2 a
#   lan_exec h1 ping -c1 "$(lan_ip h2)"
#   lan_spawn n1 h1 my-daemon --flag     # background process, logs in $LAN_DIR/n1.{out,err}
#   lan_loss h2 10               # drop 10% of what h2 receives (nftables, input hook)
#   lan_link_down h2             # partition h2 (its switch port goes down); lan_link_up heals
#
# Nothing is created in the root namespace except the namespace handles themselves: every veth
# pair is created from inside the switch namespace with its far end moved straight into the host.
# All names carry a prefix unique to the run ("stl-<6 chars>-"), and an EXIT trap always removes
# what the run created. `lan.sh cleanup-stale` removes leftovers of crashed runs (only names that
# match our pattern, and only runs whose owning process is gone).
#
# Network safety (shared/TESTING.md): all traffic stays inside these namespaces. Hosts have
# addresses only on their LAN interfaces, a multicast route on them, and no default route.

LAN_NAME_RE='^stl-[a-z0-9]{6}-'
LAN_STATE_ROOT=${LAN_STATE_ROOT:-/run/stl-netns}

# ---------------------------------------------------------------------------------------------
# Messages and results

lan_log()  { printf '[lan %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
lan_die()  { printf 'lan.sh: %s\n' "$*" >&2; exit 1; }

# lan_skip MESSAGE: print a SKIP line and exit 77 (CTest SKIP_RETURN_CODE).
lan_skip() {
  printf 'SKIP: %s: %s\n' "${LAN_TEST_NAME:-netns test}" "$*"
  LAN_RESULT_PRINTED=1
  exit 77
}

# lan_pass / lan_fail MESSAGE: print the final PASS/FAIL line and exit 0 / 1.
lan_pass() {
  printf 'PASS: %s%s\n' "${LAN_TEST_NAME:-netns test}" "${1:+: $1}"
  LAN_RESULT_PRINTED=1
  exit 0
}
lan_fail() {
  printf 'FAIL: %s: %s\n' "${LAN_TEST_NAME:-netns test}" "$*"
  LAN_RESULT_PRINTED=1
  exit 1
}

# lan_check DESCRIPTION COMMAND...: run COMMAND; print "ok - DESCRIPTION" or fail the test.
lan_check() {
  local what=$1
  shift
  if "$@"; then
    printf 'ok   - %s\n' "$what"
  else
    printf 'FAILED - %s\n' "$what"
    lan_fail "$what"
  fi
}

# lan_not COMMAND...: succeed when COMMAND fails (for lan_check with functions).
lan_not() { ! "$@"; }

# ---------------------------------------------------------------------------------------------
# Set-up and tear-down

# lan_init [SECONDS]: checks that namespaces can be made (else exits 77), chooses this run's
# prefix, makes the log directory $LAN_DIR and installs the cleanup trap. With SECONDS, the whole
# script re-executes itself under `timeout` so that a hang ends in a FAIL line and a cleanup.
lan_init() {
  local limit=${1:-}
  LAN_TEST_NAME=${LAN_TEST_NAME:-$(basename "$0" .sh)}
  if [[ -n $limit && -z ${LAN_UNDER_TIMEOUT:-} ]]; then
    export LAN_UNDER_TIMEOUT=$limit
    # timeout sends TERM to the script on expiry; the trap below then cleans up.
    # (Test scripts take no arguments; settings come from the environment.)
    exec timeout -k 10 "$limit" "$BASH" "$0"
  fi
  if [[ $(id -u) -ne 0 ]]; then
    lan_skip "needs root to create network namespaces (run as root, as CI does)"
  fi
  local tool
  for tool in ip nft tc timeout; do
    command -v "$tool" >/dev/null || lan_skip "'$tool' is not installed"
  done

  mkdir -p "$LAN_STATE_ROOT" 2>/dev/null || LAN_STATE_ROOT=${TMPDIR:-/tmp}/stl-netns-state
  mkdir -p "$LAN_STATE_ROOT"
  # The state file records the owner (pid, start time): cleanup-stale spares live runs.
  local chars
  while :; do
    chars=$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 6)
    LAN_PREFIX="stl-$chars"
    # set -C: the state file is created only if no other run has this prefix.
    if (set -C; printf '%s %s\n' "$$" "$(lan__starttime $$)" >"$LAN_STATE_ROOT/$LAN_PREFIX") 2>/dev/null; then
      break
    fi
  done
  LAN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/$LAN_PREFIX.XXXX")
  declare -gA LAN_HOST_NS=() LAN_SWITCH_NS=() LAN_SWITCH_IDX=() LAN_NEXT_HOSTNUM=()
  declare -gA LAN_IP=() LAN_IFACE=() LAN_PORT=() LAN_IFCOUNT=() LAN_PID=()
  declare -ga LAN_NAMESPACES=()
  LAN_NEXT_SWITCH_IDX=1
  LAN_RESULT_PRINTED=
  trap lan__on_exit EXIT
  trap 'printf "interrupted\n" >&2; exit 130' INT
  trap 'LAN_TERMINATED=1; exit 143' TERM

  # Probe: can we create a namespace at all? (containers without CAP_SYS_ADMIN cannot)
  local probe="$LAN_PREFIX-probe" err
  if ! err=$(ip netns add "$probe" 2>&1); then
    lan_skip "cannot create a network namespace ('ip netns add' failed: $err)"
  fi
  ip netns del "$probe" 2>/dev/null
  lan_log "run prefix $LAN_PREFIX, logs in $LAN_DIR"
}

lan__starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }

# lan__add_ns NAME: create a namespace with lo up; remembered for cleanup.
lan__add_ns() {
  ip netns add "$1" || lan_die "ip netns add $1 failed"
  LAN_NAMESPACES+=("$1")
  ip -n "$1" link set lo up
}

# lan__kill_ns_pids NS: kill every process still inside namespace NS (all were started by us).
lan__kill_ns_pids() {
  local pids
  pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
  [[ -z ${pids// /} ]] && return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null
  sleep 0.2
  pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
  # shellcheck disable=SC2086
  [[ -n ${pids// /} ]] && kill -KILL $pids 2>/dev/null
  return 0
}

# lan_cleanup: stop every process, delete every namespace of this run. Idempotent.
lan_cleanup() {
  [[ -n ${LAN_PREFIX:-} ]] || return 0
  lan_kill_all
  local ns i
  # Hosts first, then switches (deleting a namespace destroys its veth ends).
  for ((i = ${#LAN_NAMESPACES[@]} - 1; i >= 0; i--)); do
    ns=${LAN_NAMESPACES[i]}
    lan__kill_ns_pids "$ns"
    ip netns del "$ns" 2>/dev/null
  done
  # Belt and braces: anything else with this run's prefix.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    if [[ $ns == "$LAN_PREFIX"-* ]]; then
      lan__kill_ns_pids "$ns"
      ip netns del "$ns" 2>/dev/null
    fi
  done
  LAN_NAMESPACES=()
  rm -f "$LAN_STATE_ROOT/$LAN_PREFIX"
}

lan__on_exit() {
  local code=$?
  trap - EXIT INT TERM
  if [[ -z ${LAN_RESULT_PRINTED:-} && $code -ne 0 && $code -ne 77 ]]; then
    if [[ -n ${LAN_TERMINATED:-} ]]; then
      printf 'FAIL: %s: terminated (time limit %s s reached, or killed)\n' \
        "${LAN_TEST_NAME:-netns test}" "${LAN_UNDER_TIMEOUT:-?}"
    else
      printf 'FAIL: %s: aborted with exit code %s\n' "${LAN_TEST_NAME:-netns test}" "$code"
    fi
  fi
  if [[ $code -ne 0 && $code -ne 77 ]]; then
    lan_dump_logs
  fi
  lan_cleanup
  if [[ -n ${LAN_DIR:-} && -d $LAN_DIR ]]; then
    if [[ $code -eq 0 || $code -eq 77 ]] && [[ -z ${LAN_KEEP_LOGS:-} ]]; then
      rm -rf "$LAN_DIR"
    else
      printf 'logs kept in %s\n' "$LAN_DIR" >&2
    fi
  fi
  exit "$code"
}

# lan_cleanup_stale: delete namespaces matching our pattern (stl-xxxxxx-*) whose run is gone
# (no state file, or its owner process has exited). Never touches other names.
lan_cleanup_stale() {
  local ns prefix owner start removed=0
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ $ns =~ $LAN_NAME_RE ]] || continue
    prefix=${ns:0:10}
    if [[ -f $LAN_STATE_ROOT/$prefix ]]; then
      read -r owner start <"$LAN_STATE_ROOT/$prefix"
      if [[ -n $owner && -d /proc/$owner && $(lan__starttime "$owner") == "$start" ]]; then
        continue  # that run is still going
      fi
    fi
    lan__kill_ns_pids "$ns"
    ip netns del "$ns" && removed=$((removed + 1)) && echo "removed stale namespace $ns"
  done
  # Forget state files of runs that are gone.
  if [[ -d $LAN_STATE_ROOT ]]; then
    for f in "$LAN_STATE_ROOT"/stl-*; do
      [[ -f $f ]] || continue
      read -r owner start <"$f"
      if [[ -z $owner || ! -d /proc/$owner || $(lan__starttime "$owner") != "$start" ]]; then
        rm -f "$f"
      fi
    done
  fi
  echo "cleanup-stale: removed $removed namespace(s)"
}

# ---------------------------------------------------------------------------------------------
# Topology

# lan_switch LAN: create LAN (a bridge "br0" in namespace <prefix>-sw-LAN). The n-th LAN created
# gets the subnet 10.200.n.0/24.
lan_switch() {
  local lan=$1 ns="$LAN_PREFIX-sw-$1"
  [[ -z ${LAN_SWITCH_NS[$lan]:-} ]] || lan_die "LAN $lan already exists"
  lan__add_ns "$ns"
  ip -n "$ns" link add br0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0 ||
    lan_die "cannot create bridge in $ns"
  ip -n "$ns" link set br0 up
  LAN_SWITCH_NS[$lan]=$ns
  LAN_SWITCH_IDX[$lan]=$LAN_NEXT_SWITCH_IDX
  LAN_NEXT_SWITCH_IDX=$((LAN_NEXT_SWITCH_IDX + 1))
  LAN_NEXT_HOSTNUM[$lan]=1
}

# lan_host HOST LAN [NUM]: create host namespace <prefix>-HOST with eth0 on LAN, address
# 10.200.<lan index>.NUM/24 (NUM defaults to the next free number, from 1).
lan_host() {
  local host=$1 lan=$2 num=${3:-}
  [[ -z ${LAN_HOST_NS[$host]:-} ]] || lan_die "host $host already exists"
  [[ ${#host} -le 10 && $host =~ ^[a-zA-Z0-9_]+$ ]] || lan_die "host name '$host': use up to 10 letters/digits"
  lan__add_ns "$LAN_PREFIX-$host"
  LAN_HOST_NS[$host]="$LAN_PREFIX-$host"
  LAN_IFCOUNT[$host]=0
  # No forwarding: a dual-homed host is a device on two LANs, not a router.
  ip netns exec "$LAN_PREFIX-$host" sysctl -qw net.ipv4.ip_forward=0 >/dev/null
  ip netns exec "$LAN_PREFIX-$host" sysctl -qw net.ipv6.conf.all.forwarding=0 >/dev/null 2>&1
  lan_attach "$host" "$lan" "$num"
}

# lan_attach HOST LAN [NUM]: give an existing host one more interface (eth1, eth2...) on LAN.
# This is how a dual-homed host is made: lan_host gw a 254; lan_attach gw b 254.
lan_attach() {
  local host=$1 lan=$2 num=${3:-}
  local hns=${LAN_HOST_NS[$host]:-} sw=${LAN_SWITCH_NS[$lan]:-}
  [[ -n $hns ]] || lan_die "no host $host"
  [[ -n $sw ]] || lan_die "no LAN $lan"
  [[ -z ${LAN_IFACE[$host/$lan]:-} ]] || lan_die "host $host is already on LAN $lan"
  if [[ -z $num ]]; then
    num=${LAN_NEXT_HOSTNUM[$lan]}
  fi
  ((num >= 1 && num <= 254)) || lan_die "host number $num out of range"
  if ((num >= LAN_NEXT_HOSTNUM[$lan])); then LAN_NEXT_HOSTNUM[$lan]=$((num + 1)); fi
  local k=${LAN_IFCOUNT[$host]} ifname port ip
  ifname="eth$k"
  port="p-$host"
  ip="10.200.${LAN_SWITCH_IDX[$lan]}.$num"
  # Created inside the switch namespace; the host end goes straight into the host namespace.
  ip -n "$sw" link add "$port" type veth peer name "$ifname" netns "$hns" ||
    lan_die "cannot create veth for $host on $lan"
  ip -n "$sw" link set "$port" master br0
  ip -n "$sw" link set "$port" up
  ip -n "$hns" addr add "$ip/24" dev "$ifname"
  ip -n "$hns" link set "$ifname" up
  # Multicast route (mDNS senders that do not pick an interface need it); one per interface,
  # the first interface preferred.
  ip -n "$hns" route add 224.0.0.0/4 dev "$ifname" metric $((k * 100))
  LAN_IFCOUNT[$host]=$((k + 1))
  LAN_IFACE[$host/$lan]=$ifname
  LAN_PORT[$host/$lan]=$port
  LAN_IP[$host/$lan]=$ip
  [[ -n ${LAN_IP[$host]:-} ]] || LAN_IP[$host]=$ip
}

# lan_ns HOST: print the namespace name of HOST (for `ip -n` / `ip netns exec` by hand).
lan_ns() { printf '%s\n' "${LAN_HOST_NS[$1]:?no host $1}"; }

# lan_ip HOST [LAN]: print HOST's address (on LAN; default: its first interface).
lan_ip() {
  if [[ -n ${2:-} ]]; then
    printf '%s\n' "${LAN_IP[$1/$2]:?host $1 is not on LAN $2}"
  else
    printf '%s\n' "${LAN_IP[$1]:?no host $1}"
  fi
}

# lan_iface HOST [LAN]: print HOST's interface name on LAN (default: eth0).
lan_iface() {
  if [[ -n ${2:-} ]]; then printf '%s\n' "${LAN_IFACE[$1/$2]:?host $1 is not on LAN $2}"; else echo eth0; fi
}

# lan__lan_of HOST [LAN]: the LAN to act on (the only one, or the one named).
lan__lan_of() {
  local host=$1 lan=${2:-} key
  if [[ -n $lan ]]; then echo "$lan"; return; fi
  for key in "${!LAN_IFACE[@]}"; do
    if [[ $key == "$host"/* ]]; then
      [[ -z $lan ]] || lan_die "host $host is on several LANs: name the LAN"
      lan=${key#*/}
    fi
  done
  [[ -n $lan ]] || lan_die "no host $host"
  echo "$lan"
}

# ---------------------------------------------------------------------------------------------
# Impairments

# lan_link_down HOST [LAN] / lan_link_up HOST [LAN]: partition HOST from LAN by taking its
# switch port down (the host sees its carrier drop; packets are lost, nothing is refused).
lan_link_down() {
  local lan
  lan=$(lan__lan_of "$1" "${2:-}") || exit 1
  ip -n "${LAN_SWITCH_NS[$lan]}" link set "${LAN_PORT[$1/$lan]}" down
}
lan_link_up() {
  local lan
  lan=$(lan__lan_of "$1" "${2:-}") || exit 1
  ip -n "${LAN_SWITCH_NS[$lan]}" link set "${LAN_PORT[$1/$lan]}" up
}

# lan_partition HOST... : take several hosts' links down at once; lan_heal HOST... brings them up.
lan_partition() { local h; for h in "$@"; do lan_link_down "$h"; done; }
lan_heal() { local h; for h in "$@"; do lan_link_up "$h"; done; }

# lan_loss HOST PERCENT: HOST drops PERCENT% of the packets it receives on its LAN interfaces
# (nftables table "inet stl_loss", input hook; 0 removes it). Dropping on input, not output,
# because a sender whose output is dropped gets EPERM, which no real link does.
lan_loss() {
  local host=$1 pct=$2 ns=${LAN_HOST_NS[$1]:?no host $1}
  [[ $pct =~ ^[0-9]+$ && $pct -le 100 ]] || lan_die "loss percent must be 0..100"
  ip netns exec "$ns" nft delete table inet stl_loss 2>/dev/null
  ((pct == 0)) && return 0
  local match="numgen random mod 100 < $pct"
  ((pct == 100)) && match=""
  ip netns exec "$ns" nft -f - <<EOF || lan_die "nft failed in $ns"
table inet stl_loss {
  chain in {
    type filter hook input priority -10; policy accept;
    iifname != "lo" $match counter drop
  }
}
EOF
}

# lan_rate HOST RATE [LAN]: limit what HOST sends on its interface (tbf), e.g. "1mbit";
# RATE "off" removes the limit.
lan_rate() {
  local host=$1 rate=$2 ns=${LAN_HOST_NS[$1]:?no host $1} lan ifname
  lan=$(lan__lan_of "$host" "${3:-}") || exit 1
  ifname=${LAN_IFACE[$host/$lan]}
  if [[ $rate == off ]]; then
    ip netns exec "$ns" tc qdisc del dev "$ifname" root 2>/dev/null
    return 0
  fi
  ip netns exec "$ns" tc qdisc replace dev "$ifname" root tbf rate "$rate" burst 32kbit latency 400ms ||
    lan_die "tc tbf failed in $ns"
}

# ---------------------------------------------------------------------------------------------
# Running things

# lan_exec HOST COMMAND...: run COMMAND inside HOST and return its status.
lan_exec() {
  local ns=${LAN_HOST_NS[$1]:?no host $1}
  shift
  ip netns exec "$ns" "$@"
}

# lan_spawn NAME HOST COMMAND...: start COMMAND in the background inside HOST, stdout in
# $LAN_DIR/NAME.out and stderr in $LAN_DIR/NAME.err. NAME identifies it for lan_kill.
lan_spawn() {
  local name=$1 host=$2
  local ns=${LAN_HOST_NS[$host]:?no host $host}
  shift 2
  [[ -z ${LAN_PID[$name]:-} ]] || lan_die "process name $name is already in use"
  # `ip netns exec` execs the command (no extra fork), so $! is the command's pid.
  ip netns exec "$ns" "$@" >"$LAN_DIR/$name.out" 2>"$LAN_DIR/$name.err" </dev/null &
  LAN_PID[$name]=$!
  # Out of the job table: no "Killed" job reports; bash still reaps it (lan_kill polls).
  disown "$!"
}

# lan_pid NAME: the pid of a spawned process.
lan_pid() { printf '%s\n' "${LAN_PID[$1]:?no process $1}"; }
# lan_out NAME / lan_err NAME: paths of its stdout / stderr logs.
lan_out() { printf '%s\n' "$LAN_DIR/$1.out"; }
lan_err() { printf '%s\n' "$LAN_DIR/$1.err"; }

# lan_kill NAME [SIGNAL]: signal a spawned process (default TERM) and reap it (KILL after 3 s).
lan_kill() {
  local name=$1 sig=${2:-TERM} pid=${LAN_PID[$1]:-}
  [[ -n $pid ]] || return 0
  kill "-$sig" "$pid" 2>/dev/null
  if ! lan_wait_gone "$pid" 3; then
    kill -KILL "$pid" 2>/dev/null
    lan_wait_gone "$pid" 2
  fi
  unset "LAN_PID[$name]"
  return 0
}

# lan_kill_all: TERM every spawned process, then KILL whatever is left.
lan_kill_all() {
  local name pid i alive
  for name in "${!LAN_PID[@]}"; do kill -TERM "${LAN_PID[$name]}" 2>/dev/null; done
  for ((i = 0; i < 20; i++)); do
    alive=0
    for name in "${!LAN_PID[@]}"; do lan_wait_gone "${LAN_PID[$name]}" 0 || alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for name in "${!LAN_PID[@]}"; do
    pid=${LAN_PID[$name]}
    kill -KILL "$pid" 2>/dev/null
    lan_wait_gone "$pid" 2
  done
  LAN_PID=()
}

# lan_wait_file FILE PATTERN [SECONDS]: wait until FILE has a line matching the extended regex
# PATTERN (default 10 s). Returns 1 on timeout.
lan_wait_file() {
  local file=$1 pattern=$2 secs=${3:-10}
  local deadline=$((SECONDS + secs))
  while :; do
    grep -Eq -- "$pattern" "$file" 2>/dev/null && return 0
    ((SECONDS >= deadline)) && return 1
    sleep 0.05
  done
}

# lan_wait_log NAME PATTERN [SECONDS]: lan_wait_file on NAME's stderr log.
lan_wait_log() { lan_wait_file "$LAN_DIR/$1.err" "$2" "${3:-10}"; }

# lan_wait_lines NAME N [SECONDS]: wait until NAME's stdout has at least N lines.
lan_wait_lines() {
  local file="$LAN_DIR/$1.out" n=$2 secs=${3:-10}
  local deadline=$((SECONDS + secs))
  while :; do
    [[ -f $file && $(wc -l <"$file") -ge $n ]] && return 0
    ((SECONDS >= deadline)) && return 1
    sleep 0.05
  done
}

# lan_tcp_sink PORT HOST...: in each HOST, start a TCP listener on PORT (process name
# "sink-HOST") that reads each connection to EOF and then closes it, for reachability checks;
# returns once all are listening.
lan_tcp_sink() {
  local port=$1 host
  shift
  for host in "$@"; do
    lan_spawn "sink-$host" "$host" python3 -c '
import socket, sys, threading
def serve(c):
    with c:
        while c.recv(65536):
            pass
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[1])))  # inside the namespace: its own interfaces only
s.listen(64)
print("listening", flush=True)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
' "$port"
  done
  for host in "$@"; do
    lan_wait_lines "sink-$host" 1 20 || lan_die "TCP sink on $host did not start"
  done
}

# lan_reach FROM IP [PORT] [SECONDS]: can FROM open a TCP connection to IP:PORT (a lan_tcp_sink)
# within SECONDS (default 1)?
lan_reach() {
  local from=$1 ip=$2 port=${3:-7000} secs=${4:-1}
  lan_exec "$from" timeout "$secs" bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null
}

# lan_reach_within FROM IP [PORT] [SECONDS]: retry lan_reach until it works or SECONDS pass
# (default 5), e.g. after a link comes back up.
lan_reach_within() {
  local from=$1 ip=$2 port=${3:-7000} secs=${4:-5}
  local deadline=$((SECONDS + secs))
  until lan_reach "$from" "$ip" "$port" 1; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.1
  done
}

# lan_wait_gone PID [SECONDS]: wait until process PID has exited (a zombie counts as exited),
# default 3 s. Returns 1 if it is still running.
lan_wait_gone() {
  local pid=$1 secs=${2:-3} state
  local deadline=$((SECONDS + secs))
  while :; do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    [[ -z $state || $state == Z || $state == X ]] && return 0
    ((SECONDS >= deadline)) && return 1
    sleep 0.05
  done
}

# lan_dump_logs: print the tail of every log of this run (called on failure).
lan_dump_logs() {
  [[ -n ${LAN_DIR:-} && -d $LAN_DIR ]] || return 0
  local f
  for f in "$LAN_DIR"/*.out "$LAN_DIR"/*.err; do
    [[ -s $f ]] || continue
    printf -- '----- %s (last 20 lines)\n' "${f#"$LAN_DIR"/}" >&2
    tail -n 20 "$f" >&2
  done
}

# Run as a program: `tests/netns/lan.sh cleanup-stale` or `tests/netns/lan.sh list`.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    cleanup-stale)
      # Without root no run could have made namespaces: nothing to do.
      [[ $(id -u) -eq 0 ]] || { echo "cleanup-stale: not root, nothing to clean"; exit 0; }
      lan_cleanup_stale
      ;;
    list)
      ip netns list | awk '{print $1}' | grep -E "$LAN_NAME_RE" || echo "no namespaces of ours"
      ;;
    *)
      echo "usage: $0 cleanup-stale | list   (otherwise: source it from a test script)" >&2
      exit 2
      ;;
  esac
fi
