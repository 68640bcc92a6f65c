#!/usr/bin/env bash
# The cost of access rules on the data path (issue 14): sub_thr <- pub_thr over one direct
# link on 127.0.0.1, without rules and with a policy of RULES rules (--acl-rules; every node
# holds role "bench", allowed on bench/**, and each sample passes the publisher's put check,
# the egress check of the subscriber's right and the subscriber's ingress and local checks),
# interleaved round by round so both see the same machine.
#
# usage: bench/acl_overhead.sh BUILD_DIR        (BUILD_DIR holds bench/pub_thr, bench/sub_thr)
#   SIZES="8 1024" ROUNDS=5 SECS=5 RULES=64
# Prints per round the median of the subscriber's per-second lines (the first dropped), then
# per size the median over rounds of each and their ratio.
set -euo pipefail
B=${1:?usage: bench/acl_overhead.sh BUILD_DIR}
SIZES=${SIZES:-8 1024}
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
RULES=${RULES:-64}
for p in pub_thr sub_thr; do
  [[ -x $B/bench/$p ]] || { echo "acl_overhead: $B/bench/$p is missing (build it first)" >&2; exit 2; }
done

T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

med() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
wait_line() {
  local file=$1 pattern=$2
  for _ in $(seq 100); do
    if grep -q -- "$pattern" "$file" 2>/dev/null; then grep -m1 -- "$pattern" "$file"; return 0; fi
    sleep 0.1
  done
  echo "acl_overhead: nothing matching '$pattern' in $file" >&2
  cat "$file" >&2 || true
  return 1
}

# One run: prints the median msg/s of the subscriber's lines. $2: extra flags for both ends.
run() {
  local size=$1 flags=$2
  # shellcheck disable=SC2086
  "$B/bench/sub_thr" --size "$size" -c $((SECS + 1)) $flags >"$T/sub.out" 2>"$T/sub.err" &
  local sub=$!
  PIDS+=("$sub")
  local addr
  addr=$(wait_line "$T/sub.out" /p2p/)
  # shellcheck disable=SC2086
  "$B/bench/pub_thr" --connect "$addr" --size "$size" $flags 2>"$T/pub.err" &
  local pub=$!
  PIDS+=("$pub")
  wait "$sub" || { echo "sub_thr failed:" >&2; cat "$T/sub.err" "$T/pub.err" >&2; }
  kill "$pub" 2>/dev/null || true
  wait "$pub" 2>/dev/null || true
  awk '/msg\/s/ {print $1}' "$T/sub.out" | tail -n +2 | med
}

for size in $SIZES; do
  : >"$T/off.$size"
  : >"$T/on.$size"
  for r in $(seq "$ROUNDS"); do
    off=$(run "$size" "")
    on=$(run "$size" "--acl-rules $RULES")
    echo "$off" >>"$T/off.$size"
    echo "$on" >>"$T/on.$size"
    printf 'size %6s B  round %d  no rules %10.0f msg/s  %d rules %10.0f msg/s\n' \
      "$size" "$r" "$off" "$RULES" "$on"
  done
done
echo
for size in $SIZES; do
  off=$(med <"$T/off.$size")
  on=$(med <"$T/on.$size")
  printf 'size %6s B  median of %d rounds: no rules %10.0f msg/s, %d rules %10.0f msg/s, ratio %.3f\n' \
    "$size" "$ROUNDS" "$off" "$RULES" "$on" "$(echo "$on / $off" | bc -l)"
done
