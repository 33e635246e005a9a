#!/usr/bin/env bash
# The plugin-boundary micro-benchmark: one C-ABI hook call, header get/set from a
# plugin, and whole requests through filter chains (the production build, no sockets).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-release.sh --pgo >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -shared -fPIC -ISources/PluginAPI/include \
  -o "$tmp/libgw_bench_ops.so" bench/plugins/bench_ops.c
taskset -c 1 .build/pgo/release/gw-plugin-bench "$tmp/libgw_bench_ops.so" .build/pgo/release
