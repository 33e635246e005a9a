#!/usr/bin/env bash
# The release builds of gw and its plugins. Every script that builds a release binary goes
# through this one, so builds that share a folder share their flags. See docs/performance.md
# and docs/decisions.md (23, 24).
#
#   scripts/build-release.sh [swift build args]         optimized build in .build/release
#   scripts/build-release.sh --pgo [swift build args]   the production build: profile-guided,
#                                                        in .build/pgo/release (unless the
#                                                        args give a --scratch-path)
#
# Both pass two optimizer settings to every module, dependencies included (Package.swift
# can only set flags for gw's own targets):
# -enforce-exclusivity=unchecked: no dynamic exclusivity checks (as SwiftNIO's own
#   benchmarks build); they cost about 3 % of the proxy's CPU per request
#   (swift_beginAccess / AccessSet::insert, mostly inside SwiftNIO).
# -sil-partial-specialization: lets the optimizer specialize a generic call for the type
#   arguments it knows while others stay generic. Without it SwiftNIO's stream channel,
#   a generic class, unwraps every write with an unspecialized `unwrapData<Self, IOData>`:
#   a generic-metadata lookup and a dynamic cast, ~600 instructions and ~55 L1i misses per
#   write, two writes per proxied request. It is an optimizer option that is off by
#   default, so `scripts/test.sh` also runs the whole suite on code built with it.
#
# --pgo (profile-guided optimization, LLVM's IR-level instrumentation):
#   1. builds an instrumented gw and the three plugins the training runs in
#      .build/pgo-instrumented (Swift: -ir-profile-generate; the C code it links, llhttp,
#      BoringSSL and NIO's shims: -fprofile-generate; the toolchain's profile runtime linked in);
#   2. runs it under scripts/pgo-train.py (~15 s of a fixed traffic mix on 127.0.0.1:
#      plain proxying, the built-in filter chain, the AI API plain and streamed, TLS);
#   3. merges the counts (the toolchain's llvm-profdata) into .build/pgo-profile/gw-<hash>.profdata,
#      <hash> being a hash of the sources, so a source change makes a new profile and the
#      final build, whose flags then name another file, recompiles with it;
#   4. builds with -ir-profile-use (and -fprofile-use for C): the compiler keeps the request
#      path's code together, its rare branches out of line, and inlines by the counts. gw's
#      per-request code overflows the CPU's 32 KiB instruction cache much less: 45 % fewer L1i
#      misses per request without filters, 29 % fewer with the chain (docs/performance.md).
#   Steps 1-3 run only when the sources changed since the last profile.
#   The Swift driver does not pass -ir-profile-generate/-use on (6.3.1): they go through
#   -Xfrontend, and the profile runtime is linked by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

flags=(-c release
  -Xswiftc -enforce-exclusivity=unchecked
  -Xswiftc -Xllvm -Xswiftc -sil-partial-specialization)

if [ "${1:-}" != "--pgo" ]; then
  exec swift build "${flags[@]}" "$@"
fi
shift
# The training run needs python3 (and the build what it always needs).
source scripts/setup.sh

toolchain_bin="$(dirname "$(readlink -f "$(command -v swiftc)")")"
profdata_tool="$toolchain_bin/llvm-profdata"
runtime="$(ls "$toolchain_bin"/../lib/clang/*/lib/linux/libclang_rt.profile-"$(uname -m)".a 2>/dev/null | head -1 || true)"
if [ ! -x "$profdata_tool" ] || [ -z "$runtime" ]; then
  echo "build-release: --pgo needs the Swift toolchain's llvm-profdata and libclang_rt.profile" \
    "(looked in $toolchain_bin and $toolchain_bin/../lib/clang/*/lib/linux)" >&2
  exit 1
fi

# What the profile depends on: every target of the package (dependencies are pinned by
# Package.swift), the training mix and this script's flags.
fingerprint="$(find Package.swift Sources Plugins Benchmarks sample-plugins/swift-hello scripts/pgo-train.py scripts/build-release.sh -type f \( -name '*.swift' -o -name '*.c' -o -name '*.h' -o -name '*.modulemap' -o -name '*.py' -o -name '*.sh' \) \
  -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
profile_dir="$PWD/.build/pgo-profile"
profile="$profile_dir/gw-$fingerprint.profdata"

# Both halves name a file-local function (a closure's thunk, a C `static` function) in the profile
# by its object file's name only: by default LLVM prefixes the whole path, which contains the
# build folder, so the instrumented build's names would not match the final build's and those
# functions would get no counts. Swift and C (llhttp, BoringSSL, NIO's shims) alike.
# And the Swift frontend reuses an object file when a module's IR before LLVM's passes is
# unchanged (the hash it keeps covers neither the profile nor -Xllvm options): a new profile
# with unchanged sources would leave objects optimized with the old one. Every Swift module of
# a profile-guided build goes through LLVM.
pgo_flags=(-Xswiftc -Xllvm -Xswiftc -static-func-full-module-prefix=false
  -Xcc -mllvm -Xcc -static-func-full-module-prefix=false
  -Xswiftc -Xfrontend -Xswiftc -disable-incremental-llvm-codegen)

if [ ! -f "$profile" ]; then
  echo "build-release: profile-guided build: instrumented build (.build/pgo-instrumented)" >&2
  rm -rf "$profile_dir/raw"
  mkdir -p "$profile_dir/raw"
  # Only what the training runs: gw and the three filters of its chain. Code built without
  # instrumentation has no records in the profile and is optimized as without one (the cache
  # and prompt_template plugins, the benchmarks), rather than as code the training never ran.
  for product in gw gw_auth gw_rate_limit gw_transform; do
    swift build "${flags[@]}" "${pgo_flags[@]}" --scratch-path .build/pgo-instrumented --product "$product" \
      -Xswiftc -Xfrontend -Xswiftc "-ir-profile-generate=$profile_dir/raw/default.profraw" \
      -Xcc -fprofile-generate -Xlinker "$runtime" -Xlinker -u__llvm_profile_runtime
  done
  echo "build-release: profile-guided build: training run (scripts/pgo-train.py)" >&2
  python3 scripts/pgo-train.py --gw-bin .build/pgo-instrumented/release/gw --profile-dir "$profile_dir/raw"
  "$profdata_tool" merge -o "$profile.tmp" "$profile_dir"/raw/*.profraw
  rm -f "$profile_dir"/gw-*.profdata
  mv "$profile.tmp" "$profile"
  rm -rf "$profile_dir/raw"
fi

scratch=(--scratch-path .build/pgo)
for a in "$@"; do
  case "$a" in --scratch-path | --scratch-path=*) scratch=() ;; esac
done
echo "build-release: profile-guided build with $profile" >&2
exec swift build "${flags[@]}" "${pgo_flags[@]}" "${scratch[@]}" \
  -Xswiftc -Xfrontend -Xswiftc "-ir-profile-use=$profile" -Xcc "-fprofile-use=$profile" "$@"
