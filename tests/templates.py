"""One migrated database that every test database and every live node starts from.

Migrating a fresh database costs about ten seconds of CPU. The suite needs one per test
process (pytest-django's test database) and one per live node, so the first process to ask
migrates a template (under a file lock) and everyone else copies it: a SQLite file, or a
PostgreSQL `CREATE DATABASE ... TEMPLATE`. The pytest controller creates the shared directory
(`UNITED_TEST_SHARED_DIR`, see tests/conftest.py) and its xdist workers inherit it; in the
PostgreSQL + Redis run they share one PostgreSQL server too (tests/settings_services.py).
Migrations themselves are still exercised: by the template's `migrate` and by
`makemigrations --check` in `scripts/test.sh`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.services import ServiceUnavailable, create_database

ROOT = Path(__file__).resolve().parent.parent
# Variables of the test process that must not leak into a node or the template's migrate.
NODE_ENV_KEYS = {
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "UNITED_MODE",
    "UNITED_DATA_DIR",
    "PORT",
    "FEDERATION_DOMAIN",
    "UNITED_EMBEDDED_RUNNER",
}
PG_TEMPLATE = "united_template"
_thread_lock = threading.RLock()  # fixtures start several nodes from threads
_own_dir: str | None = None


def pg_port() -> int | None:
    port = os.environ.get("UNITED_TEST_PG_PORT")
    return int(port) if port else None


def _shared_dir() -> Path:
    global _own_dir
    shared = os.environ.get("UNITED_TEST_SHARED_DIR")
    if shared:
        return Path(shared)
    if _own_dir is None:  # outside pytest (a benchmark): this process alone
        _own_dir = tempfile.mkdtemp(prefix="united-test-shared-")
    return Path(_own_dir)


@contextmanager
def locked() -> Iterator[Path]:
    """Held by one thread of one test process at a time (creating databases from the
    template too: PostgreSQL refuses to copy a template someone is connected to)."""
    directory = _shared_dir()
    with _thread_lock, open(directory / "template.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield directory
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _migrate(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise ServiceUnavailable(f"migrate failed for the template database:\n{result.stderr}")


def _ensure(directory: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in NODE_ENV_KEYS}
    env["DJANGO_SETTINGS_MODULE"] = "united.settings"
    data = Path(tempfile.mkdtemp(prefix="template-", dir=directory))
    env["UNITED_DATA_DIR"] = str(data)
    port = pg_port()
    if port is not None:
        done = directory / f"template-pg-{port}"
        if not done.exists():
            env["DATABASE_URL"] = create_database(port, PG_TEMPLATE)
            env["REDIS_URL"] = os.environ["REDIS_URL"]
            env["UNITED_SECRET_KEY"] = "template-secret-key-0123456789abcdef"
            _migrate(env)
            done.touch()
        shutil.rmtree(data, ignore_errors=True)
        return PG_TEMPLATE
    path = directory / "template.sqlite3"
    if not path.exists():
        _migrate(env)
        # WAL mode lives in the file header; a checkpoint folds the log into the file.
        import sqlite3

        conn = sqlite3.connect(data / "united.sqlite3")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        os.replace(data / "united.sqlite3", path)
    shutil.rmtree(data, ignore_errors=True)
    return str(path)


def migrated() -> str:
    """The template: a SQLite file path, or a PostgreSQL database name."""
    with locked() as directory:
        return _ensure(directory)


def copy_sqlite(target: Path) -> None:
    with locked() as directory:
        shutil.copyfile(_ensure(directory), target)


def create_pg_copy(name: str) -> str:
    """A database `name` copied from the template; returns its URL."""
    port = pg_port()
    assert port is not None
    with locked() as directory:
        return create_database(port, name, template=_ensure(directory))
