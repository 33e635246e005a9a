#!/usr/bin/env bash
# Build gw (release) and run it on its embedded default configuration:
# proxy on 127.0.0.1:8080, admin on 127.0.0.1:9901, demo echo upstream on 127.0.0.1:8081.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/build-release.sh
exec .build/release/gw run "$@"
