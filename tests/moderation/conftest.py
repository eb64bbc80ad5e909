"""A guild with an owner, a senior moderator who may ban, a moderator who may not, and two
ordinary members; built by calling the services."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from guilds.permissions import Permissions as P
from guilds.services import invites as invite_services
from tests.worlds import local_world
from united import events

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
    w = local_world(
        make_user,
        guild="Mod Town",
        members=("sam", "mo", "bob", "carol"),
        channels=("general", "memes"),
        # Roles are created at position 1, so the one created first ends up higher.
        roles={"Senior": SENIOR_PERMS, "Mods": MOD_PERMS},
        member_roles={"sam": "Senior", "mo": "Mods"},
    )
    w.other = w.channels["memes"]
    w.senior_role, w.mod_role = w.roles["Senior"], w.roles["Mods"]
    w.invite = invite_services.check_create_invite(w.owner, w.channel.id, {"max_age": 0})
    return w


@pytest.fixture
def published(monkeypatch):
    seen: list[tuple[str, str, dict]] = []
    monkeypatch.setattr(
        events, "publish", lambda group, t, d, event_id=None: seen.append((group, t, d))
    )
    return seen
