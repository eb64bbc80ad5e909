"""Two members chat through the gateway; a third who cannot see the channel hears nothing.

Runs the real ASGI application: in-process channel layer on the embedded run, the Redis
pub/sub layer on the PostgreSQL + Redis run."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from guilds.permissions import Permissions as P
from guilds.services import overwrites as overwrite_services
from united.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


class Session:
    def __init__(self, ws: WebsocketCommunicator, ready: dict) -> None:
        self.ws, self.ready = ws, ready

    async def next(self, timeout: float = 5) -> dict:
        return await self.ws.receive_json_from(timeout=timeout)

    async def next_of(self, t: str, timeout: float = 5) -> dict:
        while True:
            frame = await self.next(timeout)
            if frame.get("t") == t:
                return frame

    async def presence_of(self, user, timeout: float = 5) -> dict:
        while True:
            frame = await self.next_of("PRESENCE_UPDATE", timeout)
            if frame["d"]["user"]["id"] == str(user.id):
                return frame

    async def nothing(self, timeout: float = 0.5) -> bool:
        return await self.ws.receive_nothing(timeout=timeout)


async def open_session(cookie: str) -> Session:
    ws = WebsocketCommunicator(
        application,
        "/gateway",
        headers=[
            (b"origin", b"http://127.0.0.1:8000"),
            (b"host", b"127.0.0.1:8000"),
            (b"cookie", cookie.encode()),
        ],
    )
    assert (await ws.connect())[0]
    await ws.receive_json_from(timeout=5)  # HELLO
    await ws.send_json_to({"op": 2, "d": {}})
    ready = await ws.receive_json_from(timeout=5)
    assert ready["t"] == "READY"
    return Session(ws, ready)


def rest(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


async def call(user, method: str, path: str, body=None):
    def run():
        return getattr(rest(user), method)(path, body, format="json")

    response = await sync_to_async(run)()
    assert response.status_code < 300, response.content
    return response


@pytest.fixture
async def sessions(world):
    cookies = await sync_to_async(
        lambda: [cookie_for(u) for u in (world.alice, world.bob, world.carol)]
    )()
    opened = [await open_session(c) for c in cookies]
    yield opened
    for s in opened:
        await s.ws.disconnect()


async def test_members_see_each_other_and_the_outsider_sees_nothing(world, sessions):
    alice, bob, carol = sessions
    ready_guild = bob.ready["d"]["guilds"][0]
    assert str(world.channel.id) in {c["id"] for c in ready_guild["channels"]}
    carol_channels = {c["id"] for c in carol.ready["d"]["guilds"][0]["channels"]}
    assert str(world.channel.id) not in carol_channels

    base = f"/api/v1/channels/{world.channel.id}"
    sent = (await call(world.alice, "post", f"{base}/messages", {"content": "hi bob"})).json()
    created = await bob.next_of("MESSAGE_CREATE")
    assert created["d"]["content"] == "hi bob" and created["d"]["author"]["username"] == "alice"
    mid = sent["id"]

    await call(world.bob, "post", f"{base}/typing")
    typing = await alice.next_of("TYPING_START")
    assert typing["d"]["user_id"] == str(world.bob.id)

    await call(world.alice, "patch", f"{base}/messages/{mid}", {"content": "hi bob!"})
    assert (await bob.next_of("MESSAGE_UPDATE"))["d"]["content"] == "hi bob!"

    await call(world.bob, "put", f"{base}/messages/{mid}/reactions/%F0%9F%8E%89/@me")
    reaction = await alice.next_of("MESSAGE_REACTION_ADD")
    assert reaction["d"]["emoji"]["name"] == "🎉" and reaction["d"]["user_id"] == str(world.bob.id)

    await call(world.alice, "delete", f"{base}/messages/{mid}")
    assert (await bob.next_of("MESSAGE_DELETE"))["d"]["id"] == mid

    # Carol is in the guild group but may not see the channel: not one of those events.
    while not await carol.nothing(0.5):
        frame = await carol.next()
        assert frame["d"].get("channel_id") != str(world.channel.id), frame
    assert created["s"] > bob.ready["s"]


async def test_permission_change_applies_to_live_sessions(world, sessions):
    alice, bob, carol = sessions
    base = f"/api/v1/channels/{world.channel.id}"
    # Bob loses sight of the channel while connected.
    await sync_to_async(overwrite_services.check_put_overwrite)(
        world.alice,
        world.channel.id,
        world.bob.id,
        {"type": 1, "deny": str(int(P.VIEW_CHANNEL))},
    )
    await call(world.alice, "post", f"{base}/messages", {"content": "secret"})
    await alice.next_of("MESSAGE_CREATE")
    while not await bob.nothing(0.5):
        frame = await bob.next()
        assert frame["t"] != "MESSAGE_CREATE", frame


async def test_dropped_client_resumes_and_gets_every_missed_event_in_order(world, sessions):
    alice, bob, _ = sessions
    base = f"/api/v1/channels/{world.channel.id}"
    await call(world.alice, "post", f"{base}/messages", {"content": "before"})
    seen = await bob.next_of("MESSAGE_CREATE")
    await bob.ws.disconnect()

    contents = [f"missed {i}" for i in range(5)]
    for text in contents:
        await call(world.alice, "post", f"{base}/messages", {"content": text})

    cookie = await sync_to_async(cookie_for)(world.bob)
    ws = WebsocketCommunicator(
        application,
        "/gateway",
        headers=[
            (b"origin", b"http://127.0.0.1:8000"),
            (b"host", b"127.0.0.1:8000"),
            (b"cookie", cookie.encode()),
        ],
    )
    assert (await ws.connect())[0]
    await ws.receive_json_from(timeout=5)
    await ws.send_json_to(
        {"op": 6, "d": {"session_id": bob.ready["d"]["session_id"], "seq": seen["s"]}}
    )
    frames = []
    while True:
        frame = await ws.receive_json_from(timeout=5)
        frames.append(frame)
        if frame["t"] == "RESUMED":
            break
    replayed = [f["d"]["content"] for f in frames if f["t"] == "MESSAGE_CREATE"]
    assert replayed == contents
    seqs = [f["s"] for f in frames]
    assert seqs == list(range(seen["s"] + 1, seen["s"] + 1 + len(frames)))
    await ws.disconnect()
    bob.ws = ws  # the fixture disconnects it again harmlessly


async def test_joining_a_guild_starts_its_events_without_reconnecting(world, make_user):
    from guilds.services import members as member_services

    dave = await sync_to_async(make_user)("dave")
    session = await open_session(await sync_to_async(cookie_for)(dave))
    assert session.ready["d"]["guilds"] == []
    await sync_to_async(member_services.do_add_member)(world.guild, dave)
    assert (await session.next_of("GUILD_CREATE"))["d"]["id"] == str(world.guild.id)
    await call(
        world.alice,
        "post",
        f"/api/v1/channels/{world.channel.id}/messages",
        {"content": "welcome dave"},
    )
    assert (await session.next_of("MESSAGE_CREATE"))["d"]["content"] == "welcome dave"
    await session.ws.disconnect()


async def test_sends_and_deliveries_under_concurrency(world, sessions):
    alice, bob, _ = sessions
    base = f"/api/v1/channels/{world.channel.id}/messages"
    await asyncio.gather(
        *(
            call(world.alice, "post", base, {"content": f"c{i}", "nonce": f"c{i}"})
            for i in range(10)
        )
    )
    got = {(await bob.next_of("MESSAGE_CREATE"))["d"]["content"] for _ in range(10)}
    assert got == {f"c{i}" for i in range(10)}


async def test_presence_follows_connections_and_chosen_status(world):
    cookies = await sync_to_async(lambda: [cookie_for(u) for u in (world.alice, world.bob)])()
    alice = await open_session(cookies[0])
    bob_tab_1 = await open_session(cookies[1])
    online = await alice.presence_of(world.bob)
    assert (online["d"]["user"]["id"], online["d"]["status"]) == (str(world.bob.id), "online")
    # Bob's second tab changes nothing for others; his status choice does.
    bob_tab_2 = await open_session(cookies[1])
    assert "presences" in bob_tab_2.ready["d"]
    assert {p["user"]["id"] for p in bob_tab_2.ready["d"]["presences"]} >= {
        str(world.alice.id),
        str(world.bob.id),
    }
    await bob_tab_2.ws.send_json_to(
        {"op": 3, "d": {"status": "dnd", "activities": [{"type": 4, "state": "focusing"}]}}
    )
    dnd = await alice.presence_of(world.bob)
    assert dnd["d"]["status"] == "dnd" and dnd["d"]["activities"][0]["state"] == "focusing"
    # Closing one tab keeps him online; closing the last one makes him offline.
    await bob_tab_1.ws.disconnect()
    while not await alice.nothing(0.5):
        frame = await alice.next()
        assert frame["d"]["user"]["id"] != str(world.bob.id) or frame["d"]["status"] == "dnd"
    await bob_tab_2.ws.disconnect()
    offline = await alice.presence_of(world.bob)
    assert offline["d"]["status"] == "offline" and offline["d"]["activities"] == []
    await alice.ws.disconnect()
