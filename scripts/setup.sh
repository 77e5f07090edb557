#!/usr/bin/env bash
# Idempotent setup: virtual env, requirements, embedded probe network, demo corpora, test browser.
# Usage: scripts/setup.sh   (called by ./run.sh and ./test.sh; safe to run again, skips done steps)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp_dir=.venv/.alignscope
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

"$PY" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' || {
  echo "AlignScope needs Python >= 3.11 (found $($PY --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  say "creating virtual environment .venv"
  "$PY" -m venv .venv
fi
mkdir -p "$stamp_dir"
req_hash=$(cat requirements.txt requirements-nodeps.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp_dir/requirements" 2>/dev/null)" != "$req_hash" ]; then
  say "installing Python requirements (a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
  echo "$req_hash" > "$stamp_dir/requirements"
else
  say "Python requirements up to date"
fi

# Debian packages: Chromium for the browser tests. Needs root (or sudo) and apt; skipped otherwise.
SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo -n"
if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Debian chromium (browser tests)"
    $SUDO apt-get update -qq || true
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || say "could not install chromium; browser tests will be skipped"
  fi
else
  say "no root apt: skipping chromium (browser tests) and Debian corpora need: python -m core corpora install"
fi

say "preparing the embedded probe network (SmolLM2-135M, converted once to cache/models)"
.venv/bin/python -m core model prepare
say "installing demo corpora (Debian corpora need apt; missing ones are listed as not installed)"
.venv/bin/python -m core corpora install --allow-missing | sed 's/^/  /'
say "counting the corpora's tokens once (cached, so that listings never estimate the built-in corpora)"
.venv/bin/python -m core corpora count > /dev/null || say "some corpora could not be counted (listed with their error)"
say "done"
