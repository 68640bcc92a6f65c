#!/usr/bin/env bash
# The examples built as an application builds them: `cmake --install` the library into a
# prefix inside the build tree, configure examples/ on its own with find_package(Starling), build
# it, then run them on 127.0.0.1: `subscriber` and `sensor` (the subscriber prints the sensor's
# readings as `key value` lines), `thermostat` against `blinds` (the blinds answer "close" with
# their new state) and `liveliness_monitor` against the blinds' tokens (`+ key` while they
# run, `- key` once they are stopped).
#   examples_test.sh BUILD_DIR EXAMPLES_SOURCE_DIR CXX_COMPILER
set -euo pipefail
build=$1 examples=$2 cxx=$3
work=$build/lib-examples-test
prefix=$work/prefix
rm -rf "$work"
mkdir -p "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# wait_for_line FILE PATTERN PID: waits (10 s at most) until FILE has a line matching the
# extended regex PATTERN, while process PID lives; prints the first such line.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3 line=
  for _ in $(seq 1 200); do
    line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null || true)
    [[ -n $line ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [[ -z $line ]]; then
    echo "FAIL: no line matching '$pattern' in $file" >&2
    cat "$file" >&2
    return 1
  fi
  echo "$line"
}

echo "== cmake --install (component library) into $prefix"
cmake --install "$build" --prefix "$prefix" --component library >"$work/install.log"
# The public headers name no third-party or internal header.
if grep -rnE '#include [<"](boost|spdlog|fmt|nlohmann|google|sodium|openssl|CLI|core/|io/|node/)' \
  "$prefix/include"; then
  echo "FAIL: an installed header includes a third-party or internal header" >&2
  exit 1
fi

echo "== configure and build examples/ against it"
# Compiling the examples is most of this test's time: with ccache at hand, a rerun takes them
# from its cache (the paths are the same each run).
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$examples" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release >"$work/configure.log"
cmake --build "$work/build" -j1 >"$work/build.log" || { cat "$work/build.log"; exit 1; }

echo "== run subscriber and sensor on 127.0.0.1"
"$work/build/subscriber" 'home/*/temp' --listen /ip4/127.0.0.1/tcp/0 -c 3 \
  >"$work/sub.out" 2>"$work/sub.err" &
sub=$!
pids+=("$sub")
addr=
for _ in $(seq 1 200); do
  addr=$(sed -n 's/^listening on //p' "$work/sub.err" | head -n 1)
  [[ -n $addr ]] && break
  kill -0 "$sub" 2>/dev/null || break
  sleep 0.05
done
if [[ -z $addr ]]; then
  echo "FAIL: the subscriber printed no listen address" >&2
  cat "$work/sub.err" >&2
  exit 1
fi
echo "subscriber at $addr"
"$work/build/sensor" kitchen --connect "$addr" --listen /ip4/127.0.0.1/tcp/0 --interval 100 \
  --count 300 >"$work/sensor.out" 2>"$work/sensor.err" &
pids+=("$!")

# The subscriber exits by itself after three samples; 30 s is the watchdog.
status=0
timeout 30 tail --pid="$sub" -f /dev/null || status=$?
if [[ $status -ne 0 ]]; then
  echo "FAIL: the subscriber did not get 3 samples within 30 s" >&2
  cat "$work/sub.out" "$work/sub.err" "$work/sensor.err" >&2
  exit 1
fi
wait "$sub" || { echo "FAIL: subscriber exited with $?" >&2; cat "$work/sub.err" >&2; exit 1; }
cat "$work/sub.out"
lines=$(grep -cE '^home/kitchen/temp [0-9]+\.[0-9]{2}$' "$work/sub.out" || true)
if [[ $lines -ne 3 ]]; then
  echo "FAIL: expected 3 'home/kitchen/temp <value>' lines, got:" >&2
  cat "$work/sub.out" >&2
  exit 1
fi
echo "== run blinds, liveliness_monitor and thermostat on 127.0.0.1"
"$work/build/blinds" east west --listen /ip4/127.0.0.1/tcp/0 >"$work/blinds.out" \
  2>"$work/blinds.err" &
blinds=$!
pids+=("$blinds")
addr=$(wait_for_line "$work/blinds.err" '^listening on ' "$blinds") || exit 1
addr=${addr#listening on }
echo "blinds at $addr"
"$work/build/liveliness_monitor" 'building/**' --connect "$addr" --listen /ip4/127.0.0.1/tcp/0 \
  >"$work/monitor.out" 2>"$work/monitor.err" &
monitor=$!
pids+=("$monitor")
wait_for_line "$work/monitor.out" '^\+ building/floor1/blinds/west$' "$monitor" || {
  cat "$work/monitor.err" >&2
  exit 1
}

timeout 30 "$work/build/thermostat" close --connect "$addr" >"$work/thermostat.out" \
  2>"$work/thermostat.err" || {
  echo "FAIL: thermostat exited with $?" >&2
  cat "$work/thermostat.out" "$work/thermostat.err" "$work/blinds.err" >&2
  exit 1
}
cat "$work/thermostat.out"
expected=$'building/floor1/blinds/east closed\nbuilding/floor1/blinds/west closed'
if [[ $(sort "$work/thermostat.out") != "$expected" ]]; then
  echo "FAIL: expected the thermostat to print both blinds closed, got:" >&2
  cat "$work/thermostat.out" >&2
  exit 1
fi

# Stopping the blinds closes their session: the monitor sees both tokens leave.
kill -TERM "$blinds"
wait_for_line "$work/monitor.out" '^- building/floor1/blinds/west$' "$monitor" >/dev/null || exit 1
wait_for_line "$work/monitor.out" '^- building/floor1/blinds/east$' "$monitor" >/dev/null || exit 1
cat "$work/monitor.out"
if [[ $(sort "$work/monitor.out" | tr '\n' ' ') != \
  "+ building/floor1/blinds/east + building/floor1/blinds/west - building/floor1/blinds/east - building/floor1/blinds/west " ]]; then
  echo "FAIL: unexpected monitor output" >&2
  exit 1
fi
echo "PASS"
