#!/usr/bin/env bash
# Connection setups per second with and without membership (issue 14), on loopback:
#   open:   a node with no network; conn_setup dials it with a fresh identity (no proof)
#   member: a node that owns a network; conn_setup dials it as a member (its handshake carries a
#           2-certificate chain, which the node verifies against the owner key and its log, and
#           the node's proof goes the other way and is checked by the client)
# Both nodes run at once; the rounds alternate. Usage: bench/membership_setup.sh [BUILD] [COUNT] [ROUNDS]
set -euo pipefail
BUILD=${1:-build/dev}
COUNT=${2:-300}
ROUNDS=${3:-3}
S=$BUILD/bin/starling
B=$BUILD/bench/conn_setup
[[ -x $B ]] || B=$BUILD/bin/conn_setup
T=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
start() {  # NAME: a node on 127.0.0.1, port 0; prints its address
  "$S" --log-level warn node --data-dir "$T/$1" --listen /ip4/127.0.0.1/tcp/0 --no-mdns \
    >"$T/$1.out" 2>"$T/$1.err" &
  for _ in $(seq 100); do [[ $(wc -l <"$T/$1.out" 2>/dev/null || echo 0) -ge 2 ]] && break; sleep 0.05; done
  sed -n 2p "$T/$1.out"
}
open_addr=$(start open)
net_addr=$(start net)
"$S" network create --data-dir "$T/net" --name bench >/dev/null
code=$("$S" invite --data-dir "$T/net" --role member --no-qr)
"$S" --log-level warn node --data-dir "$T/client" --listen /ip4/127.0.0.1/tcp/0 --no-mdns \
  >"$T/client.out" 2>"$T/client.err" &
client=$!
for _ in $(seq 100); do [[ -S $T/client/control.sock ]] && break; sleep 0.05; done
"$S" join --data-dir "$T/client" --peer "$net_addr" "$code" >/dev/null
kill "$client"; wait "$client" 2>/dev/null || true
for r in $(seq "$ROUNDS"); do
  printf 'round %d open   %s\n' "$r" "$("$B" "$open_addr" "$COUNT")"
  printf 'round %d member %s\n' "$r" "$("$B" --data-dir "$T/client" "$net_addr" "$COUNT")"
done
