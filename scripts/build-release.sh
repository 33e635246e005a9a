#!/usr/bin/env bash
# The release build of gw and its plugins. Exclusivity checks are off for every module,
# dependencies included (Package.swift can only turn them off for gw's own targets):
# the runtime checks cost about 3 % of the proxy's CPU per request (swift_beginAccess /
# AccessSet::insert in perf, mostly inside SwiftNIO). See docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec swift build -c release -Xswiftc -enforce-exclusivity=unchecked "$@"
