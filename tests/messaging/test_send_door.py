"""The gateway's send door (op 40 → op 41): a message sent on the member's own socket, judged
from the hub's in-memory permission snapshot and moderation gate, written by its one writer,
through the real ASGI application."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from guilds.models import Role
from guilds.permissions import Permissions as P
from guilds.services import overwrites as overwrite_services
from guilds.services import roles as role_services
from messaging.models import Message
from moderation.services import automod as automod_services
from moderation.services import timeouts as timeout_services
from united.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = "http://127.0.0.1:8000"


def cookie_of(user) -> str:
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


async def socket(user, *, identify: bool = True) -> WebsocketCommunicator:
    cookie = await sync_to_async(cookie_of)(user)
    ws = WebsocketCommunicator(
        application,
        "/gateway",
        headers=[
            (b"origin", ORIGIN.encode()),
            (b"host", b"127.0.0.1:8000"),
            (b"cookie", cookie.encode()),
        ],
    )
    assert (await ws.connect())[0]
    assert (await ws.receive_json_from(timeout=5))["op"] == 10
    if identify:
        await ws.send_json_to({"op": 2, "d": {}})
        while (await ws.receive_json_from(timeout=5)).get("t") != "READY":
            pass
    return ws


async def answer(ws) -> dict:
    """The next op 41, past the dispatches that interleave with it."""
    while True:
        frame = await ws.receive_json_from(timeout=10)
        if frame["op"] == 41:
            assert frame["s"] is None and frame["t"] is None
            return frame["d"]


async def dispatch(ws, t: str) -> dict:
    while True:
        frame = await ws.receive_json_from(timeout=10)
        if frame.get("t") == t:
            return frame["d"]


async def send(ws, channel, content: str, nonce: str, **extra) -> dict:
    d = {"channel_id": str(channel.id), "content": content, "nonce": nonce, **extra}
    await ws.send_json_to({"op": 40, "d": d})
    return await answer(ws)


async def gate_dropped(guild_id: int) -> None:
    """Until no hub of this process holds the guild's moderation gate (bounded at 10 s)."""
    import asyncio
    import time

    from messaging.hub import Hub

    deadline = time.monotonic() + 10
    while any(guild_id in hub.gates for hub in list(Hub._hubs.values())):
        assert time.monotonic() < deadline, "the rule's change never reached the hub"
        await asyncio.sleep(0.02)


stored = sync_to_async(lambda **where: list(Message.objects.filter(**where)))


async def test_a_message_sent_on_the_socket_is_stored_and_reaches_the_channel(world):
    bob, owner = await socket(world.bob), await socket(world.owner)
    result = await send(bob, world.channel, "hello from the socket", "n-1")
    assert result["nonce"] == "n-1" and result["channel_id"] == str(world.channel.id)
    message = result["message"]
    assert message["content"] == "hello from the socket"
    assert message["author"]["id"] == str(world.bob.id)
    created = await dispatch(owner, "MESSAGE_CREATE")
    assert created["id"] == message["id"] and created["nonce"] == "n-1"
    rows = await stored(channel=world.channel, author=world.bob)
    assert [(str(r.id), r.content, r.nonce) for r in rows] == [
        (message["id"], "hello from the socket", "n-1")
    ]
    for ws in (bob, owner):
        await ws.disconnect()


async def test_the_same_nonce_is_one_message_whichever_door(world, api):
    bob = await socket(world.bob)
    first = (await send(bob, world.channel, "once", "same"))["message"]
    again = (await send(bob, world.channel, "once", "same"))["message"]
    assert again["id"] == first["id"]
    # The web client falls back to POST with the entry's nonce when the socket drops.
    url = f"/api/v1/channels/{world.channel.id}/messages"
    post = await sync_to_async(
        lambda: api(world.bob).post(url, {"content": "once", "nonce": "same"}, format="json")
    )()
    assert post.status_code == 200, post.content
    assert post.json()["id"] == first["id"]
    assert len(await stored(channel=world.channel, nonce="same")) == 1
    await bob.disconnect()


async def test_a_frame_before_identify_closes_the_socket_and_stores_nothing(world):
    ws = await socket(world.bob, identify=False)
    await ws.send_json_to(
        {"op": 40, "d": {"channel_id": str(world.channel.id), "content": "x", "nonce": "a"}}
    )
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4003}
    assert await stored(channel=world.channel) == []


@pytest.mark.parametrize(
    ("d", "field"),
    [
        ({"content": "no nonce"}, "nonce"),
        ({"content": "x", "nonce": "y" * 65}, "nonce"),
        ({"content": "x", "nonce": "n", "channel_id": "not-an-id"}, "channel_id"),
        ({"content": 5, "nonce": "n"}, "content"),
        ({"content": "x" * 4001, "nonce": "n"}, "content"),
    ],
)
async def test_a_malformed_send_is_answered_with_the_error_shape_and_the_socket_stays(
    world, d, field
):
    bob = await socket(world.bob)
    await bob.send_json_to({"op": 40, "d": {"channel_id": str(world.channel.id), **d}})
    result = await answer(bob)
    assert result["status"] == 400
    assert result["error"]["code"] == 50035 and field in result["error"]["errors"]
    assert "message" not in result
    await bob.send_json_to({"op": 1, "d": None})  # still open and serving
    # Dispatches may come first (production mode: the catch-up of the seconds before IDENTIFY).
    while (frame := await bob.receive_json_from(timeout=5))["op"] == 0:
        pass
    assert frame["op"] == 11
    assert await stored(channel=world.channel) == []
    await bob.disconnect()


async def test_a_channel_the_member_cannot_see_is_unknown(world):
    carol = await socket(world.carol)  # her role is denied VIEW_CHANNEL on general
    result = await send(carol, world.channel, "let me in", "c-1")
    assert result["status"] == 404 and result["error"]["code"] == 10003
    missing = await send(carol, type("C", (), {"id": 123456789})(), "anyone?", "c-2")
    assert missing["status"] == 404 and missing["error"]["code"] == 10003
    assert await stored(author=world.carol) == []
    await carol.disconnect()


async def test_without_send_messages_the_send_is_refused(world):
    bob = await socket(world.bob)
    assert "message" in await send(bob, world.channel, "before", "b-1")
    await sync_to_async(overwrite_services.check_put_overwrite)(
        world.owner,
        world.channel.id,
        world.bob.id,
        {"type": 1, "deny": str(int(P.SEND_MESSAGES))},
    )
    await dispatch(bob, "CHANNEL_UPDATE")
    result = await send(bob, world.channel, "after", "b-2")
    assert result["status"] == 403 and result["error"]["code"] == 50013
    assert [m.content for m in await stored(author=world.bob)] == ["before"]
    await bob.disconnect()


async def test_a_role_change_takes_effect_on_the_next_send(world):
    """The snapshot the door judges from is dropped by the role's event: taking SEND_MESSAGES
    from @everyone refuses bob's next message; a role that grants it lets him speak again."""
    bob = await socket(world.bob)
    assert "message" in await send(bob, world.channel, "one", "r-1")
    everyone = await Role.objects.aget(id=world.guild.id)
    await sync_to_async(role_services.check_update_role)(
        world.owner,
        world.guild.id,
        everyone.id,
        {"permissions": str(int(everyone.permissions) & ~int(P.SEND_MESSAGES))},
    )
    await dispatch(bob, "GUILD_ROLE_UPDATE")
    refused = await send(bob, world.channel, "two", "r-2")
    assert refused["status"] == 403 and refused["error"]["code"] == 50013

    def speaker() -> None:
        from guilds.services.members import check_member_role

        role = role_services.check_create_role(
            world.owner,
            world.guild.id,
            {"name": "speaker", "permissions": str(int(P.SEND_MESSAGES | P.VIEW_CHANNEL))},
        )
        check_member_role(world.owner, world.guild.id, world.bob.id, role.id, add=True)

    await sync_to_async(speaker)()
    await dispatch(bob, "GUILD_MEMBER_UPDATE")
    assert (await send(bob, world.channel, "three", "r-3"))["message"]["content"] == "three"
    assert [m.content for m in await stored(author=world.bob)] == ["one", "three"]
    await bob.disconnect()


async def test_a_timed_out_member_is_refused_from_the_held_gate(world):
    bob = await socket(world.bob)
    assert "message" in await send(bob, world.channel, "fine", "t-1")  # the gate is held now
    until = timezone.now() + timedelta(minutes=10)
    await sync_to_async(timeout_services.check_timeout)(
        world.owner, world.guild.id, world.bob.id, until
    )
    await dispatch(bob, "GUILD_MEMBER_UPDATE")
    result = await send(bob, world.channel, "still here?", "t-2")
    assert result["status"] == 403 and result["error"]["code"] == timeout_services.TIMED_OUT
    assert result["error"]["errors"]["communication_disabled_until"]
    assert [m.content for m in await stored(author=world.bob)] == ["fine"]
    await bob.disconnect()


async def test_a_new_automod_rule_applies_to_the_next_send(world):
    """Rules have no dispatch of their own: their change drops the held gate everywhere."""
    bob = await socket(world.bob)
    assert "message" in await send(bob, world.channel, "free coins? no", "a-1")
    await sync_to_async(automod_services.check_create_rule)(
        world.owner,
        world.guild.id,
        {"name": "no coins", "type": "keyword", "config": {"words": ["coin*"]}, "action": "block"},
    )
    # The change reaches the hub as a message (at once in embedded mode; over Redis in
    # production, where a send racing it by a millisecond is as concurrent as it looks).
    await gate_dropped(world.guild.id)
    result = await send(bob, world.channel, "free coins here", "a-2")
    assert result["status"] == 400 and result["error"]["code"] == automod_services.AUTOMOD_BLOCKED
    assert [m.content for m in await stored(author=world.bob)] == ["free coins? no"]
    await bob.disconnect()


async def test_the_message_rate_limit_applies_on_the_socket(world, settings):
    limit = 3  # the suite raises every limit; the node's default is 5 per 5 s
    settings.UNITED_RATE_LIMITS = {**settings.UNITED_RATE_LIMITS, "message.channel": (limit, 60)}
    bob = await socket(world.bob)
    for i in range(limit):
        assert "message" in await send(bob, world.channel, f"m{i}", f"l-{i}")
    result = await send(bob, world.channel, "one too many", "l-over")
    assert result["status"] == 429 and result["error"]["code"] == 20028
    assert result["error"]["retry_after"] > 0
    assert len(await stored(author=world.bob)) == limit
    await bob.disconnect()


async def test_a_dm_on_the_socket_gets_what_the_api_answers(world, api):
    """A channel the hub holds nothing about goes to the full service, as a POST does: a
    plaintext DM is refused the same way by both doors."""
    from messaging.services.dms import check_open_dm

    dm, _ = await sync_to_async(check_open_dm)(world.bob, world.owner.id)
    bob = await socket(world.bob)
    result = await send(bob, dm, "plaintext", "d-1")
    url = f"/api/v1/channels/{dm.id}/messages"
    post = await sync_to_async(
        lambda: api(world.bob).post(url, {"content": "plaintext", "nonce": "d-2"}, format="json")
    )()
    assert 400 <= post.status_code < 500
    assert (result["status"], result["error"]) == (post.status_code, post.json())
    assert await stored(channel=dm) == []
    await bob.disconnect()


async def test_an_encrypted_channel_refuses_plaintext_on_the_socket_as_over_rest(world, api):
    """The hub holds the member's access to the channel, so the door skips the row reads; the
    end-to-end encrypted (MLS) channel still takes no plaintext, answered as a POST is."""
    from e2e import mls

    bob = await socket(world.bob)
    # Warm: the hub holds the guild's permissions before the channel turns encrypted.
    assert "message" in await send(bob, world.channel, "before", "m-0")
    await sync_to_async(mls.do_enable)(world.channel, world.owner)
    result = await send(bob, world.channel, "plaintext after", "m-1")
    url = f"/api/v1/channels/{world.channel.id}/messages"
    post = await sync_to_async(
        lambda: api(world.bob).post(url, {"content": "plaintext after", "nonce": "m-2"}, "json")
    )()
    assert post.status_code == 400
    assert (result["status"], result["error"]) == (post.status_code, post.json())
    assert [m.content for m in await stored(channel=world.channel)] == ["before"]
    await bob.disconnect()
