"""Sanctions reach live gateway sessions at once (real ASGI app, real channel layer)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from moderation.models import GuildBan
from tests.messaging.test_realtime_chat import cookie_for, open_session, rest

pytestmark = pytest.mark.django_db(transaction=True)


async def post(user, path: str, body=None):
    return await sync_to_async(lambda: rest(user).post(path, body, format="json"))()


async def test_timed_out_session_sees_the_update_and_its_send_is_refused(world):
    w = world
    bob = await open_session(await sync_to_async(cookie_for)(w.bob))
    until = (timezone.now() + timedelta(minutes=10)).isoformat()
    response = await sync_to_async(
        lambda: rest(w.mo).patch(
            f"/api/v1/guilds/{w.guild.id}/members/{w.bob.id}",
            {"communication_disabled_until": until},
            format="json",
        )
    )()
    assert response.status_code == 200, response.content
    frame = await bob.next_of("GUILD_MEMBER_UPDATE")
    assert frame["d"]["user"]["id"] == str(w.bob.id)
    assert frame["d"]["communication_disabled_until"] is not None
    refused = await post(w.bob, f"/api/v1/channels/{w.channel.id}/messages", {"content": "hi"})
    assert refused.status_code == 403
    await bob.ws.disconnect()


async def test_banned_session_stops_hearing_the_guild_and_cannot_rejoin(world):
    w = world
    bob = await open_session(await sync_to_async(cookie_for)(w.bob))
    carol = await open_session(await sync_to_async(cookie_for)(w.carol))
    base = f"/api/v1/channels/{w.channel.id}/messages"
    await post(w.alice, base, {"content": "before"})
    assert (await bob.next_of("MESSAGE_CREATE"))["d"]["content"] == "before"
    assert (await carol.next_of("MESSAGE_CREATE"))["d"]["content"] == "before"

    ban = await sync_to_async(
        lambda: rest(w.sam).put(f"/api/v1/guilds/{w.guild.id}/bans/{w.bob.id}", {}, format="json")
    )()
    assert ban.status_code == 204
    assert (await bob.next_of("GUILD_DELETE"))["d"]["id"] == str(w.guild.id)

    await post(w.alice, base, {"content": "after the ban"})
    assert (await carol.next_of("MESSAGE_CREATE"))["d"]["content"] == "after the ban"
    while not await bob.nothing(0.5):
        frame = await bob.next()
        assert frame["d"].get("guild_id") != str(w.guild.id) or frame["t"] == "GUILD_DELETE", frame
    # A heartbeat's catch-up from the event store does not bring the guild back either.
    await bob.ws.send_json_to({"op": 1, "d": None})
    while not await bob.nothing(0.5):
        frame = await bob.next()
        assert frame["op"] == 11 or frame["d"].get("guild_id") != str(w.guild.id), frame

    rejoin = await post(w.bob, f"/api/v1/invites/{w.invite.code}")
    assert rejoin.status_code == 403
    assert await sync_to_async(GuildBan.objects.filter(user=w.bob).exists)()
    await bob.ws.disconnect()
    await carol.ws.disconnect()
