"""Real PostgreSQL and Redis servers for tests and benchmarks, from the installed binaries.

Each server lives in its own temp directory on a free loopback port and is stopped (and the
directory removed) by `stop()`. PostgreSQL refuses to run as root, so as root the server runs
as the `postgres` system user (created by Debian's package). A server that cannot start
raises `ServiceUnavailable` with its log: tests fail loudly, they never skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


class ServiceUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceUnavailable(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ServiceUnavailable(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if found:
        return found[0]
    path = shutil.which(name)
    if path:
        return path
    raise ServiceUnavailable(
        f"PostgreSQL's {name} is not installed: run `sudo apt-get install -y postgresql`"
    )


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    directory: Path
    log: Path
    url: str
    extra: dict = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def kill(self) -> None:
        """Stop abruptly (crash simulation); the directory stays for a restart."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _as_postgres_user() -> dict:
    if os.geteuid() != 0:
        return {}
    import pwd

    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def start_postgres(base: Path | None = None) -> Server:
    directory = Path(tempfile.mkdtemp(prefix="united-pg-", dir=base))
    demote = _as_postgres_user()
    if demote:
        os.chown(directory, demote["user"], demote["group"])
    datadir, log = directory / "data", directory / "postgres.log"
    init = subprocess.run(
        [
            _pg_bin("initdb"),
            "-D",
            str(datadir),
            "-U",
            "united",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        **demote,
    )
    if init.returncode != 0:
        raise ServiceUnavailable(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    port = free_port()
    logfile = open(log, "wb")  # noqa: SIM115 - owned by the server object's lifetime
    if demote:
        os.chown(log, demote["user"], demote["group"])
    argv = [
        _pg_bin("postgres"),
        "-D",
        str(datadir),
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
        "-k",
        str(directory),
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=500",
    ]
    proc = subprocess.Popen(argv, stdout=logfile, stderr=subprocess.STDOUT, **demote)
    try:
        wait_for_port(port, 60, proc)
        _wait_pg_ready(port)
    except ServiceUnavailable as exc:
        proc.kill()
        raise ServiceUnavailable(f"PostgreSQL did not start: {exc}\n{log.read_text()}") from None
    url = f"postgres://united@127.0.0.1:{port}/united"
    return Server(proc, port, directory, log, url, {"argv": argv, "demote": demote})


def stop_postgres_fast(server: Server) -> None:
    """The first half of a restart (`pg_ctl stop -m fast`): every session is ended, open
    transactions are rolled back, the data directory stays for `restart_postgres`."""
    server.proc.send_signal(signal.SIGINT)
    server.proc.wait(timeout=30)


def restart_postgres(server: Server) -> None:
    """Start a stopped server of `start_postgres` again, on its port and data directory."""
    logfile = open(server.log, "ab")  # noqa: SIM115 - owned by the server object's lifetime
    server.proc = subprocess.Popen(
        server.extra["argv"], stdout=logfile, stderr=subprocess.STDOUT, **server.extra["demote"]
    )
    try:
        wait_for_port(server.port, 60, server.proc)
        _wait_pg_ready(server.port)
    except ServiceUnavailable as exc:
        server.proc.kill()
        log = server.log.read_text()
        raise ServiceUnavailable(f"PostgreSQL did not restart: {exc}\n{log}") from None


def _wait_pg_ready(port: int) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(
                f"postgresql://united@127.0.0.1:{port}/postgres", autocommit=True
            ) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname='united'").fetchone()
                if not exists:
                    conn.execute("CREATE DATABASE united")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise ServiceUnavailable("PostgreSQL accepted no connection") from None
            time.sleep(0.1)


def create_database(port: int, name: str, template: str | None = None) -> str:
    """A fresh database in the test PostgreSQL on `port` (empty, or a copy of `template`)."""
    import psycopg

    with psycopg.connect(f"postgresql://united@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return f"postgres://united@127.0.0.1:{port}/{name}"


def start_redis(base: Path | None = None, port: int | None = None) -> Server:
    binary = shutil.which("redis-server")
    if not binary:
        raise ServiceUnavailable(
            "redis-server is not installed: run `sudo apt-get install -y redis-server`"
        )
    directory = Path(tempfile.mkdtemp(prefix="united-redis-", dir=base))
    port = port or free_port()
    log = directory / "redis.log"
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--logfile",
            str(log),
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, 60, proc)
    except ServiceUnavailable as exc:
        proc.kill()
        text = log.read_text() if log.exists() else ""
        raise ServiceUnavailable(f"Redis did not start: {exc}\n{text}") from None
    return Server(proc, port, directory, log, f"redis://127.0.0.1:{port}/0")
