#!/usr/bin/env bash
# Builds libgw_sample_rust.so with rustc alone (no Cargo, no crates).
#   ./build.sh            # output in this directory
#   ./build.sh /some/dir  # output in /some/dir
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here}"
mkdir -p "$out"
rustc --edition 2021 --crate-type cdylib -C opt-level=2 -C panic=unwind \
  -o "$out/libgw_sample_rust.so" "$here/src/lib.rs"
echo "built $out/libgw_sample_rust.so"
