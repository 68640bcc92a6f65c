#!/usr/bin/env bash
# Runs every Starling benchmark side by side with its baseline on loopback and prints a table.
# usage: scripts/bench.sh [BUILD_DIR]     (default build/dev; needs the targets starling,
#        aead_bench, tcp_pingpong, ping_latency, conn_setup, conn_memory; iperf3 and node
#        optional)
# Env: RUNS (default 5) transfers per direction, BYTES (default 268435456) per transfer (at
#      most 1073741824: a node serves at most 1 GiB per perf request).
# Everything it starts listens on 127.0.0.1 and is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/dev}
RUNS=${RUNS:-5}
BYTES=${BYTES:-268435456}
STARLING=$BUILD/bin/starling
BENCH=$BUILD/bench
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# start_node NAME [FLAGS...] -> sets NODE_PID, NODE_ADDR
start_node() {
  local name=$1; shift
  "$STARLING" node --data-dir "$TMP/$name" --listen /ip4/127.0.0.1/tcp/0 --no-mdns "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  NODE_PID=$!
  PIDS+=("$NODE_PID")
  for _ in $(seq 100); do grep -q '/tcp/' "$TMP/$name.out" && break; sleep 0.05; done
  NODE_ADDR=$(grep '/tcp/' "$TMP/$name.out" | head -1)
  [ -n "$NODE_ADDR" ] || { echo "bench: node $name did not start" >&2; cat "$TMP/$name.err" >&2; exit 1; }
}

echo "== Starling benchmarks ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))" >&2

# --- memory of an idle node (before any traffic) ---
start_node perfnode --serve-perf
sleep 1
IDLE_RSS=$(rss_kib "$NODE_PID")
PERF_PID=$NODE_PID
PERF_ADDR=$NODE_ADDR

# --- throughput: starling perf, interleaved with libsodium's AEAD speed (same run) ---
: >"$TMP/dl" ; : >"$TMP/ul" ; : >"$TMP/aead" ; : >"$TMP/aead_ossl"
for i in $(seq "$RUNS"); do
  # The baseline is libsodium's speed (as the issue names it); OpenSSL's, which Starling's
  # frames actually use (docs/decisions/0005-openssl-aead.md), is shown next to it.
  "$BENCH/aead_bench" --benchmark_filter='BM_libsodium/65519$' --benchmark_format=json 2>/dev/null |
    awk -F: '/"bytes_per_second"/ {gsub(/[ ,]/, "", $2); print $2 / 1e6}' >>"$TMP/aead"
  "$BENCH/aead_bench" --benchmark_filter='BM_openssl/65519$' --benchmark_format=json 2>/dev/null |
    awk -F: '/"bytes_per_second"/ {gsub(/[ ,]/, "", $2); print $2 / 1e6}' >>"$TMP/aead_ossl"
  "$STARLING" perf "$PERF_ADDR" --upload-bytes 0 --download-bytes "$BYTES" --json | tail -1 |
    sed 's/.*"timeSeconds":\([0-9.e+-]*\).*/\1/' | awk -v b="$BYTES" '{print b / $1 / 1e6}' >>"$TMP/dl"
  "$STARLING" perf "$PERF_ADDR" --upload-bytes "$BYTES" --download-bytes 0 --json | tail -1 |
    sed 's/.*"timeSeconds":\([0-9.e+-]*\).*/\1/' | awk -v b="$BYTES" '{print b / $1 / 1e6}' >>"$TMP/ul"
done
AEAD=$(median <"$TMP/aead"); AEAD_OSSL=$(median <"$TMP/aead_ossl"); DL=$(median <"$TMP/dl"); UL=$(median <"$TMP/ul")
AFTER_PERF_RSS=$(rss_kib "$PERF_PID")

# --- iperf3 raw TCP ---
IPERF=nan
if command -v iperf3 >/dev/null; then
  : >"$TMP/iperf"
  for i in $(seq "$RUNS"); do
    port=$((20000 + RANDOM % 20000))
    iperf3 -s -B 127.0.0.1 -p "$port" -1 >/dev/null 2>&1 &
    PIDS+=($!)
    sleep 0.3
    iperf3 -c 127.0.0.1 -p "$port" -t 2 -J 2>/dev/null |
      awk -F: '/"sum_received"/ {f=1} f && /"bits_per_second"/ {gsub(/[ ,]/, "", $2); print $2 / 8e6; exit}' >>"$TMP/iperf" || true
  done
  IPERF=$(median <"$TMP/iperf")
fi

# --- js-libp2p node to node ---
JS_DL=nan; JS_UL=nan
if command -v node >/dev/null && [ -d tests/interop/node_modules ]; then
  node bench/js_perf.mjs "$BYTES" "$RUNS" >"$TMP/js" 2>"$TMP/js.err" || true
  JS_DL=$(awk -F'"timeSeconds":' '/"download"/ {split($2, a, ","); print '"$BYTES"' / a[1] / 1e6}' "$TMP/js" | median)
  JS_UL=$(awk -F'"timeSeconds":' '/"upload"/ {split($2, a, ","); print '"$BYTES"' / a[1] / 1e6}' "$TMP/js" | median)
fi

# --- ping round trip vs raw TCP ping-pong of 32 bytes ---
# Like for like, at two paces (10 ms and 1 ms between round trips; the 1 ms pace is steadier
# on a VM): two threads of one process (raw TCP; `ping_latency`: two Starling hosts on two
# threads), and two processes (raw TCP with epoll; `starling ping` against the node process).
pp_median() { sed 's/.*"median_us":\([0-9.]*\).*/\1/'; }
all_pp="pp10 pp1 pphot ppep10 ppep1 ppproc10 ppproc1 lat10 lat1 ping10 ping1"
for f in $all_pp; do : >"$TMP/$f"; done
for i in $(seq "$RUNS"); do
  "$BENCH/tcp_pingpong" 2000 0 | pp_median >>"$TMP/pphot"
  for pace in 10 1; do
    count=$((pace == 10 ? 200 : 1000))
    "$BENCH/tcp_pingpong" "$count" "$pace" | pp_median >>"$TMP/pp$pace"
    "$BENCH/tcp_pingpong" "$count" "$pace" threads-epoll | pp_median >>"$TMP/ppep$pace"
    "$BENCH/ping_latency" "$count" "$pace" | pp_median >>"$TMP/lat$pace" || true
    "$BENCH/tcp_pingpong" "$count" "$pace" processes | pp_median >>"$TMP/ppproc$pace"
    "$STARLING" ping "$PERF_ADDR" -c "$count" -i "$(awk -v p="$pace" 'BEGIN { print p / 1000 }')" \
      >"$TMP/ping$pace.$i" 2>&1 || true
    grep -o 'time=[0-9.]*' "$TMP/ping$pace.$i" | cut -d= -f2 | median | awk '{print $1 * 1000}' >>"$TMP/ping$pace"
  done
done
for f in $all_pp; do
  declare "M_$f=$(median <"$TMP/$f")"
done

# --- connection setups per second ---
: >"$TMP/cs"
for i in $(seq "$RUNS"); do
  "$BENCH/conn_setup" "$PERF_ADDR" 200 | sed 's/.*"setups_per_second":\([0-9.]*\).*/\1/' >>"$TMP/cs"
done
SETUPS=$(median <"$TMP/cs")

# --- per-connection memory with 500 peers (fresh node) ---
start_node memnode
sleep 1
MEM_JSON=$("$BENCH/conn_memory" "$NODE_ADDR" "$NODE_PID" 500 2>"$TMP/mem.err" || true)
PER_CONN=$(echo "$MEM_JSON" | sed -n 's/.*"kib_per_connection":\([0-9.-]*\).*/\1/p')
MEM_AFTER=$(echo "$MEM_JSON" | sed -n 's/.*"rss_after_kib":\([0-9]*\).*/\1/p')
MEM_CONNS=$(echo "$MEM_JSON" | sed -n 's/.*"connections":\([0-9]*\).*/\1/p')
if [[ ${MEM_CONNS:-0} != 500 ]]; then
  echo "conn_memory connected ${MEM_CONNS:-0} of 500 peers: the per-connection figure is not valid" >&2
  PER_CONN=nan
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.2f", a / b }'; }
printf '\n%-44s %14s %s\n' "benchmark (medians of $RUNS, $((BYTES >> 20)) MiB transfers)" "value" "vs baseline"
printf '%-44s %11.0f MB/s\n' "libsodium ChaCha20-Poly1305, 1 core, 64 KiB" "$AEAD"
printf '%-44s %11.0f MB/s\n' "OpenSSL ChaCha20-Poly1305, 1 core, 64 KiB" "$AEAD_OSSL"
printf '%-44s %11.0f MB/s  %s x AEAD (goal >= 0.70); %s x OpenSSL AEAD\n' "starling perf download (node -> client)" "$DL" "$(ratio "$DL" "$AEAD")" "$(ratio "$DL" "$AEAD_OSSL")"
printf '%-44s %11.0f MB/s  %s x AEAD\n' "starling perf upload (client -> node)" "$UL" "$(ratio "$UL" "$AEAD")"
printf '%-44s %11.0f MB/s\n' "iperf3 raw TCP 127.0.0.1" "$IPERF"
printf '%-44s %11.0f MB/s  starling/js %s\n' "js-libp2p node-to-node perf download" "$JS_DL" "$(ratio "$DL" "$JS_DL")"
printf '%-44s %11.0f MB/s  starling/js %s\n' "js-libp2p node-to-node perf upload" "$JS_UL" "$(ratio "$UL" "$JS_UL")"
printf '%-44s %11.1f us\n' "raw TCP 32-byte ping-pong RTT, back to back" "$M_pphot"
for pace in 10 1; do
  pp="M_pp$pace"; ep="M_ppep$pace"; lat="M_lat$pace"; proc="M_ppproc$pace"; cli="M_ping$pace"
  printf '%-44s %11.1f us\n' "raw TCP ping-pong, 2 threads, $pace ms apart" "${!pp}"
  printf '%-44s %11.1f us\n' "raw TCP ping-pong, 2 threads + epoll, $pace ms" "${!ep}"
  printf '%-44s %11.1f us    %s x 2 threads (goal <= 1.5); %s x 2 threads + epoll\n' \
    "starling ping, 2 hosts in 1 process, $pace ms" "${!lat}" "$(ratio "${!lat}" "${!pp}")" "$(ratio "${!lat}" "${!ep}")"
  printf '%-44s %11.1f us\n' "raw TCP ping-pong, 2 processes+epoll, $pace ms" "${!proc}"
  printf '%-44s %11.1f us    %s x 2 threads (goal <= 1.5); %s x 2 processes (like for like)\n' \
    "starling ping CLI -> node, $pace ms apart" "${!cli}" "$(ratio "${!cli}" "${!pp}")" "$(ratio "${!cli}" "${!proc}")"
done
printf '%-44s %11.0f /s\n' "connection setups (TCP+Noise+Yamux+identify)" "$SETUPS"
printf '%-44s %11d KiB   (goal < 8192)\n' "idle node VmRSS" "$IDLE_RSS"
printf '%-44s %11d KiB\n' "node VmRSS after the perf transfers" "$AFTER_PERF_RSS"
printf '%-44s %11s KiB   (node at %s KiB with 500)\n' "VmRSS per connection, 500 peers" "${PER_CONN:-nan}" "${MEM_AFTER:-nan}"
