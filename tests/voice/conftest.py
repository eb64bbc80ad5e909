"""A real voice worker process on a free loopback port, and aiortc clients on their own loop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from voice.ice import restrict_host_addresses

ROOT = Path(__file__).resolve().parents[2]


class Loop:
    """An asyncio loop in a thread, so sync tests can drive aiortc clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 90):  # a bound, not a wait: returns when done
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def start_worker(tmp: Path, port: int = 0) -> tuple[subprocess.Popen, int]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "united.settings",
        "UNITED_DATA_DIR": str(tmp),
        "VOICE_ICE_ADDRESSES": "127.0.0.1",
        "UNITED_MODE": "embedded",  # --standalone: the worker touches no database
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "voice_worker",
            "--standalone",
            "--listen",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"voice worker did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


@pytest.fixture(scope="session")
def voice_worker(tmp_path_factory) -> Iterator[dict]:
    proc, port = start_worker(tmp_path_factory.mktemp("voice"))
    info = {"proc": proc, "port": port}
    yield info
    info["proc"].terminate()
    info["proc"].wait(10)


@pytest.fixture(scope="session")
def client_loop() -> Iterator[Loop]:
    restrict_host_addresses(["127.0.0.1"])
    loop = Loop()
    yield loop
    loop.stop()


@pytest.fixture
def worker_settings(settings, voice_worker):
    settings.VOICE_WORKER_ADDR = ("127.0.0.1", voice_worker["port"])
    return settings


@pytest.fixture
def room(make_user, worker_settings):
    owner = make_user("alice")
    guild = guild_services.check_create_guild(owner, name="Voice", description="")
    users = {"alice": owner}
    for name in ("bob", "carol", "dave"):
        users[name] = make_user(name)
        member_services.do_add_member(guild, users[name])
    channel = channel_services.check_create_channel(
        owner, guild.id, {"name": "Lounge", "type": 2, "user_limit": 3}
    )
    return guild, channel, users
