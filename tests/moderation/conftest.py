"""A guild with an owner, a senior moderator who may ban, a moderator who may not, and two
ordinary members; built by calling the services."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from rest_framework.test import APIClient

from guilds.models import Channel
from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from guilds.services import invites as invite_services
from guilds.services import members as member_services
from guilds.services import roles as role_services
from messaging import events

MOD_PERMS = P.KICK_MEMBERS | P.MODERATE_MEMBERS | P.MANAGE_MESSAGES | P.VIEW_AUDIT_LOG
SENIOR_PERMS = MOD_PERMS | P.BAN_MEMBERS


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api():
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def world(make_user):
    owner = make_user("alice")
    guild = guild_services.check_create_guild(owner, name="Mod Town", description="")
    channel = channel_services.check_create_channel(owner, guild.id, {"name": "general", "type": 0})
    other = channel_services.check_create_channel(owner, guild.id, {"name": "memes", "type": 0})
    # Roles are created at position 1, so the one created first ends up higher.
    senior_role = role_services.check_create_role(
        owner, guild.id, {"name": "Senior", "permissions": str(int(SENIOR_PERMS))}
    )
    mod_role = role_services.check_create_role(
        owner, guild.id, {"name": "Mods", "permissions": str(int(MOD_PERMS))}
    )
    w = SimpleNamespace(owner=owner, alice=owner, guild=guild)
    w.channel = Channel.objects.get(id=channel.id)
    w.other = Channel.objects.get(id=other.id)
    w.senior_role, w.mod_role = senior_role, mod_role
    for name, role in (("sam", senior_role), ("mo", mod_role), ("bob", None), ("carol", None)):
        user = make_user(name)
        member_services.do_add_member(guild, user)
        if role is not None:
            member_services.check_member_role(owner, guild.id, user.id, role.id, add=True)
        setattr(w, name, user)
    w.invite = invite_services.check_create_invite(owner, w.channel.id, {"max_age": 0})
    return w


@pytest.fixture
def published(monkeypatch):
    seen: list[tuple[str, str, dict]] = []
    monkeypatch.setattr(
        events, "publish", lambda group, t, d, event_id=None: seen.append((group, t, d))
    )
    return seen
