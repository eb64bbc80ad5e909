"""Web client fixtures: users, a guild and a channel, built through the services."""

from __future__ import annotations

import pytest
from django.test import Client

from guilds.services import guilds as guild_services
from guilds.services import members as member_services


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def owner(make_user):
    return make_user("owner")


@pytest.fixture
def guild(owner):
    return guild_services.check_create_guild(owner, name="Test Guild", description="A place")


@pytest.fixture
def general(guild):
    return guild.channels.get(name="general")


@pytest.fixture
def member(guild, make_user):
    user = make_user("bob")
    member_services.do_add_member(guild, user)
    return user


@pytest.fixture
def browser():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
