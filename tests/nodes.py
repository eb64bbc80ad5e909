"""Real UNITED nodes for live tests: a migrated database + daphne in child processes.

A node gets its own data directory and port, and a database copied from the suite's migrated
template (tests/templates.py: migrating costs seconds of CPU). In the PostgreSQL + Redis run
of the suite (`UNITED_TEST_PG_PORT` set) that database lives in the test PostgreSQL and the
node uses the test Redis; otherwise it runs the embedded default. `add_process()` starts another web
process of the same node (same database and Redis), which only makes sense in production mode.
"""

from __future__ import annotations

import itertools
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests import templates
from tests.services import ServiceUnavailable, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def services_mode() -> bool:
    return bool(os.environ.get("UNITED_TEST_PG_PORT"))


# Each node of a test process gets a Redis database of its own (1..15; the test process keeps
# 0): its rate-limit counters, cache, job queue and gateway bus never meet another node's or
# the test's. Two nodes on one database added up their sign-ins per address, and a Celery
# worker of one node could take the other's jobs.
_redis_db = itertools.count()


def own_redis_url() -> str:
    import redis

    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    url = f"{base}/{next(_redis_db) % 15 + 1}"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()  # what a node of an earlier module left there
    finally:
        client.close()
    return url


class Node:
    def __init__(
        self,
        name: str,
        directory: Path,
        extra_env: dict[str, str] | None = None,
        *,
        port: int | None = None,
        database_url: str | None = None,
    ):
        """`port` brings a node back on the address its peers know (a restore);
        `database_url` gives it that PostgreSQL database instead of a template copy."""
        self.name = name
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        port = port or free_port()
        env = {k: v for k, v in os.environ.items() if k not in templates.NODE_ENV_KEYS}
        env.update(
            UNITED_DATA_DIR=str(directory / "data"),
            PORT=str(port),
            FEDERATION_DOMAIN=f"127.0.0.1:{port}",
            DJANGO_SETTINGS_MODULE="united.settings",
            PYTHONUNBUFFERED="1",
        )
        if services_mode():
            env["DATABASE_URL"] = database_url or templates.create_pg_copy(f"node_{name}_{port}")
            if "REDIS_URL" not in (extra_env or {}):
                env["REDIS_URL"] = own_redis_url()
            env["UNITED_SECRET_KEY"] = f"live-node-{name}-secret-key-0123456789abcdef"
            env["UNITED_HTTPS"] = "false"  # loopback tests speak plain HTTP
        env.update(extra_env or {})
        self.env = env
        self._first_port = port
        self._runner: subprocess.Popen[bytes] | None = None
        self._runner_env: dict[str, str] = {}
        self._runner_lock = threading.Lock()

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

    def python(self, code: str, timeout: float = 120) -> str:
        """Run Python inside the node's Django (a separate, long-lived process: see
        tests/noderunner.py); returns its stdout. A snippet that raises fails the test with
        the snippet's traceback."""
        with self._runner_lock:
            runner = self._runner
            if runner is None or runner.poll() is not None or self._runner_env != self.env:
                self._stop_runner()
                runner = self._runner = subprocess.Popen(
                    [sys.executable, "-m", "tests.noderunner"],
                    cwd=ROOT,
                    env=self.env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=open(self.directory / "runner.log", "ab"),  # noqa: SIM115
                )
                self._runner_env = dict(self.env)
            assert runner.stdin is not None and runner.stdout is not None
            data = code.encode()
            runner.stdin.write(f"{len(data)}\n".encode() + data)
            runner.stdin.flush()
            if not select.select([runner.stdout], [], [], timeout)[0]:
                self._stop_runner()
                raise AssertionError(f"node {self.name}: snippet still running after {timeout}s")
            header = runner.stdout.readline()
            if not header:
                log = (self.directory / "runner.log").read_text(errors="replace")
                self._runner = None
                raise AssertionError(f"node {self.name}: the Python runner died:\n{log[-5000:]}")
            status, length = (int(x) for x in header.split())
            out = runner.stdout.read(length).decode()
        if status:
            raise AssertionError(f"node {self.name}: snippet failed:\n{code}\n{out}")
        return out.strip()

    def _stop_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None and runner.poll() is None:
            runner.stdin.close()  # type: ignore[union-attr]
            try:
                runner.wait(timeout=10)
            except subprocess.TimeoutExpired:
                runner.kill()
                runner.wait()

    def start(self) -> Node:
        if not self.production:
            data = Path(self.env["UNITED_DATA_DIR"])
            data.mkdir(parents=True, exist_ok=True)
            if not (data / "united.sqlite3").exists():
                templates.copy_sqlite(data / "united.sqlite3")
        self.add_process(self._first_port)
        return self

    def add_process(self, port: int | None = None) -> str:
        port = port or free_port()
        log = open(self.directory / f"daphne-{port}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "united.serve",  # daphne, as `make run` starts it (united/serve.py)
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        self.ports.append(port)
        try:
            wait_for_port(port, 120, proc)
            self._wait_ready(f"http://127.0.0.1:{port}")
        except ServiceUnavailable:
            raise ServiceUnavailable(f"node {self.name} did not start:\n{self.log(port)}") from None
        return f"http://127.0.0.1:{port}"

    def _wait_ready(self, url: str) -> None:
        deadline = time.monotonic() + 60
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
        with self._runner_lock:
            self._stop_runner()
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
