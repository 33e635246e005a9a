#!/usr/bin/env bash
# A Python virtualenv (.build/python) with the official openai and anthropic SDKs for the
# AI compatibility tests. Idempotent; installs python3 and venv from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/python
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  echo "setup: installing python3 and python3-venv"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements"
if ! cmp -s Tests/python/requirements.txt "$stamp"; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r Tests/python/requirements.txt
  cp Tests/python/requirements.txt "$stamp"
fi
