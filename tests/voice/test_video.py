"""Camera video through a real voice worker process, with aiortc clients on 127.0.0.1: each
publisher's VP8 reaches the others on the slot the worker names, without the worker decoding it;
a member who subscribes late decodes a frame within a second because the worker relays its
keyframe request to the publisher (aiortc's encoder would otherwise send the next keyframe after
3,000 frames); stopping the camera parks the slot; renegotiation offers are answered through
the services, as the gateway does."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time

import numpy as np
import pytest

from tests.voice.video_clients import VideoClient
from united.errors import Forbidden, Invalid
from voice import rpc, services
from voice.models import VoiceState

pytestmark = pytest.mark.django_db

RED, BLUE = (220, 30, 30), (30, 30, 220)


class Offers:
    """The worker's renegotiation offers, as the node's subscriber hears them (its event stream),
    queued for the test's thread, which answers them through the services."""

    def __init__(self, loop, port: int) -> None:
        self.queue: queue.Queue = queue.Queue()
        self.ready = threading.Event()
        self.task = asyncio.run_coroutine_threadsafe(self._follow(port), loop.loop)
        assert self.ready.wait(10)

    async def _follow(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b'{"op": "subscribe"}\n')
        await writer.drain()
        await reader.readline()
        self.ready.set()
        try:
            while line := await reader.readline():
                event = json.loads(line)
                if event.get("event") == "offer":
                    self.queue.put(services.offer_event(event))
        finally:
            writer.close()

    def pump(self, loop, clients: dict, users: dict, guild) -> int:
        """Answer every offer waiting; how many there were."""
        answered = 0
        while True:
            try:
                group, t, d = self.queue.get_nowait()
            except queue.Empty:
                return answered
            assert t == "VOICE_OFFER" and d["type"] == "offer"
            name = next(n for n, u in users.items() if group == f"user.{u.id}")
            client = clients[name]
            if d["connection"] != client.connection:
                continue  # an earlier connection's offer: the client ignores it too
            sdp = loop.run(client.renegotiate(d))
            services.check_answer(users[name], guild.id, sdp, d["version"])
            answered += 1

    def stop(self) -> None:
        self.task.cancel()


def until(condition, pump=None, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pump:
            pump()
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def near(colour, rgb) -> bool:
    return colour is not None and bool(np.all(np.abs(np.asarray(colour) - rgb) < 40))


def join(loop, guild, channel, user, client: VideoClient) -> dict:
    offer = services.check_join(user, guild.id, channel.id, video=True)
    sdp = loop.run(client.answer(offer))
    services.check_answer(user, guild.id, sdp)
    return offer


def test_cameras_reach_each_other_and_a_late_joiner_gets_a_keyframe_within_a_second(
    room, client_loop, voice_worker
):
    guild, channel, users = room
    offers = Offers(client_loop, voice_worker["port"])
    clients = {"alice": VideoClient(RED), "bob": VideoClient(BLUE), "carol": VideoClient()}

    def pump() -> None:
        offers.pump(client_loop, clients, users, guild)

    try:
        for name in ("alice", "bob"):
            offer = join(client_loop, guild, channel, users[name], clients[name])
            assert offer["video"] is True and set(offer["publish"]) == {
                "camera",
                "screen",
                "screen_audio",
            }
            services.check_self_update(
                users[name], guild.id, self_mute=False, self_deaf=False, self_video=True
            )
        alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
        # Each sees the other's camera, in the other's colour, on the slot the offer names.
        until(lambda: bob.mid_of(users["alice"].id) and alice.mid_of(users["bob"].id), pump)
        until(lambda: near(bob.colour.get(bob.mid_of(users["alice"].id)), RED), pump)
        until(lambda: near(alice.colour.get(alice.mid_of(users["bob"].id)), BLUE), pump)
        state = VoiceState.objects.get(user=users["alice"])
        assert state.self_video is True
        assert services.state_payload(state)["self_video"] is True

        # Carol joins late: her first offer already has both cameras, and each renders within
        # a second of her answer (the worker asks each publisher for a keyframe).
        offer = join(client_loop, guild, channel, users["carol"], carol)
        assert {s["user_id"] for s in offer["streams"].values()} == {
            str(users["alice"].id),
            str(users["bob"].id),
        }
        until(lambda: len(carol.first_frame) == 2, pump, timeout=10)
        for name, rgb in (("alice", RED), ("bob", BLUE)):
            mid = carol.mid_of(users[name].id)
            delay = carol.first_frame[mid] - carol.subscribed[mid]
            assert delay < 1.0, (name, delay)
            until(lambda mid=mid, rgb=rgb: near(carol.colour.get(mid), rgb))
        stats = rpc.call("stats")
        detail = {p["user_id"]: p for r in stats["detail"] for p in r["participants"]}
        assert detail[str(users["alice"].id)]["keyframe_requests"] >= 1
        assert detail[str(users["alice"].id)]["publishing"] == ["camera"]
        assert detail[str(users["carol"].id)]["streams"] == 2

        # Alice turns her camera off: the others' slots for it are parked, frames stop.
        services.check_self_update(
            users["alice"], guild.id, self_mute=False, self_deaf=False, self_video=False
        )
        until(lambda: carol.mid_of(users["alice"].id) is None, pump)
        until(lambda: bob.mid_of(users["alice"].id) is None, pump)
        before = dict(carol.frames)
        time.sleep(0.5)
        pump()
        alice_mid_at_carol = [m for m in before if m not in carol.streams]
        assert alice_mid_at_carol, (before, carol.streams)
        frozen = {m: carol.frames.get(m) for m in alice_mid_at_carol}
        time.sleep(0.5)
        assert {m: carol.frames.get(m) for m in alice_mid_at_carol} == frozen
        # Bob's camera still reaches carol.
        bob_mid = carol.mid_of(users["bob"].id)
        count = carol.frames[bob_mid]
        until(lambda: carol.frames[bob_mid] > count + 5, pump)
    except AssertionError:
        print("STATS", json.dumps(rpc.call("stats"), indent=1))
        for name, client in clients.items():
            print(name, client.streams, client.frames, client.first_frame, client.subscribed)
        raise
    finally:
        offers.stop()
        for client in clients.values():
            client_loop.run(client.close())
        for state in VoiceState.objects.all():
            services.do_leave(state)


def test_video_needs_stream_and_bad_signaling_is_refused(room, client_loop, voice_worker):
    from guilds.permissions import Permissions as P
    from guilds.services import members as member_services
    from guilds.services import overwrites as overwrite_services
    from guilds.services import roles as role_services

    guild, channel, users = room
    owner = users["alice"]
    plain = role_services.check_create_role(owner, guild.id, {"name": "no video"})
    member_services.check_member_role(owner, guild.id, users["bob"].id, plain.id, add=True)
    overwrite_services.check_put_overwrite(
        owner, channel.id, plain.id, {"type": 0, "deny": str(int(P.STREAM))}
    )
    client = VideoClient(RED)
    try:
        offer = join(client_loop, guild, channel, users["bob"], client)
        assert offer["video"] is False  # the client hides its camera button
        with pytest.raises(Forbidden) as refused:
            services.check_self_update(
                users["bob"], guild.id, self_mute=False, self_deaf=False, self_stream=True
            )
        assert refused.value.code == 50013
        assert VoiceState.objects.get(user=users["bob"]).self_stream is False
        # A stale answer (no offer waits) and malformed trickle are refused with 4xx.
        with pytest.raises(rpc.WorkerRefused):
            services.check_answer(users["bob"], guild.id, "v=0\r\n", 7)
        for bad in ("a=candidate:1", "candidate:" + "x" * 600, 5, "candidate:1 1 udp\r\nx"):
            with pytest.raises(Invalid):
                services.check_candidate(users["bob"], guild.id, bad)
        with pytest.raises(Invalid):
            services.check_answer(users["bob"], guild.id, "v=0\r\n", "1")
        services.check_candidate(users["bob"], guild.id, None)  # the end of candidates
    finally:
        client_loop.run(client.close())
        for state in VoiceState.objects.all():
            services.do_leave(state)
