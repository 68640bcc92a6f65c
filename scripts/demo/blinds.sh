#!/usr/bin/env bash
# The blinds of the demo building, as `starling reply` runs them, once per query:
#   starling reply 'building/floor2/blinds' -- scripts/demo/blinds.sh
#   starling get 'building/floor2/blinds?position=closed'    # -> building/floor2/blinds closed (were open)
# STARLING_PARAMS holds the query's parameters (position=open|half|closed; none: just report);
# what this prints is the reply, and a non-zero exit is an error reply. The position is kept
# in $BLINDS_STATE (a file), so it survives the node being restarted.
set -euo pipefail
state=${BLINDS_STATE:-/tmp/starling-blinds.state}
old=$(cat "$state" 2>/dev/null || echo open)
case ${STARLING_PARAMS:-} in
  "") echo "$old"; exit 0 ;;
  position=open | position=half | position=closed) new=${STARLING_PARAMS#position=} ;;
  *) echo "unknown parameters '$STARLING_PARAMS' (position=open|half|closed)"; exit 2 ;;
esac
sleep 0.2  # the motor runs
echo "$new" >"$state"
echo "$new (were $old)"
