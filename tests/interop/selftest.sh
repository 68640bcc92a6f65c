#!/bin/sh
# Install the pinned js-libp2p peer from package-lock.json (if needed) and run
# the js<->js self-test. Last line of output: "N passed, M failed".
set -eu
cd "$(dirname "$0")"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node selftest.mjs "$@"
