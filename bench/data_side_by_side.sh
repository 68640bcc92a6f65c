#!/usr/bin/env bash
# The data layer side by side with Cyclone DDS (ddsperf) and MQTT (a mosquitto broker), all on
# loopback, one figure per line:
#   - throughput, reliable, payloads of 8, 64, 1024 and 65536 bytes: Starling's sub_thr +
#     pub_thr (two processes, one direct link), `ddsperf sub` + `ddsperf pub` (reliable,
#     keep-all), and mqtt_thr sub + pub through a local mosquitto broker at QoS 0;
#   - round trips of 64-byte samples: lat_ping + lat_pong against `ddsperf ping` + `ddsperf pong`;
#   - a 3-node chain, pub -> relay -> sub, for both: the relay is a `starling node` process
#     (the daemon users run as a relay; mDNS off, listening on 127.0.0.1). It dials the far
#     end (sub_thr or lat_pong, as --bootstrap) and pub_thr / lat_ping dial it; the two ends
#     do not speak peer exchange, so they never meet and every sample crosses the relay.
#     mosquitto's own figures are a chain too (client -> broker -> client).
# Each throughput figure is the median of the subscriber's per-second lines (the first line,
# which includes the start, is dropped); each round-trip figure the median of ROUNDS runs.
#
# usage: bench/data_side_by_side.sh BUILD_DIR
#   BUILD_DIR holds bench/{pub_thr,sub_thr,lat_ping,lat_pong,mqtt_thr} and bin/starling,
#   e.g. after `cmake --preset release && cmake --build --preset release --target pub_thr
#   sub_thr lat_ping lat_pong mqtt_thr starling`.
# environment: SECS (per-second lines per throughput figure, default 5), SIZES (default
#   "8 64 1024 65536"), PINGS (round trips per run, default 2000), ROUNDS (default 3),
#   SKIP (any of: dds mqtt chain).
# needs: ddsperf (Debian cyclonedds-tools), mosquitto (Debian mosquitto); scripts/install-deps.sh
# installs both. Missing ones are skipped with a note.
#
# Network safety: everything listens on 127.0.0.1 only. Cyclone DDS is kept on loopback by the
# CYCLONEDDS_URI written below: it uses only the `lo` interface, multicast is off
# (AllowMulticast false), and discovery is unicast to the 127.0.0.1 peer (participant indexes
# 0-9 are probed there). mosquitto gets a config with one listener on 127.0.0.1.
set -euo pipefail

B=${1:?usage: bench/data_side_by_side.sh BUILD_DIR}
SECS=${SECS:-5}
SIZES=${SIZES:-"8 64 1024 65536"}
PINGS=${PINGS:-2000}
ROUNDS=${ROUNDS:-3}
SKIP=${SKIP:-}

for p in pub_thr sub_thr lat_ping lat_pong; do
  [[ -x $B/bench/$p ]] || { echo "data_side_by_side: $B/bench/$p is missing (build it first)" >&2; exit 2; }
done

T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

# The median of the numbers on stdin (one per line).
med() { sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'; }
# Waits up to 10 s for FILE to hold a line matching PATTERN; prints the first such line.
wait_line() {
  local file=$1 pattern=$2
  for _ in $(seq 100); do
    if grep -q -- "$pattern" "$file" 2>/dev/null; then grep -m1 -- "$pattern" "$file"; return 0; fi
    sleep 0.1
  done
  echo "data_side_by_side: nothing matching '$pattern' in $file" >&2
  cat "$file" >&2 || true
  return 1
}
# Stops one background process we started (TERM, then waits for it).
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# A free TCP port on 127.0.0.1 (taken by the kernel, then released).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Per-second lines "<n> msg/s <m> MB/s" on stdin -> "<median msg/s> <median MB/s>", first dropped.
thr_median() {
  awk '/msg\/s/ {print $1, $3}' | tail -n +2 >"$T/thr"
  echo "$(cut -d' ' -f1 "$T/thr" | med) $(cut -d' ' -f2 "$T/thr" | med)"
}
row() { printf '%-34s %8s B  %10.0f msg/s  %9.2f MB/s\n' "$1" "$2" "$3" "$4"; }

# A relay: `starling node` on 127.0.0.1 that dials $1; prints its listen multiaddr.
start_relay() {
  local far=$1 dir="$T/relay.$RANDOM"
  mkdir -p "$dir"
  "$B/bin/starling" --log-level warn node --data-dir "$dir" --listen /ip4/127.0.0.1/tcp/0 \
    --no-mdns --bootstrap "$far" >"$dir/out" 2>"$dir/err" &
  RELAY_PID=$!
  PIDS+=("$RELAY_PID")
  RELAY_ADDR=$(wait_line "$dir/out" /p2p/)
}

# ---- Starling throughput: sub_thr <- pub_thr, optionally through a relay ----
starling_thr() {
  local size=$1 chain=${2:-}
  "$B/bench/sub_thr" --size "$size" -c $((SECS + 1)) >"$T/sub.out" 2>"$T/sub.err" &
  local sub=$!
  PIDS+=("$sub")
  local addr
  addr=$(wait_line "$T/sub.out" /p2p/)
  if [[ -n $chain ]]; then
    start_relay "$addr"
    addr=$RELAY_ADDR
  fi
  "$B/bench/pub_thr" --connect "$addr" --size "$size" 2>"$T/pub.err" &
  local pub=$!
  PIDS+=("$pub")
  wait "$sub" || { echo "sub_thr failed:" >&2; cat "$T/sub.err" "$T/pub.err" >&2; }
  stop "$pub"
  [[ -n $chain ]] && stop "$RELAY_PID"
  thr_median <"$T/sub.out"
}

# ---- Cyclone DDS ----
cat >"$T/cyclone.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8" ?>
<CycloneDDS xmlns="https://cdds.io/config">
  <Domain Id="any">
    <General>
      <Interfaces><NetworkInterface name="lo"/></Interfaces>
      <AllowMulticast>false</AllowMulticast>
    </General>
    <Discovery>
      <ParticipantIndex>auto</ParticipantIndex>
      <MaxAutoParticipantIndex>9</MaxAutoParticipantIndex>
      <Peers><Peer Address="127.0.0.1"/></Peers>
    </Discovery>
  </Domain>
</CycloneDDS>
EOF
export CYCLONEDDS_URI="file://$T/cyclone.xml"
HAVE_DDS=1
command -v ddsperf >/dev/null || HAVE_DDS=0
[[ $SKIP == *dds* ]] && HAVE_DDS=0

# ddsperf's KS topic carries a 12-byte fixed part (sequence number, key) inside its size, and
# its smallest size is 12: an 8-byte figure is taken at 12 bytes.
dds_size() { if (($1 < 12)); then echo 12; else echo "$1"; fi; }
dds_thr() {
  local size
  size=$(dds_size "$1")
  ddsperf -k all -D $((SECS + 4)) sub >"$T/dsub.out" 2>&1 &
  local sub=$!
  PIDS+=("$sub")
  sleep 0.5
  ddsperf -k all -D $((SECS + 2)) pub size "$size" >"$T/dpub.out" 2>&1 &
  local pub=$!
  PIDS+=("$pub")
  wait "$pub" || true
  stop "$sub"
  # "... size S total N lost L delta D lost L rate R kS/s M Mb/s (...)": samples/s and payload
  # MB/s (from the size, as for the others); the first and the last (partial) lines dropped.
  awk -v s="$size" '/ rate / {for (i = 1; i <= NF; i++) if ($i == "rate")
    print $(i + 1) * 1000 " msg/s " $(i + 1) * 1000 * s / 1e6 " MB/s"}' "$T/dsub.out" |
    head -n -1 | thr_median
  if grep -q 'lost [1-9]' "$T/dsub.out"; then echo "ddsperf reported lost samples" >&2; fi
}

# ---- mosquitto (QoS 0) ----
HAVE_MQTT=1
command -v mosquitto >/dev/null && [[ -x $B/bench/mqtt_thr ]] || HAVE_MQTT=0
[[ $SKIP == *mqtt* ]] && HAVE_MQTT=0
if ((HAVE_MQTT)); then
  MQTT_PORT=$(free_port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n' \
    "$MQTT_PORT" >"$T/mosquitto.conf"
  mosquitto -c "$T/mosquitto.conf" >"$T/mosquitto.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null && break; sleep 0.1; done
fi
mqtt_thr() {
  local size=$1
  "$B/bench/mqtt_thr" sub --port "$MQTT_PORT" --size "$size" -c $((SECS + 1)) >"$T/msub.out" 2>"$T/msub.err" &
  local sub=$!
  PIDS+=("$sub")
  wait_line "$T/msub.out" subscribed >/dev/null
  "$B/bench/mqtt_thr" pub --port "$MQTT_PORT" --size "$size" 2>"$T/mpub.err" &
  local pub=$!
  PIDS+=("$pub")
  wait "$sub" || { echo "mqtt_thr sub failed:" >&2; cat "$T/msub.err" >&2; }
  stop "$pub"
  thr_median <"$T/msub.out"
}

echo "== throughput (median of ${SECS} per-second lines at the subscriber) =="
for s in $SIZES; do
  starling_thr "$s" >"$T/res"
  read -r m b <"$T/res"
  row "starling pub_thr -> sub_thr" "$s" "$m" "$b"
  if ((HAVE_DDS)); then
    dds_thr "$s" >"$T/res"
    read -r m b <"$T/res"
    row "ddsperf pub -> sub (size $(dds_size "$s"))" "$(dds_size "$s")" "$m" "$b"
  fi
  if ((HAVE_MQTT)); then
    mqtt_thr "$s" >"$T/res"
    read -r m b <"$T/res"
    row "mosquitto QoS 0, pub -> broker -> sub" "$s" "$m" "$b"
  fi
  if [[ $SKIP != *chain* ]]; then
    starling_thr "$s" chain >"$T/res"
    read -r m b <"$T/res"
    row "starling pub -> relay -> sub" "$s" "$m" "$b"
  fi
done
((HAVE_DDS)) || echo "(ddsperf not installed or skipped: no DDS figures)"
((HAVE_MQTT)) || echo "(mosquitto or bench/mqtt_thr missing, or skipped: no MQTT figures)"

# ---- round trips, 64 bytes ----
starling_rtt() {
  local chain=${1:-}
  "$B/bench/lat_pong" >"$T/pong.out" 2>"$T/pong.err" &
  local pong=$!
  PIDS+=("$pong")
  local addr
  addr=$(wait_line "$T/pong.out" /p2p/)
  if [[ -n $chain ]]; then
    start_relay "$addr"
    addr=$RELAY_ADDR
  fi
  "$B/bench/lat_ping" --connect "$addr" --size 64 -c "$PINGS" >"$T/ping.out" 2>"$T/ping.err" ||
    { echo "lat_ping failed:" >&2; cat "$T/ping.err" >&2; }
  stop "$pong"
  [[ -n $chain ]] && stop "$RELAY_PID"
  awk '/^median/ {print $2, $5}' "$T/ping.out"
}
dds_rtt() {
  ddsperf -D $((PINGS / 1000 + 4)) pong >"$T/dpong.out" 2>&1 &
  local pong=$!
  PIDS+=("$pong")
  sleep 0.5
  ddsperf -D $((PINGS / 1000 + 3)) ping size 64 >"$T/dping.out" 2>&1 || true
  stop "$pong"
  # One line a second: "... size 64 mean M min m 50% X 90% Y 99% Z max W cnt N".
  local l50 l99
  l50=$(awk '/ 50% / {for (i = 1; i <= NF; i++) if ($i == "50%") print $(i + 1) + 0}' "$T/dping.out" | med)
  l99=$(awk '/ 99% / {for (i = 1; i <= NF; i++) if ($i == "99%") print $(i + 1) + 0}' "$T/dping.out" | med)
  echo "$l50 $l99"
}
echo "== round trips, 64-byte samples (median of $ROUNDS runs; p99 likewise) =="
declare -A R50 R99
for _ in $(seq "$ROUNDS"); do
  starling_rtt >"$T/res"
  read -r a b <"$T/res"
  R50[s]+="$a "; R99[s]+="$b "
  if ((HAVE_DDS)); then
    dds_rtt >"$T/res"
    read -r a b <"$T/res"
    R50[d]+="$a "; R99[d]+="$b "
  fi
  if [[ $SKIP != *chain* ]]; then
    starling_rtt chain >"$T/res"
    read -r a b <"$T/res"
    R50[c]+="$a "; R99[c]+="$b "
  fi
done
rtt_row() {
  printf '%-34s median %7.1f us  p99 %7.1f us   (runs: %s)\n' "$1" \
    "$(tr ' ' '\n' <<<"${R50[$2]}" | grep . | med)" "$(tr ' ' '\n' <<<"${R99[$2]}" | grep . | med)" "${R50[$2]}"
}
rtt_row "starling lat_ping <-> lat_pong" s
((HAVE_DDS)) && rtt_row "ddsperf ping <-> pong" d
[[ $SKIP == *chain* ]] || rtt_row "starling ping -> relay -> pong" c
exit 0
