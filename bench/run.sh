#!/usr/bin/env bash
# gw benchmark: one command (`make bench`, or `bash bench/run.sh [options]`).
#   - installs nginx, wrk and haproxy from Debian when missing (apt-get update once, then install);
#   - uses $GW_BIN, else builds gw's production build (scripts/build-release.sh --pgo, into
#     .build/pgo/release) when a gw contender is selected;
#   - raises the open-files limit, then runs bench/bench.py with the same options.
# Options: see `bash bench/run.sh --help` and bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

# ---- Debian packages ---------------------------------------------------------------------------
source bench/apt-install.sh
need=()
if ! have nginx; then
  if apt-cache show nginx-light >/dev/null 2>&1; then need+=(nginx-light); else need+=(nginx); fi
fi
have wrk || need+=(wrk)
have haproxy || need+=(haproxy)
have taskset || need+=(util-linux)
have cc || need+=(gcc)            # builds the C sample plugin when the filter plugins are absent
have python3 || need+=(python3)
apt_install bench ${need[@]+"${need[@]}"}
# Debian puts nginx and haproxy in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

# ---- does this invocation need gw? (--only without any gw* contender, or --help: no) -------------
need_gw=1
prev=""
for a in "$@"; do
  case "$a" in
    -h|--help) need_gw=0 ;;
    --only=*) [[ "${a#--only=}" == *gw* ]] || need_gw=0 ;;
  esac
  if [ "$prev" = "--only" ]; then [[ "$a" == *gw* ]] || need_gw=0; fi
  prev="$a"
done

# Without $GW_BIN: the production build (scripts/build-release.sh --pgo, profile-guided), brought
# up to date first (a no-op when it is); it also makes gw-nio-floor (the SwiftNIO reference row).
if [ "$need_gw" -eq 1 ] && [ -z "${GW_BIN:-}" ]; then
  echo "bench: building gw (scripts/build-release.sh --pgo; the first build takes ~20 min)" >&2
  source scripts/setup.sh
  bash scripts/build-release.sh --pgo >&2
fi
GW_BIN="${GW_BIN:-.build/pgo/release/gw}"
if [ "$need_gw" -eq 1 ] && [ ! -x "$GW_BIN" ]; then
  echo "bench: GW_BIN=$GW_BIN is not an executable file" >&2
  exit 1
fi

# ---- file descriptors: idle-connection test holds up to 10,000 sockets on each side --------------
hard="$(ulimit -Hn)"
if [ "$hard" != unlimited ] && [ "$hard" -lt 65536 ]; then
  ulimit -Hn 65536 2>/dev/null || true     # needs CAP_SYS_RESOURCE; bench.py caps --idle-conns otherwise
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

exec python3 bench/bench.py --gw-bin "$GW_BIN" "$@"
