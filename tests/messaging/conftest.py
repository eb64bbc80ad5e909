"""A guild with a text channel, two members who can talk, and one who cannot see it."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from guilds.models import Channel
from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from guilds.services import overwrites as overwrite_services
from guilds.services import roles as role_services


@pytest.fixture
def api():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def world(make_user):
    owner = make_user("alice")
    guild = guild_services.check_create_guild(owner, name="Chat", description="")
    bob = make_user("bob")
    carol = make_user("carol")
    member_services.do_add_member(guild, bob)
    member_services.do_add_member(guild, carol)
    channel = channel_services.check_create_channel(owner, guild.id, {"name": "general", "type": 0})
    outsiders = role_services.check_create_role(owner, guild.id, {"name": "outsiders"})
    member_services.check_member_role(owner, guild.id, carol.id, outsiders.id, add=True)
    overwrite_services.check_put_overwrite(
        owner, channel.id, outsiders.id, {"type": 0, "deny": str(int(P.VIEW_CHANNEL))}
    )
    channel = Channel.objects.get(id=channel.id)

    class World:
        pass

    w = World()
    w.owner, w.alice, w.bob, w.carol, w.guild, w.channel = owner, owner, bob, carol, guild, channel
    w.outsiders = outsiders
    return w


@pytest.fixture
def drop_federation():
    """Call it to go on as a node without the federation adapter: no port implementation
    registered (docs/architecture.md, "Ports"). The adapter's registration comes back after."""
    from accounts.ports import register_remote_keys
    from e2e.ports import register_remote_devices
    from federation.apps import register_ports
    from messaging.ports import register_remote_dms
    from voice.ports import register_remote_voice

    def drop() -> None:
        for register in (
            register_remote_keys,
            register_remote_devices,
            register_remote_dms,
            register_remote_voice,
        ):
            register(None)

    yield drop
    register_ports()
