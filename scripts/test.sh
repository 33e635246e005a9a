#!/usr/bin/env bash
# The whole test suite: ABI checks (C11/C++17 header, C and Rust samples), a build
# with warnings as errors, the Swift Testing suites, and the Swift plugins' exports.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

echo "== ABI checks"
bash scripts/check-abi.sh

echo "== build (warnings are errors)"
swift build --build-tests -Xswiftc -warnings-as-errors 2>&1 | tee /tmp/gw-build.log | grep -E "warning:|error:|Compiling gw|Build complete" || true
if grep -E "(warning|error):" /tmp/gw-build.log | grep -v "^warning: 'main'" | grep -q .; then
  echo "build produced warnings or errors" >&2
  exit 1
fi

echo "== Swift plugin exports"
GW_SWIFT_PLUGIN="$(printf '.build/debug/libgw_%s.so ' sample_swift auth rate_limit transform cache prompt_template)" bash scripts/check-abi.sh

echo "== tests"
swift test --skip-build -Xswiftc -warnings-as-errors 2>&1 | tee /tmp/gw-test.log

echo "== AI compatibility tests (official openai and anthropic SDKs against gw)"
bash scripts/python-env.sh
.build/python/bin/python -m pytest -q -p no:cacheprovider Tests/python
