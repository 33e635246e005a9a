#!/usr/bin/env bash
# gw fault scenarios under load (`make faults`): prints, per scenario, requests sent, successes, failures by
# cause, upstream tries per request and recovery time. Uses $GW_BIN, else .build/release/gw (built with
# scripts/build-release.sh when missing). Python 3 standard library only; bounded to about 1 minute.
set -euo pipefail
cd "$(dirname "$0")/.."
GW_BIN="${GW_BIN:-.build/release/gw}"
if [ ! -x "$GW_BIN" ]; then
  echo "faults: building gw (scripts/build-release.sh)" >&2
  bash scripts/build-release.sh --product gw >&2
fi
exec timeout 180 python3 bench/faults.py --gw-bin "$GW_BIN" "$@"
