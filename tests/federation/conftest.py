"""Live federation nodes: real processes on 127.0.0.1 that reach each other over plain HTTP
(FEDERATION_SCHEME=http) with loopback allowed (FEDERATION_ALLOW_PRIVATE=127.0.0.1/32).

In the PostgreSQL + Redis run each node also gets a Celery worker (with beat) and a Redis
database of its own, so one node's job messages never reach another node's worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.nodes import ROOT, Node

FED_ENV = {"FEDERATION_ALLOW_PRIVATE": "127.0.0.1/32", "FEDERATION_SCHEME": "http"}


class FedNode:
    """A started node plus what federation tests need: its worker and direct SQL reads."""

    def __init__(self, node: Node, tmp: Path) -> None:
        self.node = node
        self.tmp = tmp
        self.worker: subprocess.Popen[bytes] | None = None
        if node.production:
            self.start_worker()

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def domain(self) -> str:
        return self.node.env["FEDERATION_DOMAIN"]

    def start_worker(self) -> None:
        log = open(self.tmp / f"celery-{self.node.name}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        self.worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "united",
                "worker",
                "-B",
                "--pool=solo",
                "--loglevel=INFO",
                f"--schedule={self.tmp}/beat-{self.node.name}",
            ],
            cwd=ROOT,
            env=self.node.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: `-B` runs beat as a child, which a kill of the worker
            # alone left running after the suite (issue 29).
            start_new_session=True,
        )

    def stop_worker(self, kill: bool = False) -> None:
        if self.worker is not None and self.worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.worker.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait()
        if self.worker is not None:
            # Whatever the group left behind (beat's child) goes with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.worker.pid, signal.SIGKILL)

    def python(self, code: str) -> str:
        return self.node.python(code)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.node.production:
            import psycopg

            url = self.node.env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
            with psycopg.connect(url, autocommit=True) as conn:
                return list(conn.execute(query.replace("?", "%s"), params).fetchall())
        path = Path(self.node.env["UNITED_DATA_DIR"]) / "united.sqlite3"
        conn = sqlite3.connect(path, timeout=20)
        try:
            return list(conn.execute(query, params).fetchall())
        finally:
            conn.close()

    def logs(self) -> str:
        text = "".join(self.node.log(p) for p in dict.fromkeys(self.node.ports))
        for path in sorted(self.tmp.glob(f"celery-{self.node.name}-*.log")):
            text += path.read_text(errors="replace")
        return text[-20000:]

    def wait_for(self, what: Callable[[], bool], timeout: float = 120, message: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return
            time.sleep(0.2)
        raise AssertionError(
            f"timed out waiting for {message}\n--- node {self.node.name}:\n{self.logs()}"
        )


@pytest.fixture
def fed_node(node_factory: Callable[..., Node], tmp_path: Path) -> Iterator[Callable[..., FedNode]]:
    started: list[FedNode] = []

    def start(name: str, **env: str) -> FedNode:
        extra = {**FED_ENV, **env}
        fed = FedNode(node_factory(name, **extra), tmp_path)
        started.append(fed)
        return fed

    def start_many(*names: str, **env: str) -> list[FedNode]:
        # Nodes start in parallel: migrating a fresh database is most of a node's start-up.
        with ThreadPoolExecutor(len(names)) as pool:
            return list(pool.map(lambda name: start(name, **env), names))

    start.many = start_many  # type: ignore[attr-defined]
    yield start
    with ThreadPoolExecutor(max(len(started), 1)) as pool:  # stopping is mostly waiting
        list(pool.map(FedNode.stop_worker, started))
