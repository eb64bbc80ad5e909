# UNITED node: `make run` serves the embedded default; `make test` runs the whole suite.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: run test setup setup-dev lint format static migrate worker beat bench clean

run: setup  ## set up and serve the embedded default on http://127.0.0.1:$${PORT:-8000}
	@scripts/run.sh

test:  ## set up (Debian packages, venv, npm) and run the whole suite on both run modes
	@scripts/test.sh

setup:  ## virtualenv + Python and npm dependencies + static bundle
	@scripts/setup.sh

lint: setup  ## ruff, the one direction of dependencies ([tool.importlinter]) and mypy ([tool.mypy])
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	.venv/bin/mypy

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

worker:  ## production: a Celery worker (DATABASE_URL and REDIS_URL set)
	.venv/bin/celery -A united worker --loglevel=INFO

beat:  ## production: Celery beat (one per node)
	.venv/bin/celery -A united beat --loglevel=INFO

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .venv node_modules static/dist
