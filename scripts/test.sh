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

# The shipped binary is built with optimizer settings the debug build above does not use
# (scripts/build-release.sh --pgo: partial specialization, off by default in the compiler,
# and profile-guided optimization), so the whole suite runs again on code optimized the
# same way, with the production build's profile, in its own build folder.
echo "== tests on the production build's optimization (scripts/build-release.sh --pgo, -enable-testing)"
if ! bash scripts/build-release.sh --pgo --build-tests --scratch-path .build/release-tests -Xswiftc -enable-testing \
  >/tmp/gw-build-release.log 2>&1; then
  grep -E "error:|pgo-train" /tmp/gw-build-release.log || tail -40 /tmp/gw-build-release.log
  exit 1
fi
grep "^pgo-train:" /tmp/gw-build-release.log || true
if ! swift test --skip-build -c release --scratch-path .build/release-tests >/tmp/gw-test-release.log 2>&1; then
  grep -E "✘|error" /tmp/gw-test-release.log | head -80
  exit 1
fi
tail -1 /tmp/gw-test-release.log
GW_BINARY=.build/release-tests/release/gw .build/python/bin/python -m pytest -q -p no:cacheprovider Tests/python
