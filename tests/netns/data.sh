# shellcheck shell=bash
# data.sh: helpers for the data-layer tests on the virtual LAN (publish, subscribe, check what
# arrived). Source after lan.sh and starling.sh.
#
#   dat_sub s_e he n_e 'chain/**'            # `starling sub --json` on node n_e, lines time-stamped
#   dat_wait_route n_a s_e chain/probe 20    # put chain/probe on n_a until s_e receives one
#   dat_put n_a chain/data 1 100 4 v         # 100 puts of "v1".."v100", one every 4 ms
#   dat_wait_count s_e chain/data 100 20     # s_e has 100 samples of chain/data
#   dat_check s_e chain/data 1 100 v         # exactly seq 1..100, in order, values v<seq>
#
# Puts go through the node's control socket (the CLI's own request, {"cmd":"put",...}, one
# connection per put), because a `starling put` process per sample costs 0.1-1 s on a loaded
# machine; the tests also run the real `starling put` / `del` for a few samples of the same key
# (one implicit publisher per key on a node: CLI and socket puts share one sequence).
# Subscriptions run the real `starling sub --json`, wrapped so that each line is prefixed with
# the wall-clock time (ms since the epoch) it was read at.

# dat__py: python that speaks the control socket. Modes:
#   put SOCK KEY FIRST LAST INTERVAL_MS PREFIX ENCODING [LOG]: puts PREFIX<i> for i = FIRST..LAST,
#     one every INTERVAL_MS (paced on a schedule, not by sleeps after each put); prints
#     "published N first_ms last_ms"; exit 1 (with the node's answer) when a put is refused.
#     With LOG, appends "<i> <ms>" per put (when it was sent) for dat_latency.
#   route SOCK KEY SUB_FILE SECONDS: puts KEY (value "probe") every 100 ms until SUB_FILE has a
#     line with that key; prints "seen <ms> after <n> probes" or "timeout"; exit 0 / 1.
DAT_PY='
import base64, json, os, socket, sys, time
def put(path, key, value, enc=""):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    req = {"cmd": "put", "key": key, "encoding": enc,
           "value_b64": base64.b64encode(value.encode()).decode()}
    s.sendall((json.dumps(req) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        x = s.recv(65536)
        if not x:
            break
        buf += x
    s.close()
    r = json.loads(buf)
    if not r.get("ok"):
        raise RuntimeError("put %s refused: %s" % (key, buf.decode().strip()))
mode = sys.argv[1]
if mode == "put":
    path, key, first, last, iv, prefix, enc = sys.argv[2:9]
    log = open(sys.argv[9], "a") if len(sys.argv) > 9 and sys.argv[9] else None
    first, last, iv = int(first), int(last), float(iv) / 1000
    t0 = time.time()
    for i in range(first, last + 1):
        due = t0 + (i - first) * iv
        d = due - time.time()
        if d > 0:
            time.sleep(d)
        t = time.time()
        put(path, key, prefix + str(i), enc)
        if log:
            log.write("%d %.3f\n" % (i, t * 1000))
    if log:
        log.close()
    print("published %d %d %d" % (last - first + 1, t0 * 1000, time.time() * 1000), flush=True)
elif mode == "route":
    path, key, subfile, secs = sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
    needle = ("\"key\":\"%s\"" % key).encode()
    deadline = time.time() + secs
    n = 0
    while time.time() < deadline:
        try:
            put(path, key, "probe")
            n += 1
        except (OSError, ValueError, RuntimeError):
            pass
        end = time.time() + 0.1
        while time.time() < end:
            try:
                with open(subfile, "rb") as f:
                    if needle in f.read():
                        print("seen %d after %d probes" % (time.time() * 1000, n), flush=True)
                        sys.exit(0)
            except OSError:
                pass
            time.sleep(0.01)
    print("timeout after %d probes" % n, flush=True)
    sys.exit(1)
'

# dat__stamp: runs `starling sub` (argv[1:]) and prints each of its lines as "<ms> <line>".
DAT_STAMP='
import signal, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
def stop(*_):
    p.terminate()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
for line in p.stdout:
    sys.stdout.write("%.3f %s" % (time.time() * 1000, line.decode("utf-8", "replace")))
    sys.stdout.flush()
sys.exit(p.wait())
'

# dat_sub NAME HOST NODE EXPR [ARGS...]: process NAME in HOST runs `starling sub --data-dir
# <NODE's data dir> EXPR --json ARGS...`, its lines time-stamped in $LAN_DIR/NAME.out.
dat_sub() {
  local name=$1 host=$2 node=$3 expr=$4
  lan_spawn "$name" "$host" "$STL_PY" -u -c "$DAT_STAMP" \
    "$STARLING_BIN" sub --data-dir "${STL_NODE_DATA[$node]:?no node $node}" "$expr" --json "${@:5}"
}

# dat_put NODE KEY FIRST LAST INTERVAL_MS PREFIX [ENCODING]: put PREFIX<i> on KEY through NODE,
# i = FIRST..LAST, one every INTERVAL_MS (foreground; prints "published N first_ms last_ms").
# Each put's time goes to $LAN_DIR/put-NODE-<KEY with / as _>.log (for dat_latency).
dat_put() {
  "$STL_PY" -c "$DAT_PY" put "${STL_NODE_DATA[$1]:?no node $1}/control.sock" "$2" "$3" "$4" "$5" \
    "$6" "${7:-}" "$(dat__put_log "$1" "$2")"
}
dat__put_log() { printf '%s\n' "$LAN_DIR/put-$1-${2//\//_}.log"; }

# dat_put_bg NAME NODE KEY FIRST LAST INTERVAL_MS PREFIX: dat_put in the background as process
# NAME (output in $LAN_DIR/NAME.out), run in NODE's host.
dat_put_bg() {
  local name=$1 node=$2 host
  host=${DAT_HOST[$node]:?no host recorded for $node (dat_host)}
  lan_spawn "$name" "$host" "$STL_PY" -c "$DAT_PY" put \
    "${STL_NODE_DATA[$node]:?no node $node}/control.sock" "$3" "$4" "$5" "$6" "$7" "" \
    "$(dat__put_log "$node" "$3")"
}
declare -gA DAT_HOST=()
# dat_node NAME HOST ...: stl_node, remembering the host (for dat_put_bg).
dat_node() { DAT_HOST[$1]=$2; stl_node "$@"; }

# dat_cli HOST CMD NODE ARGS...: the real CLI (`starling put|del ... --data-dir <NODE's dir>`).
dat_cli() {
  local host=$1 cmd=$2 node=$3
  shift 3
  lan_exec "$host" timeout 10 "$STARLING_BIN" "$cmd" --data-dir "${STL_NODE_DATA[$node]}" "$@"
}

# dat_wait_route PUB_NODE SUB_NAME KEY [SECONDS]: put KEY on PUB_NODE every 100 ms until the
# subscriber SUB_NAME (a dat_sub whose expression matches KEY) printed one: from then on, PUB_NODE
# knows the subscription and has a route to it. KEY must be another key than the data's (its own
# publisher, so the data's sequence starts at 1). Sets DAT_ROUTE_MS (epoch ms when seen).
dat_wait_route() {
  local out
  out=$("$STL_PY" -c "$DAT_PY" route "${STL_NODE_DATA[$1]:?no node $1}/control.sock" "$3" \
    "$(lan_out "$2")" "${4:-20}")
  local rc=$?
  # shellcheck disable=SC2034  # read by the tests
  DAT_ROUTE_MS=$(awk '/^seen/ {print $2}' <<<"$out")
  [[ $rc -eq 0 ]] || printf '# %s\n' "$out"
  return $rc
}

# dat_count SUB_NAME KEY: how many samples of KEY the subscriber printed so far.
dat_count() {
  local n
  n=$(grep -cF "\"key\":\"$2\"" "$(lan_out "$1")" 2>/dev/null) || true
  printf '%s\n' "${n:-0}"
}

# dat_wait_count SUB_NAME KEY N [SECONDS]: wait until the subscriber printed at least N samples
# of KEY (default 20 s); fails early if the sub process died.
dat_wait_count() {
  local name=$1 key=$2 n=$3 secs=${4:-20}
  local deadline=$((SECONDS + secs))
  while :; do
    (($(dat_count "$name" "$key") >= n)) && return 0
    if ((SECONDS >= deadline)); then
      printf '# %s has %s of %s samples of %s after %s s\n' "$name" "$(dat_count "$name" "$key")" \
        "$n" "$key" "$secs"
      return 1
    fi
    sleep 0.05
  done
}

# dat_check SUB_NAME KEY FIRST LAST PREFIX [LAST_KIND]: the subscriber got KEY's samples with seq
# exactly FIRST..LAST, each once, in that order, value PREFIX<seq> (kind put), all from one
# source, timestamps never going backwards, JSON fields all present; with LAST_KIND, the last
# sample's kind is that (e.g. delete, with an empty value). Prints what is wrong otherwise
# (missing, duplicated, out of order).
DAT_CHECK='
import json, sys
path, key, first, last, prefix = sys.argv[1:6]
last_kind = sys.argv[6] if len(sys.argv) > 6 else ""
first, last = int(first), int(last)
got = []
for line in open(path, encoding="utf-8", errors="replace"):
    ms, _, text = line.partition(" ")
    try:
        j = json.loads(text)
    except ValueError:
        print("# not JSON: %r" % line[:200]); sys.exit(1)
    if j.get("key") == key:
        got.append(j)
errors = []
want_fields = {"key", "value", "encoding", "kind", "timestamp", "source", "seq"}
for j in got:
    if set(j) != want_fields:
        errors.append("fields %s" % sorted(j)); break
seqs = [j["seq"] for j in got]
want = list(range(first, last + 1))
if seqs != want:
    s = set(seqs)
    missing = [x for x in want if x not in s]
    extra = sorted(x for x in s if x < first or x > last)
    dups = sorted({x for x in seqs if seqs.count(x) > 1})
    order = [i for i in range(1, len(seqs)) if seqs[i] <= seqs[i - 1]]
    errors.append("got %d samples, want %d (seq %d..%d)" % (len(seqs), len(want), first, last))
    if missing: errors.append("missing seq (%d): %s" % (len(missing), missing[:20]))
    if extra: errors.append("unexpected seq: %s" % extra[:20])
    if dups: errors.append("duplicated seq: %s" % dups[:20])
    if order: errors.append("out of order at positions %s (seq %s)" % (order[:10], [seqs[i] for i in order[:10]]))
srcs = {j["source"] for j in got}
if len(srcs) > 1: errors.append("several sources: %s" % srcs)
for n, j in enumerate(got):
    is_last = n == len(got) - 1
    if last_kind and is_last:
        if j["kind"] != last_kind: errors.append("last sample kind %r, want %r" % (j["kind"], last_kind))
        continue
    if j["kind"] != "put" or j["value"] != prefix + str(j["seq"]):
        errors.append("seq %s: kind %r value %r, want put %r" % (j["seq"], j["kind"], j["value"][:40], prefix + str(j["seq"])))
        break
ts = [j["timestamp"] for j in got]  # ISO 8601, fixed width: text order is time order
if ts != sorted(ts): errors.append("timestamps go backwards")
if errors:
    print("# " + "\n# ".join(errors)); sys.exit(1)
'
dat_check() {
  "$STL_PY" -c "$DAT_CHECK" "$(lan_out "$1")" "${@:2}"
}

# dat_times SUB_NAME KEY [AFTER_MS]: print "first_ms last_ms max_gap_ms max_gap_end_ms" of the
# times the subscriber read KEY's samples at (max_gap_end_ms: when the longest silence ended).
# With AFTER_MS, only samples read after then count, and the silence from AFTER_MS to the first
# of them counts as a gap.
dat_times() {
  awk -v k="\"key\":\"$2\"" -v after="${3:-}" '
    BEGIN { if (after != "") prev = after + 0 }
    index($0, k) && (after == "" || $1 + 0 >= after + 0) {
      t = $1 + 0
      if (n == 0) first = t
      if ((n > 0 || after != "") && t - prev > gap) { gap = t - prev; gap_end = t }
      prev = t; n++
    }
    END { if (n) printf "%.0f %.0f %.0f %.0f\n", first, prev, gap + 0, gap_end + 0; else print "0 0 0 0" }' \
    "$(lan_out "$1")"
}

# dat_stat NODE FIELD: a number from the "data" object of `starling status --json` (-1 if none).
dat_stat() {
  stl_status "$1" 2>/dev/null | "$STL_PY" -c '
import json, sys
try:
    print(json.load(sys.stdin)["data"][sys.argv[1]])
except Exception:
    print(-1)' "$2"
}

# dat_latency SUB_NAME PUB_NODE KEY: "median p99 max" (ms) of put-to-print latency over the
# samples of KEY put by dat_put/dat_put_bg on PUB_NODE (value index = seq) that SUB_NAME printed.
dat_latency() {
  "$STL_PY" -c '
import json, sys
sent = {}
for line in open(sys.argv[2]):
    i, t = line.split()
    sent[int(i)] = float(t)
lat = []
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    ms, _, text = line.partition(" ")
    try:
        j = json.loads(text)
    except ValueError:
        continue
    if j.get("key") == sys.argv[3] and j.get("seq") in sent:
        lat.append(float(ms) - sent[j["seq"]])
lat.sort()
if not lat:
    print("? ? ?"); sys.exit(0)
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("%.1f %.1f %.1f" % (pick(0.5), pick(0.99), lat[-1]))' "$(lan_out "$1")" "$(dat__put_log "$2" "$3")" "$3"
}
