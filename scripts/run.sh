#!/usr/bin/env bash
# Serve a node: migrate, make sure an operator exists, check the configuration, run daphne.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export PORT

$PY manage.py migrate --noinput -v 0
$PY manage.py ensure_operator
$PY manage.py doctor
echo "== UNITED is serving on http://$HOST:$PORT (admin: /admin/, API docs: /api/docs/)"
exec .venv/bin/daphne -b "$HOST" -p "$PORT" --proxy-headers united.asgi:application
