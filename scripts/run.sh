#!/usr/bin/env bash
# Serve a node: migrate, make sure an operator exists, check the configuration, run daphne.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
export PORT

# A port another program (or another node) holds stops us here, in one line, before anything
# claims to serve: daphne would otherwise log a listen failure after the banner, and a voice
# worker on a taken port would fail and be restarted for ever.
port_free() {  # host port what
    $PY - "$@" <<'PY'
import socket
import sys

host, port, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as daphne binds
    try:
        probe.bind((host, port))
    except OSError as exc:
        sys.exit(
            f"error: {what} {host}:{port} is already in use ({exc.strerror}); "
            "to run another node beside it, set PORT and UNITED_DATA_DIR"
        )
PY
}
port_free "$HOST" "$PORT" "the web port"

$PY manage.py migrate --noinput -v 0
$PY manage.py ensure_operator
$PY manage.py doctor
# Derived from PORT unless VOICE_WORKER_ADDR is set (united/config.py: voice_port_for).
VOICE_ADDR=$($PY -c 'from united.config import load; h, p = load().voice_worker_addr; print(h, p)')
port_free $VOICE_ADDR "the voice worker's port (VOICE_WORKER_ADDR)"
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
