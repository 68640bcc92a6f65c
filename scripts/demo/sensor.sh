#!/usr/bin/env bash
# A simulated sensor of the demo building: every second, `starling put KEY VALUE` through the
# node of DATA_DIR, VALUE drifting by up to +-0.2 from START (one decimal). A put that fails
# (the node is down) is skipped and the loop carries on, as a real sensor would.
# Usage: scripts/demo/sensor.sh STARLING_BIN DATA_DIR KEY START   e.g. ... building/floor1/kitchen/temp 21.5
set -euo pipefail
bin=$1 dir=$2 key=$3 start=$4
trap 'kill "$(jobs -p)" 2>/dev/null; exit 0' TERM INT
tenths=$(( ${start%.*} * 10 + ${start#*.} ))
while :; do
  value="$((tenths / 10)).$((tenths % 10))"
  "$bin" put --data-dir "$dir" "$key" "$value" --encoding text/plain 2>/dev/null || true
  tenths=$((tenths + RANDOM % 5 - 2))
  sleep 1 &
  wait $! || true
done
