#!/usr/bin/env bash
# Installs what gw needs to build and test on Debian (run as root; idempotent).
set -euo pipefail

need=()
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
dpkg -s libpcre2-dev >/dev/null 2>&1 || need+=(libpcre2-dev)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The profile-guided build's training run (scripts/pgo-train.py) and the SDK tests.
command -v python3 >/dev/null 2>&1 || need+=(python3)
# Tests start their own redis-server instances (cluster mode of the shared store).
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  if [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
  else
    echo "setup: a Swift 6.1+ toolchain is required (https://www.swift.org/install/linux/)" >&2
    exit 1
  fi
fi
