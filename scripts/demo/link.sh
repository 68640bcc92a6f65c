#!/usr/bin/env bash
# The link layer, shown on its own (scripts/demo.sh --link runs it before the building): three
# nodes on 127.0.0.1 connect (TCP + Noise + Yamux), identify and ping each other, then measure
# encrypted throughput (/perf/1.0.0, 256 MiB each way). Loopback only; cleaned up on exit.
# Usage: STARLING_BIN=path scripts/demo/link.sh
set -euo pipefail
bin=$(realpath "${STARLING_BIN:?set STARLING_BIN to the starling binary}")
work=$(mktemp -d /tmp/starling-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

bold=$'\e[1m' dim=$'\e[2m' green=$'\e[32m' reset=$'\e[0m'
[[ -t 1 ]] || { bold=; dim=; green=; reset=; }

start_node() {  # name, extra args...
  local name=$1; shift
  "$bin" node --data-dir "$work/$name" --listen /ip4/127.0.0.1/tcp/0 --no-mdns "$@" \
    >"$work/$name.out" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do
    [[ $(wc -l <"$work/$name.out") -ge 2 ]] && break
    sleep 0.05
  done
  id[$name]=$(sed -n 1p "$work/$name.out")
  addr[$name]=$(sed -n 2p "$work/$name.out")
}
declare -A id addr

echo
echo "${bold}The link layer: three nodes on 127.0.0.1${reset}"
start_node A
start_node B --bootstrap "${addr[A]}" --serve-perf
start_node C --bootstrap "${addr[A]}" --bootstrap "${addr[B]}"
for n in A B C; do
  printf "  node %s  %s\n          %s\n" "$n" "${id[$n]}" "${dim}${addr[$n]}${reset}"
done

# Wait until every node has identified both others.
for _ in $(seq 100); do
  done_all=1
  for n in A B C; do
    [[ $(grep -c "identified" "$work/$n.log" || true) -ge 2 ]] || done_all=0
  done
  ((done_all)) && break
  sleep 0.05
done

name_of() { for n in A B C; do [[ ${id[$n]} == "$1" ]] && { echo "$n"; return; }; done; echo "?"; }

echo
echo "${bold}Connections (each node's own log)${reset}"
for n in A B C; do
  while read -r line; do
    peer=$(grep -o '12D3KooW[1-9A-HJ-NP-Za-km-z]*' <<<"$line" | head -1)
    how=$(grep -q "(early muxer)" <<<"$line" && echo "Noise XX + Yamux (muxer agreed inside Noise)" || echo "Noise XX + Yamux")
    dir=$(grep -q "connected from" <<<"$line" && echo "<-" || echo "->")
    printf "  %s %s %s  %s\n" "$n" "$dir" "$(name_of "$peer")" "$how"
  done < <(grep "connected " "$work/$n.log" | grep -v disconnected)
done

echo
echo "${bold}Identify (what each node learned)${reset}"
for n in A B C; do
  while read -r line; do
    peer=$(grep -o '12D3KooW[1-9A-HJ-NP-Za-km-z]*' <<<"$line" | head -1)
    rest=${line#*: }
    printf "  %s knows %s: %s\n" "$n" "$(name_of "$peer")" "$rest"
  done < <(grep "identified" "$work/$n.log")
done

echo
echo "${bold}Ping over libp2p (/ipfs/ping/1.0.0), from \`starling ping\` with a throwaway identity${reset}"
for n in A C; do
  out=$("$bin" ping "${addr[$n]}" -c 5 -i 0.05)
  summary=$(grep "rtt" <<<"$out" | sed 's/rtt min\/avg\/max\/mdev = //')
  recv=$(grep "received" <<<"$out")
  printf "  -> %s  %s; rtt min/avg/max/mdev %s ms\n" "$n" "$recv" "${summary% ms}"
done

echo
echo "${bold}Encrypted throughput (/perf/1.0.0 to node B, 256 MiB each way)${reset}"
"$bin" perf "${addr[B]}" --upload-bytes 268435456 --download-bytes 268435456 | sed 's/^/  /'

echo
total=0
for n in A B C; do
  c=$(grep -c "identified" "$work/$n.log" || true)
  total=$((total + c))
done
if ((total >= 6)); then
  echo "${green}${bold}OK${reset}: every node connected to and identified both others."
else
  echo "Only $total of 6 identifications happened; logs are in $work" >&2
  trap - EXIT
  exit 1
fi
