#!/usr/bin/env bash
# Idempotent setup: virtualenv, pinned Python deps, pinned npm deps, static bundle.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "error: UNITED needs Python 3.11 (found: $("$PYTHON" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing: install Node.js 20 (apt-get install -y nodejs npm)" >&2; exit 1; }
done

stamp=.venv/.united-installed
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  echo "== installing Python dependencies (requirements.lock)"
  log=$(mktemp)
  if ! .venv/bin/python -m pip install --disable-pip-version-check -r requirements.lock >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: installing Python dependencies failed (output above)" >&2
    exit 1
  fi
  rm -f "$log"
  touch "$stamp"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing npm dependencies (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ ! -f static/dist/app.js ] || [ -n "$(find static/src -newer static/dist/app.js -print -quit)" ]; then
  echo "== building the static bundle"
  npm run --silent build
fi
