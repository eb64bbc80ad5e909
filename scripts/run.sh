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
# The voice worker (aiortc SFU) is its own process; a crash is restarted here, and the node
# tells connected members to rejoin the new one (docs/voice.md).
(
    trap 'kill "$child" 2>/dev/null; exit 0' TERM INT
    while true; do
        $PY manage.py voice_worker &
        child=$!
        wait "$child" || true
        echo "== voice worker exited; restarting in 1 s" >&2
        sleep 1
    done
) &
VOICE_SUPERVISOR=$!
trap 'kill "$VOICE_SUPERVISOR" 2>/dev/null' EXIT
echo "== UNITED is serving on http://$HOST:$PORT (admin: /admin/, API docs: /api/docs/)"
$PY -m united.serve -b "$HOST" -p "$PORT"
