#!/usr/bin/env bash
# Interleaved ping rounds, one line per round: raw TCP with two threads (the goal's baseline),
# two Starling hosts in one process (ping_latency), raw TCP with two processes in epoll_wait,
# and `starling ping` against a `starling node` process on 127.0.0.1 (mDNS off).
# Interleaving keeps slow spells of a shared VM from landing on one side of a comparison only.
# usage: bench/ping_rounds.sh BUILD_DIR [COUNT] [INTERVAL_MS] [ROUNDS]   (default 1000 1 5)
set -euo pipefail
B=$1; N=${2:-1000}; I=${3:-1}; R=${4:-5}
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
us() { sed 's/.*"median_us":\([0-9.]*\).*/\1/'; }
D=$(mktemp -d)
"$B/bin/starling" node --data-dir "$D" --listen /ip4/127.0.0.1/tcp/0 --no-mdns >"$D/out" 2>/dev/null &
P=$!
trap 'kill $P 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 50); do grep -q /tcp/ "$D/out" && break; sleep 0.1; done
ADDR=$(grep /tcp/ "$D/out" | head -1 || true)
if [[ -z $ADDR ]]; then
  echo "ping_rounds: the node did not start (see $D/out)" >&2
  exit 1
fi
for _ in $(seq "$R"); do
  t=$("$B/bench/tcp_pingpong" "$N" "$I" | us || true)
  l=$("$B/bench/ping_latency" "$N" "$I" | us || true)
  p=$("$B/bench/tcp_pingpong" "$N" "$I" processes | us || true)
  c=$("$B/bin/starling" ping "$ADDR" -c "$N" -i "$(awk -v i="$I" 'BEGIN { print i / 1000 }')" |
    { grep -o 'time=[0-9.]*' || true; } | cut -d= -f2 | med | awk '{ print $1 * 1000 }')
  echo "${t:-0} ${l:-0} ${p:-0} ${c:-0}" | awk 'function r(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "nan" }
    { printf "threads %5.1f  in-process %5.1f (%s)  processes %5.1f  cli %5.1f (%s threads, %s processes)\n",
      $1, $2, r($2, $1), $3, $4, r($4, $1), r($4, $3) }'
done
