"""`make run` (scripts/run.sh) side by side, as the README tells operators to do it.

Two nodes with different PORT and UNITED_DATA_DIR each get their own voice worker (its
default port is derived from PORT), and both answer /readyz with a working voice worker. A
web port that is already taken stops the script with one clear line and a non-zero exit,
before it claims to serve.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import templates
from tests.services import free_port
from united.config import voice_port_for

pytestmark = [pytest.mark.live, pytest.mark.mode_independent]
ROOT = Path(__file__).resolve().parents[2]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def node_port() -> int:
    """A free web port whose derived voice port is free too."""
    for _ in range(100):
        port = free_port()
        if port_is_free(voice_port_for(port)):
            return port
    raise AssertionError("no free pair of ports")


def run_env(data: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in templates.NODE_ENV_KEYS}
    env.pop("VOICE_WORKER_ADDR", None)
    env.pop("UNITED_SECRET_KEY", None)
    env.update(UNITED_DATA_DIR=str(data), PORT=str(port), HOST="127.0.0.1")
    return env


def start(tmp_path: Path, name: str, port: int) -> subprocess.Popen:
    data = tmp_path / name
    data.mkdir()
    templates.copy_sqlite(data / "united.sqlite3")  # migrate then has nothing to do
    log = (tmp_path / f"{name}.log").open("wb")
    # Its own session, so the whole script (daphne, the voice supervisor, the worker) is
    # stopped by its process group id at the end.
    return subprocess.Popen(
        ["scripts/run.sh"],
        cwd=ROOT,
        env=run_env(data, port),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:  # the voice worker is in the same group; make sure nothing of it outlives the test
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def voice_of(port: int, proc: subprocess.Popen, log: Path) -> dict:
    deadline = time.monotonic() + 150
    last: object = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
            last = response.json()
            if response.status_code == 200 and last["voice"]["status"] == "ok":
                return last["voice"]
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"no working voice worker on :{port}: {last}\n{log.read_text()[-3000:]}")


@pytest.fixture
def side_by_side(tmp_path) -> Iterator[list[tuple[int, subprocess.Popen]]]:
    nodes: list[tuple[int, subprocess.Popen]] = []
    try:
        for name in ("a", "b"):
            port = node_port()
            nodes.append((port, start(tmp_path, name, port)))
        yield nodes
    finally:
        for _, proc in nodes:
            stop(proc)


def test_two_nodes_side_by_side_both_have_working_voice(side_by_side, tmp_path):
    (port_a, proc_a), (port_b, proc_b) = side_by_side
    voice_a = voice_of(port_a, proc_a, tmp_path / "a.log")
    voice_b = voice_of(port_b, proc_b, tmp_path / "b.log")
    assert voice_a["status"] == voice_b["status"] == "ok"
    # Each worker listens on its own node's derived port, and stays up (no restart loop).
    for port in (port_a, port_b):
        assert not port_is_free(voice_port_for(port))
    time.sleep(2)
    for name in ("a", "b"):
        assert "voice worker exited" not in (tmp_path / f"{name}.log").read_text()


def test_a_taken_web_port_stops_run_with_one_clear_line(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        data = tmp_path / "data"
        data.mkdir()
        result = subprocess.run(
            ["scripts/run.sh"],
            cwd=ROOT,
            env=run_env(data, port),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode != 0
    assert "UNITED is serving" not in result.stdout
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines == [
        f"error: the web port 127.0.0.1:{port} is already in use (Address already in use); "
        "to run another node beside it, set PORT and UNITED_DATA_DIR"
    ]


def test_a_taken_voice_port_stops_run_with_one_clear_line(tmp_path):
    port = node_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", voice_port_for(port)))
        squatter.listen()
        data = tmp_path / "data"
        data.mkdir()
        templates.copy_sqlite(data / "united.sqlite3")
        result = subprocess.run(
            ["scripts/run.sh"],
            cwd=ROOT,
            env=run_env(data, port),
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode != 0
    assert "UNITED is serving" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: the voice worker's port (VOICE_WORKER_ADDR) 127.0.0.1:{voice_port_for(port)} "
        "is already in use (Address already in use); "
        "to run another node beside it, set PORT and UNITED_DATA_DIR"
    ]
    assert port_is_free(port)  # daphne never started
