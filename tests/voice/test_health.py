"""The worker's health in /readyz, and a crashed worker detected: the node's subscriber sees
the restarted worker's new boot id and asks connected members to rejoin."""

from __future__ import annotations

import time

import pytest

from tests.voice.conftest import start_worker
from voice import rpc, services
from voice.models import VoiceState

pytestmark = pytest.mark.django_db


def wait_until(condition, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_readyz_reports_the_worker_and_a_restart_makes_members_rejoin(
    client, settings, tmp_path, client_loop, monkeypatch
):
    proc, port = start_worker(tmp_path / "a")
    settings.VOICE_WORKER_ADDR = ("127.0.0.1", port)
    second = None
    subscriber = rpc.Subscriber()
    restarts = []
    monkeypatch.setattr(services, "worker_restarted", lambda: restarts.append(time.time()))
    try:
        body = client.get("/readyz").json()
        assert body["status"] == "ready"
        assert body["voice"]["status"] == "ok"
        assert body["voice"]["rooms"] == 0 and "packets_in" in body["voice"]

        async def follow() -> None:
            subscriber.ensure()

        client_loop.run(follow())
        wait_until(lambda: subscriber.boot is not None)
        first_boot = subscriber.boot

        proc.kill()  # a crash
        proc.wait(10)
        body = client.get("/readyz").json()
        assert body["status"] == "ready"  # chat still works ...
        assert body["voice"]["status"] == "unavailable"  # ... and the operator sees voice down

        second, _ = start_worker(tmp_path / "b", port)  # what run.sh's supervisor does
        wait_until(lambda: restarts)
        assert subscriber.boot != first_boot
        assert client.get("/readyz").json()["voice"]["status"] == "ok"
    finally:
        client_loop.run(_cancel(subscriber))
        for p in (proc, second):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(10)


async def _cancel(subscriber: rpc.Subscriber) -> None:
    if subscriber.task:
        subscriber.task.cancel()


def test_worker_restarted_tells_every_connected_member_to_rejoin(
    room, worker_settings, monkeypatch, django_capture_on_commit_callbacks
):
    from united import events

    guild, channel, users = room
    services.check_join(users["bob"], guild.id, channel.id)
    sent = []
    monkeypatch.setattr(
        events, "publish", lambda group, t, d, event_id=None: sent.append((group, t, d))
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.worker_restarted()
        assert sent == [
            (
                events.user_group(users["bob"].id),
                "VOICE_RECONNECT",
                {"guild_id": str(guild.id), "channel_id": str(channel.id), "reconnect": True},
            )
        ]
    finally:
        for state in VoiceState.objects.all():
            services.do_leave(state)
