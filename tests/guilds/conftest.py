"""Guild fixtures, built by calling the services (never raw ORM writes)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from guilds.permissions import Permissions as P
from guilds.services import guilds as guild_services
from guilds.services import members as member_services
from guilds.services import roles as role_services
from united import events


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Argon2 is deliberately slow; these tests make many users and never sign in by password.
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
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def guild(owner):
    return guild_services.check_create_guild(owner, name="Test Guild", description="A place")


@pytest.fixture
def join(guild, make_user):
    """A new user who joined `guild` (or `target`), optionally with roles."""

    def make(username: str, *roles, target=None):
        user = make_user(username)
        member_services.do_add_member(target or guild, user)
        for role in roles:
            member_services.check_member_role(
                (target or guild).owner, (target or guild).id, user.id, role.id, add=True
            )
        return user

    return make


@pytest.fixture
def make_role(guild, owner):
    def make(name: str, permissions: int = 0, *, actor=None, target=None, **extra):
        target = target or guild
        return role_services.check_create_role(
            actor or target.owner,
            target.id,
            {"name": name, "permissions": str(int(permissions)), **extra},
        )

    return make


@pytest.fixture
def admin_role(make_role):
    return make_role("Admin", P.ADMINISTRATOR)


@pytest.fixture
def published(monkeypatch):
    """Every gateway event the code under test publishes, as (group, t, d)."""
    seen: list[tuple[str, str, dict]] = []
    monkeypatch.setattr(
        events, "publish", lambda group, t, d, event_id=None: seen.append((group, t, d))
    )
    return seen


def events_named(published, t: str) -> list[tuple[str, dict]]:
    return [(group, d) for group, name, d in published if name == t]
