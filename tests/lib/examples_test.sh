#!/usr/bin/env bash
# The examples built as an application builds them: `cmake --install` the library into a
# prefix inside the build tree, configure examples/ on its own with find_package(Starling), build
# it, then run `subscriber` and `sensor` on 127.0.0.1 and check that the subscriber printed
# the sensor's readings as `key value` lines.
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

echo "== cmake --install (component library) into $prefix"
cmake --install "$build" --prefix "$prefix" --component library >"$work/install.log"
# The public headers name no third-party or internal header.
if grep -rnE '#include [<"](boost|spdlog|fmt|nlohmann|google|sodium|openssl|CLI|core/|io/|node/)' \
  "$prefix/include"; then
  echo "FAIL: an installed header includes a third-party or internal header" >&2
  exit 1
fi

echo "== configure and build examples/ against it"
cmake -S "$examples" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" \
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
echo "PASS"
