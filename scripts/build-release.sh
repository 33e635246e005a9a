#!/usr/bin/env bash
# The release build of gw and its plugins, with two optimizer settings for every module,
# dependencies included (Package.swift can only set flags for gw's own targets). Every
# script that builds a release binary (run, bench, faults, the release-mode tests) builds
# through this one, so they share one build and its flags. See docs/performance.md.
#
# -enforce-exclusivity=unchecked: no dynamic exclusivity checks (as SwiftNIO's own
#   benchmarks build); they cost about 3 % of the proxy's CPU per request
#   (swift_beginAccess / AccessSet::insert, mostly inside SwiftNIO).
# -sil-partial-specialization: lets the optimizer specialize a generic call for the type
#   arguments it knows while others stay generic. Without it SwiftNIO's stream channel,
#   a generic class, unwraps every write with an unspecialized `unwrapData<Self, IOData>`:
#   a generic-metadata lookup and a dynamic cast, ~600 instructions and ~55 L1i misses per
#   write, two writes per proxied request. It is an optimizer option that is off by
#   default, so `scripts/test.sh` also runs the whole suite on code built with it.
set -euo pipefail
cd "$(dirname "$0")/.."
exec swift build -c release \
  -Xswiftc -enforce-exclusivity=unchecked \
  -Xswiftc -Xllvm -Xswiftc -sil-partial-specialization \
  "$@"
