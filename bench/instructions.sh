#!/usr/bin/env bash
# Instructions per proxied request under callgrind (`make bench-instructions`): gw with no
# filters and with the bench's three-filter chain. Deterministic to a fraction of a percent,
# so it shows what a change costs where wrk's requests/s on a shared VM cannot.
# Installs valgrind, nginx and binutils when missing; builds gw (release) unless $GW_BIN is set.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
need=()
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v objcopy >/dev/null 2>&1 || need+=(binutils)
command -v cc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  echo "bench-instructions: installing ${need[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -z "${GW_BIN:-}" ]; then
  swift build -c release >/dev/null
  GW_BIN=.build/release/gw
fi
exec python3 bench/instructions.py --gw-bin "$GW_BIN" "$@"
