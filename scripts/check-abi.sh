#!/usr/bin/env bash
# check-abi.sh -- checks the plugin ABI promise (see docs/plugin-abi.md):
#   (a) gw_plugin.h compiles standalone as C11 (gcc, clang) and C++17 (g++,
#       clang++) with -Wall -Wextra -Werror -pedantic; so does the layout check
#       Sources/PluginAPI/gw_plugin_abi_check.c;
#   (b) the C sample builds with plain cc, needs no Swift library and exports
#       exactly gw_plugin_entry_v1;
#   (c) the same for the Rust sample, if rustc is installed;
#   (d) if GW_SWIFT_PLUGIN names Swift-built plugins (space-separated, e.g.
#       .build/debug/libgw_sample_swift.so), each exports exactly the entry symbol.
# Prints one line per check; exits non-zero if any check fails.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

INCLUDE=Sources/PluginAPI/include
ENTRY=gw_plugin_entry_v1
STRICT=(-Wall -Wextra -Werror -pedantic)

tmp="$(mktemp -d "${TMPDIR:-/tmp}/gw-check-abi.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

failures=0
ok() { printf 'ok    %s\n' "$1"; }
fail() {
  printf 'FAIL  %s\n' "$1"
  if [[ -s "$tmp/log" ]]; then sed 's/^/      /' "$tmp/log"; fi
  failures=$((failures + 1))
}
skip() { printf 'skip  %s\n' "$1"; }

# run DESCRIPTION COMMAND...: run quietly; print ok or FAIL with its output.
run() {
  local what="$1"
  shift
  if "$@" >"$tmp/log" 2>&1; then ok "$what"; else fail "$what"; fi
  : >"$tmp/log"
}

have() { command -v "$1" >/dev/null 2>&1; }

# Defined dynamic function symbols of a shared library, one per line, sorted.
# nm -D --defined-only prints "ADDRESS TYPE NAME"; NAME may carry a version
# ("sym@@VERS" or "sym@VERS"). Function-like types: T/t (text), W (weak),
# i (GNU ifunc). _init/_fini are the linker's, not the plugin's.
exported_functions() {
  nm -D --defined-only "$1" |
    awk 'NF >= 3 && $2 ~ /^[TtWi]$/ { sub(/@.*/, "", $3); print $3 }' |
    grep -v -x -e _init -e _fini |
    sort -u || true
}

# check_exports LABEL FILE: the only exported function is the entry symbol.
check_exports() {
  local label="$1" file="$2" got
  got="$(exported_functions "$file" | tr '\n' ' ' | sed 's/ $//')"
  if [[ "$got" == "$ENTRY" ]]; then
    ok "$label exports exactly $ENTRY"
  else
    printf 'exported functions: %s\n' "${got:-<none>}" >"$tmp/log"
    fail "$label exports exactly $ENTRY"
  fi
  : >"$tmp/log"
}

# check_no_swift LABEL FILE: no NEEDED entry on a Swift runtime library.
check_no_swift() {
  local label="$1" file="$2" needed bad
  needed="$(readelf -d "$file" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
  bad="$(grep -E '^lib(swift|Foundation|dispatch|BlocksRuntime)' <<<"$needed" || true)"
  if [[ -z "$bad" ]]; then
    ok "$label needs no Swift library (NEEDED: $(tr '\n' ' ' <<<"$needed" | sed 's/ $//'))"
  else
    printf 'unexpected NEEDED: %s\n' "$bad" >"$tmp/log"
    fail "$label needs no Swift library"
  fi
  : >"$tmp/log"
}

# --- (a) the header, standalone -------------------------------------------------
printf '#include "gw_plugin.h"\nint gw_check_abi_dummy;\n' >"$tmp/header.c"
cp "$tmp/header.c" "$tmp/header.cpp"

for cc in gcc clang; do
  if have "$cc"; then
    run "gw_plugin.h compiles as C11 with $cc -pedantic" \
      "$cc" -std=c11 "${STRICT[@]}" -I "$INCLUDE" -c "$tmp/header.c" -o "$tmp/header-$cc.o"
    run "gw_plugin_abi_check.c compiles with $cc" \
      "$cc" -std=c11 "${STRICT[@]}" -I "$INCLUDE" -c Sources/PluginAPI/gw_plugin_abi_check.c -o "$tmp/abi-check-$cc.o"
  elif [[ "$cc" == gcc ]]; then
    echo "gcc is required" >"$tmp/log"
    fail "gcc present"
  else
    skip "$cc not installed"
  fi
done

for cxx in g++ clang++; do
  if have "$cxx"; then
    run "gw_plugin.h compiles as C++17 with $cxx -pedantic" \
      "$cxx" -std=c++17 "${STRICT[@]}" -I "$INCLUDE" -c "$tmp/header.cpp" -o "$tmp/header-$cxx.o"
  elif [[ "$cxx" == g++ ]]; then
    echo "g++ is required" >"$tmp/log"
    fail "g++ present"
  else
    skip "$cxx not installed"
  fi
done

# --- (b) the C sample, with plain cc --------------------------------------------
c_lib="$tmp/libgw_sample_c.so"
run "C sample builds with plain cc" \
  cc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC -fvisibility=hidden \
  -I "$INCLUDE" -o "$c_lib" sample-plugins/c-hello/hello.c
if [[ -f "$c_lib" ]]; then
  check_no_swift "C sample" "$c_lib"
  check_exports "C sample" "$c_lib"
fi

# --- (c) the Rust sample ----------------------------------------------------------
if have rustc; then
  rust_dir="$tmp/rust"
  run "Rust sample builds with rustc ($(rustc --version | cut -d' ' -f2))" \
    sample-plugins/rust-hello/build.sh "$rust_dir"
  if [[ -f "$rust_dir/libgw_sample_rust.so" ]]; then
    check_no_swift "Rust sample" "$rust_dir/libgw_sample_rust.so"
    check_exports "Rust sample" "$rust_dir/libgw_sample_rust.so"
  fi
else
  skip "rustc not installed: Rust sample not checked"
fi

# --- (d) a Swift-built plugin, if given -----------------------------------------
if [[ -n "${GW_SWIFT_PLUGIN:-}" ]]; then
  for plugin in $GW_SWIFT_PLUGIN; do
    if [[ -f "$plugin" ]]; then
      check_exports "Swift plugin $(basename "$plugin")" "$plugin"
    else
      echo "no such file: $plugin" >"$tmp/log"
      fail "Swift plugin present"
    fi
  done
else
  skip "GW_SWIFT_PLUGIN not set: Swift plugin exports not checked"
fi

if ((failures > 0)); then
  printf '%d check(s) failed\n' "$failures"
  exit 1
fi
echo "all ABI checks passed"
