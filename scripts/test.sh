#!/usr/bin/env bash
# The whole suite: system packages, setup, then pytest on the embedded default and again on
# PostgreSQL + Redis (started by the tests themselves on loopback). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v turnserver >/dev/null || need+=(coturn)
command -v chromium >/dev/null || need+=(chromium)
{ command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1; } || need+=(docker-compose)
command -v caddy >/dev/null || need+=(caddy)  # tests/united/test_deploy.py adapts deploy/Caddyfile
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "== installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
    # Debian starts the packaged servers; the tests run their own on free ports.
    for svc in redis-server postgresql coturn caddy; do
      command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null || true
      command -v service >/dev/null && service "$svc" stop >/dev/null 2>&1 || true
    done
  else
    echo "error: missing Debian packages. Run:  sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

scripts/setup.sh
echo "== migrations match the models"
UNITED_DATA_DIR=$(mktemp -d) .venv/bin/python manage.py makemigrations --check --dry-run
# Four workers by default on two cores: much of the suite waits on sockets, child processes
# and browsers (a two-worker run kept the CPUs only half busy).
# `loadgroup` keeps each module that shares live nodes or a browser (xdist_group) on one
# worker, so its module fixtures start once.
workers=${PYTEST_WORKERS:-4}
echo "== suite on the embedded default (SQLite, in-process layer), $workers workers"
.venv/bin/python -m pytest -n "$workers" --dist loadgroup --durations=15 "$@"
echo "== suite on PostgreSQL + Redis (production mode), $workers workers"
.venv/bin/python -m pytest -n "$workers" --dist loadgroup --durations=15 --ds=tests.settings_services "$@"
