"""Every event a bot can receive, as the services publish it and the bot gateway reshapes it,
through discord.py 2.7.1's own parsers: none may raise (a parser that raises ends the bot's
connection task), and discord.py must end up with the state a member would expect.

The events come from real service calls (captured as the gateway's store receives them), READY
and GUILD_CREATE from `bots.gateway.ready`; only the socket is left out."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from bots import gateway as bot_gateway
from bots import services
from bots.consumers import ALL_INTENTS, BotGatewayConsumer
from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from guilds.services import roles as role_services
from messaging.services import messages, reactions
from moderation.services import sanctions, timeouts
from united import events

discord = pytest.importorskip("discord")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def captured():
    seen: list[tuple[str, str, dict]] = []

    def note(event: events.Published) -> None:
        seen.append((event.group, event.t, json.loads(json.dumps(event.d))))

    events.observe(note)
    yield seen
    events.unobserve(note)


def test_every_event_parses_in_discordpy(make_user, captured):
    alice, bob = make_user("alice"), make_user("bob")
    guild = guild_services.check_create_guild(alice, name="Parsers")
    app, _ = services.do_create_application(alice, "Parser Bot")
    services.check_install(alice, app.id, guild.id, int(P.VIEW_CHANNEL | P.SEND_MESSAGES))
    ready, creates = bot_gateway.ready(
        app, "s.1", [guild.id], resume_url="ws://x/bot-gateway", shard=[0, 1], large_threshold=50
    )
    captured.clear()

    general = guild.default_channel_id
    member_services.do_add_member(guild, bob)
    hello, _ = messages.check_send_message(bob, general, content=f"hi <@{app.bot_id}>")
    messages.check_edit_message(bob, general, hello.id, content="hi again")
    reactions.check_add_reaction(bob, general, hello.id, "👍")
    messages.check_edit_message(bob, general, hello.id, content="reacted and edited")
    reactions.check_remove_reaction(bob, general, hello.id, "👍")
    messages.check_pin(alice, general, hello.id, pinned=True)
    messages.check_delete_message(bob, general, hello.id)
    channel = channel_services.check_create_channel(alice, guild.id, {"name": "more"})
    channel_services.check_update_channel(alice, channel.id, {"topic": "a topic"})
    channel_services.check_delete_channel(alice, channel.id)
    role = role_services.check_create_role(alice, guild.id, {"name": "crew"})
    role_services.check_update_role(alice, guild.id, role.id, {"color": 0x00FF00})
    member_services.check_member_role(alice, guild.id, bob.id, role.id, add=True)
    member_services.check_update_member(alice, guild.id, bob.id, {"nick": "bobby"})
    timeouts.check_timeout(alice, guild.id, bob.id, timezone.now() + timedelta(minutes=5))
    role_services.check_delete_role(alice, guild.id, role.id)
    guild_services.check_update_guild(alice, guild.id, {"name": "Parsers II"})
    sanctions.check_ban(alice, guild.id, bob.id)
    sanctions.check_unban(alice, guild.id, bob.id)

    conn = BotGatewayConsumer()
    conn.intents, conn.user_id = ALL_INTENTS, app.bot_id
    conn.members = {}
    for payload in creates:
        conn._remember_members(payload)
    frames = [("READY", ready), *(("GUILD_CREATE", g) for g in creates)]
    # What the bot's session follows: its own group and its guild's (docs/gateway.md).
    groups = {events.user_group(app.bot_id), events.guild_group(guild.id)}
    for group, t, d in captured:
        if group not in groups:
            continue
        out = conn.translate(t, d)
        if out is not None:
            frames.append((t, json.loads(json.dumps(out))))
    kinds = {t for t, _ in frames}
    for expected in (
        "MESSAGE_CREATE",
        "MESSAGE_UPDATE",
        "MESSAGE_DELETE",
        "MESSAGE_REACTION_ADD",
        "MESSAGE_REACTION_REMOVE",
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "GUILD_ROLE_CREATE",
        "GUILD_ROLE_UPDATE",
        "GUILD_ROLE_DELETE",
        "GUILD_MEMBER_ADD",
        "GUILD_MEMBER_UPDATE",
        "GUILD_MEMBER_REMOVE",
        "GUILD_UPDATE",
        "GUILD_BAN_ADD",
    ):
        assert expected in kinds, expected

    state = asyncio.run(feed(frames))
    assert state["guild_name"] == "Parsers II"
    assert state["channels"] == ["general"]
    assert state["bob_in_guild"] is False  # banned at the end
    assert state["messages_seen"] >= 1


async def feed(frames: list[tuple[str, dict]]) -> dict:
    """Hand each frame to discord.py's parser for it, as its gateway does; what it made."""
    intents = discord.Intents.all()
    client = discord.Client(intents=intents)
    await client._async_setup_hook()
    seen: list = []
    client.event(_collector(seen))
    state = client._connection
    try:
        for t, d in frames:
            state.parsers[t](d)
            if t == "GUILD_CREATE":
                await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        guild = client.guilds[0]
        return {
            "guild_name": guild.name,
            "channels": [c.name for c in guild.text_channels],
            "bob_in_guild": any(m.name == "bob" for m in guild.members),
            "messages_seen": len(seen),
        }
    finally:
        if state._ready_task is not None:
            state._ready_task.cancel()
        await client.close()


def _collector(seen: list):
    async def on_message(message) -> None:
        seen.append(message)

    return on_message
