#!/usr/bin/env bash
# Instructions per proxied request under callgrind (`make bench-instructions`): gw with no
# filters and with the bench's three-filter chain. Deterministic to a fraction of a percent,
# so it shows what a change costs where wrk's requests/s on a shared VM cannot.
# Installs valgrind, nginx and binutils when missing; builds gw (the production build, --pgo) unless $GW_BIN is set.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
source bench/apt-install.sh
need=()
have valgrind || need+=(valgrind)
have nginx || need+=(nginx-light)
have objcopy || need+=(binutils)
have cc || need+=(gcc)
apt_install bench-instructions ${need[@]+"${need[@]}"}
if [ -z "${GW_BIN:-}" ]; then
  bash scripts/build-release.sh --pgo >/dev/null
  GW_BIN=.build/pgo/release/gw
fi
exec python3 bench/instructions.py --gw-bin "$GW_BIN" "$@"
