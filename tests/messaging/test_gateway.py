"""Gateway sessions through the real ASGI application (in-process layer or Redis pub/sub)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from accounts.services import check_update_profile
from messaging.gateway_sessions import store
from messaging.models import GatewayEvent
from united import events
from united.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = "http://127.0.0.1:8000"


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def cookie(alice):
    client = Client()
    client.force_login(alice)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def connect(cookie: str) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(
        application,
        "/gateway",
        headers=[
            (b"origin", ORIGIN.encode()),
            (b"host", b"127.0.0.1:8000"),
            (b"cookie", cookie.encode()),
        ],
    )
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from(timeout=5)
    assert hello["op"] == 10
    return ws


async def identify(cookie: str) -> tuple[WebsocketCommunicator, dict]:
    ws = await connect(cookie)
    await ws.send_json_to({"op": 2, "d": {}})
    ready = await ws.receive_json_from(timeout=5)
    assert ready["t"] == "READY" and ready["s"] == 1
    return ws, ready


async def recv(ws, timeout: float = 5) -> dict:
    """The next frame that is not the user's own presence (it interleaves with the rest)."""
    while True:
        frame = await ws.receive_json_from(timeout=timeout)
        if frame.get("t") != "PRESENCE_UPDATE":
            return frame


rename = sync_to_async(lambda user, name: check_update_profile(user, display_name=name))


async def test_events_arrive_in_order_with_sequence_numbers(alice, cookie):
    ws, _ = await identify(cookie)
    await rename(alice, "one")
    await rename(alice, "two")
    first, second = await recv(ws), await recv(ws)
    assert [(e["t"], e["d"]["global_name"]) for e in (first, second)] == [
        ("USER_UPDATE", "one"),
        ("USER_UPDATE", "two"),
    ]
    assert 1 < first["s"] < second["s"]
    await ws.disconnect()


async def test_resume_replays_exactly_what_was_missed(alice, cookie):
    ws, ready = await identify(cookie)
    session_id = ready["d"]["session_id"]
    await rename(alice, "seen")
    seen = await recv(ws)
    await ws.disconnect()  # the laptop sleeps

    for name in ("missed-1", "missed-2", "missed-3"):
        await rename(alice, name)

    ws = await connect(cookie)
    await ws.send_json_to({"op": 6, "d": {"session_id": session_id, "seq": seen["s"]}})
    frames = [await recv(ws) for _ in range(4)]
    assert [f["t"] for f in frames] == ["USER_UPDATE"] * 3 + ["RESUMED"]
    assert [f["s"] for f in frames] == list(range(seen["s"] + 1, seen["s"] + 5))
    assert [f["d"]["global_name"] for f in frames[:3]] == ["missed-1", "missed-2", "missed-3"]
    assert frames[3]["d"] == {"replayed": 3}
    # Live again: the next event continues the sequence, and a heartbeat's catch-up
    # does not send anything twice.
    await ws.send_json_to({"op": 1, "d": frames[3]["s"]})
    assert (await recv(ws))["op"] == 11
    await rename(alice, "live")
    live = await recv(ws)
    assert live["s"] > frames[3]["s"] and live["d"]["global_name"] == "live"
    while not await ws.receive_nothing(timeout=0.3):
        assert (await ws.receive_json_from())["t"] == "PRESENCE_UPDATE"
    await ws.disconnect()


async def test_resume_from_an_earlier_seq_resends_unconfirmed_events(alice, cookie):
    ws, ready = await identify(cookie)
    await rename(alice, "a")
    await rename(alice, "b")
    a = await recv(ws)
    await recv(ws)
    await ws.disconnect()
    # The client only processed "a" before the connection died.
    ws = await connect(cookie)
    await ws.send_json_to({"op": 6, "d": {"session_id": ready["d"]["session_id"], "seq": a["s"]}})
    replayed = await recv(ws)
    assert (replayed["t"], replayed["s"], replayed["d"]["global_name"]) == (
        "USER_UPDATE",
        a["s"] + 1,
        "b",
    )
    assert (await recv(ws))["t"] == "RESUMED"
    await ws.disconnect()


@pytest.mark.parametrize(
    "payload",
    [
        {"session_id": "0" * 32, "seq": 1},
        {"session_id": 5, "seq": 1},
        {"seq": 1},
        {"session_id": "x", "seq": -1},
    ],
)
async def test_unknown_or_malformed_resume_is_invalid_session(cookie, payload):
    ws = await connect(cookie)
    await ws.send_json_to({"op": 6, "d": payload})
    assert await recv(ws) == {"op": 9, "d": False, "s": None, "t": None}
    await ws.disconnect()


async def test_someone_elses_session_cannot_be_resumed(alice, cookie, make_user):
    ws, ready = await identify(cookie)
    await ws.disconnect()
    bob = await sync_to_async(make_user)("bob")
    client = Client()
    await sync_to_async(client.force_login)(bob)
    bob_cookie = f"sessionid={client.cookies['sessionid'].value}"
    ws = await connect(bob_cookie)
    await ws.send_json_to({"op": 6, "d": {"session_id": ready["d"]["session_id"], "seq": 1}})
    assert (await recv(ws))["op"] == 9
    await ws.disconnect()


async def test_heartbeat_catches_up_on_a_dropped_publish(alice, cookie, monkeypatch):
    ws, _ = await identify(cookie)
    # The pub/sub layer loses this one (e.g. Redis reconnecting): stored, never published.
    await asyncio.sleep(0.3)
    while not await ws.receive_nothing(timeout=0.2):
        await ws.receive_json_from()  # own presence
    monkeypatch.setattr(events, "_send", lambda group, message: None)
    await rename(alice, "dropped")
    monkeypatch.undo()
    assert await ws.receive_nothing(timeout=0.3)
    await ws.send_json_to({"op": 1, "d": 1})
    assert (await recv(ws))["op"] == 11
    caught = await recv(ws)
    assert (caught["t"], caught["d"]["global_name"]) == ("USER_UPDATE", "dropped")
    await ws.disconnect()


async def test_a_new_session_is_not_sent_what_its_ready_had(alice, cookie, monkeypatch):
    """An event stored before IDENTIFY that this process never heard (in production a process
    hears only the groups its sockets follow) is in READY; the catch-up that looks back
    COMMIT_GRACE for late commits must not send it again (discord.js counted a member twice)."""
    monkeypatch.setattr(events, "_send", lambda group, message: None)
    await rename(alice, "before ready")
    monkeypatch.undo()
    ws, ready = await identify(cookie)
    assert ready["d"]["user"]["global_name"] == "before ready"
    await ws.send_json_to({"op": 1, "d": 1})  # a heartbeat asks the hub to catch up
    seen = []
    while not await ws.receive_nothing(timeout=2):
        seen.append(await ws.receive_json_from())
    assert 11 in [f["op"] for f in seen]
    assert [f for f in seen if f.get("t") == "USER_UPDATE"] == []
    # What comes after READY still comes.
    await rename(alice, "after ready")
    got = await recv(ws)
    while got.get("t") != "USER_UPDATE":
        got = await recv(ws)
    assert got["d"]["global_name"] == "after ready"
    await ws.disconnect()


async def test_session_state_is_recorded_and_events_purged(alice, cookie):
    ws, ready = await identify(cookie)
    await rename(alice, "x")
    got = await recv(ws)
    await ws.disconnect()
    state = await store().load(ready["d"]["session_id"])
    assert state is not None and not state.connected
    assert [got["s"]] == [s for s, _ in state.sent if s == got["s"]]

    from datetime import timedelta

    from django.utils import timezone

    from messaging.gateway import purge_expired

    later = timezone.now() + timedelta(hours=2)
    await sync_to_async(purge_expired)(later)
    assert not await GatewayEvent.objects.aexists()


async def test_a_bot_identifies_with_an_access_token(alice):
    from rest_framework.test import APIClient

    def login():
        client = APIClient()
        response = client.post(
            "/api/v1/auth/login",
            {"username": "alice", "password": "correct horse battery staple"},
            format="json",
        )
        assert response.status_code == 200, response.content
        return response.json()["access_token"]

    token = await sync_to_async(login)()
    ws = WebsocketCommunicator(application, "/gateway")  # no Origin, no cookie: a program
    assert (await ws.connect())[0]
    await ws.receive_json_from(timeout=5)
    await ws.send_json_to({"op": 2, "d": {"token": token}})
    ready = await recv(ws)
    assert ready["t"] == "READY" and ready["d"]["user"]["username"] == "alice"
    await ws.disconnect()


async def test_a_cookie_without_origin_does_not_authenticate(cookie):
    ws = WebsocketCommunicator(application, "/gateway", headers=[(b"cookie", cookie.encode())])
    assert (await ws.connect())[0]
    await ws.receive_json_from(timeout=5)
    await ws.send_json_to({"op": 2, "d": {}})
    assert (await ws.receive_output(timeout=5))["code"] == 4004


@pytest.mark.parametrize(
    "d",
    [
        {"guild_id": "99999999999999999999999", "channel_id": "1"},
        {"guild_id": 2**70, "channel_id": None},
        {"guild_id": "1", "channel_id": "-5"},
        {"guild_id": True, "channel_id": "1"},
    ],
)
async def test_ids_outside_the_snowflake_range_in_a_frame_are_unknown_not_a_crash(cookie, d):
    ws, _ = await identify(cookie)
    await ws.send_json_to({"op": 4, "d": d})
    error = await recv(ws)
    assert error["t"] == "VOICE_ERROR" and error["d"]["code"] in (10003, 10004)
    await ws.send_json_to({"op": 1, "d": None})  # the socket is still served
    assert (await recv(ws))["op"] == 11
    await ws.disconnect()


async def test_a_wave_of_sessions_is_recorded_whole():
    """A thousand sockets identifying at once each write their session: none may be dropped
    (with redis-py's default pool, writes past 100 at once failed with "Too many connections",
    and those clients' RESUMEs were refused after a restart)."""
    from messaging.gateway_sessions import STORE_CONNECTIONS, SessionState

    wave = [
        SessionState(session_id=f"wave-{i}", user_id=i + 1, started_at=0.0)
        for i in range(STORE_CONNECTIONS * 8)
    ]
    await asyncio.gather(*(store().create(state) for state in wave))
    loaded = await asyncio.gather(*(store().load(state.session_id) for state in wave))
    assert [s.user_id if s else None for s in loaded] == [state.user_id for state in wave]
