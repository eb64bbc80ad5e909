"""Real UNITED nodes for live tests: a migrated database + daphne in child processes.

A node gets its own data directory and port. Migrating takes seconds of CPU, so each test
process migrates once into a template (a SQLite file, or a PostgreSQL template database) and
every node starts from a copy of it; migrations themselves are exercised by the suite's own
test database and by `makemigrations --check`. In the PostgreSQL + Redis run of the suite
(`UNITED_TEST_PG_PORT` set) it also gets its own database in the test PostgreSQL and the
test Redis; otherwise it runs the embedded default. `add_process()` starts another web
process of the same node (same database and Redis), which only makes sense in production mode.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.services import ServiceUnavailable, create_database, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def services_mode() -> bool:
    return bool(os.environ.get("UNITED_TEST_PG_PORT"))


_NODE_ENV_KEYS = {
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "UNITED_MODE",
    "UNITED_DATA_DIR",
    "PORT",
    "FEDERATION_DOMAIN",
    "UNITED_EMBEDDED_RUNNER",
}
_templates: dict[str, str] = {}
_templates_lock = threading.RLock()  # fixtures start several nodes from threads


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
        raise ServiceUnavailable(f"migrate failed for the node template:\n{result.stderr}")


def migrated_template() -> str:
    """This process's migrated template: a SQLite file path, or a PostgreSQL database name."""
    with _templates_lock:
        return _migrated_template()


def _migrated_template() -> str:
    key = "pg" if services_mode() else "sqlite"
    if key in _templates:
        return _templates[key]
    env = {k: v for k, v in os.environ.items() if k not in _NODE_ENV_KEYS}
    env["DJANGO_SETTINGS_MODULE"] = "united.settings"
    data = Path(tempfile.mkdtemp(prefix="united-node-template-"))
    env["UNITED_DATA_DIR"] = str(data)
    if services_mode():
        name = f"node_template_{os.getpid()}"
        env["DATABASE_URL"] = create_database(int(os.environ["UNITED_TEST_PG_PORT"]), name)
        env["REDIS_URL"] = os.environ["REDIS_URL"]
        env["UNITED_SECRET_KEY"] = "node-template-secret-key-0123456789abcdef"
        _migrate(env)
        _templates[key] = name
    else:
        _migrate(env)
        _templates[key] = str(data / "united.sqlite3")
    return _templates[key]


class Node:
    def __init__(self, name: str, directory: Path, extra_env: dict[str, str] | None = None):
        self.name = name
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in _NODE_ENV_KEYS}
        env.update(
            UNITED_DATA_DIR=str(directory / "data"),
            PORT=str(port),
            FEDERATION_DOMAIN=f"127.0.0.1:{port}",
            DJANGO_SETTINGS_MODULE="united.settings",
            PYTHONUNBUFFERED="1",
        )
        if services_mode():
            with _templates_lock:  # one CREATE DATABASE at a time from this process
                env["DATABASE_URL"] = create_database(
                    int(os.environ["UNITED_TEST_PG_PORT"]),
                    f"node_{name}_{port}",
                    template=migrated_template(),
                )
            env["REDIS_URL"] = os.environ["REDIS_URL"]
            env["UNITED_SECRET_KEY"] = f"live-node-{name}-secret-key-0123456789abcdef"
            env["UNITED_HTTPS"] = "false"  # loopback tests speak plain HTTP
        env.update(extra_env or {})
        self.env = env
        self._first_port = port

    @property
    def production(self) -> bool:
        return "DATABASE_URL" in self.env

    def manage(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def python(self, code: str) -> str:
        """Run Python inside the node's Django (a separate process); returns its stdout."""
        return self.manage("shell", "--no-imports", "-v", "0", "-c", code).stdout.strip()

    def start(self) -> Node:
        if not self.production:
            data = Path(self.env["UNITED_DATA_DIR"])
            data.mkdir(parents=True, exist_ok=True)
            if not (data / "united.sqlite3").exists():
                shutil.copyfile(migrated_template(), data / "united.sqlite3")
        self.add_process(self._first_port)
        return self

    def add_process(self, port: int | None = None) -> str:
        port = port or free_port()
        log = open(self.directory / f"daphne-{port}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "united.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        self.ports.append(port)
        try:
            wait_for_port(port, 60, proc)
            self._wait_ready(f"http://127.0.0.1:{port}")
        except ServiceUnavailable:
            raise ServiceUnavailable(f"node {self.name} did not start:\n{self.log(port)}") from None
        return f"http://127.0.0.1:{port}"

    def _wait_ready(self, url: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise ServiceUnavailable(f"{url}/readyz never answered 200")

    def log(self, port: int | None = None) -> str:
        path = self.directory / f"daphne-{port or self.ports[0]}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def create_user(self, username: str, password: str, *, staff: bool = False) -> None:
        code = (
            "from accounts.models import User;"
            f"u = User.objects.create_user({username!r}, password={password!r});"
            f"u.is_staff = {staff!r}; u.save()"
        )
        self.python(code)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def login(client: httpx.Client, username: str, password: str) -> None:
    """Sign in through the real login form, leaving the session cookie in `client`."""
    page = client.get("/login/")
    page.raise_for_status()
    token = client.cookies.get("csrftoken")
    response = client.post(
        "/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token,
            "next": "/",
        },
    )
    if response.status_code != 302:
        raise AssertionError(f"login failed: {response.status_code} {response.text[:300]}")
