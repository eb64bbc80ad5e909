"""The routes and fields discord.js reads that discord.py does not (tests/bots/test_discordjs.py
runs the real library; these pin each one down through the Django test client)."""

from __future__ import annotations

import pytest
from django.test import Client

from bots.models import Installation
from guilds.permissions import Permissions as P
from guilds.services import channels as channel_services
from guilds.services import guilds as guild_services
from tests.bots.test_api import SEND, bot_client, create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def browser(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def guild(alice):
    return guild_services.check_create_guild(alice, name="Lab")


def install(browser, guild, name: str = "Helper"):
    app, token = create(browser, name)
    done = browser.post(
        "/oauth2/authorize", {"client_id": app.id, "permissions": SEND, "guild_id": guild.id}
    )
    assert done.status_code == 302
    return app, bot_client(token)


def test_a_managed_role_names_its_bot_and_other_roles_carry_no_tags(browser, guild):
    app, bot = install(browser, guild)
    role = Installation.objects.get(application=app, guild=guild).role
    roles = {r["id"]: r for r in bot.get(f"/api/v10/guilds/{guild.id}/roles").json()}
    assert roles[str(role.id)]["tags"] == {"bot_id": str(app.bot_id)}
    assert roles[str(role.id)]["managed"] is True
    assert "tags" not in roles[str(guild.id)] and roles[str(guild.id)]["managed"] is False
    whole = bot.get(f"/api/v10/guilds/{guild.id}").json()
    assert [r["tags"] for r in whole["roles"] if "tags" in r] == [{"bot_id": str(app.bot_id)}]
    assert whole["features"] == []


def test_applications_me_is_the_application_with_its_owner(browser, guild, alice):
    # discord.js's client.application.fetch() asks /applications/@me; discord.py asks the
    # /oauth2 one.
    app, bot = install(browser, guild)
    body = bot.get("/api/v10/applications/@me").json()
    assert body["id"] == str(app.id) and body["owner"]["username"] == "alice"
    assert body == bot.get("/api/v10/oauth2/applications/@me").json()


def test_the_bots_guilds_with_its_permissions_and_paging(browser, guild, alice):
    _, bot = install(browser, guild)
    other = guild_services.check_create_guild(alice, name="Elsewhere")
    # Only where it is installed, with what its role allows there.
    [listed] = bot.get("/api/v10/users/@me/guilds").json()
    assert listed["id"] == str(guild.id) and listed["name"] == "Lab"
    assert listed["owner"] is False
    assert int(listed["permissions"]) & SEND == SEND
    assert not int(listed["permissions"]) & P.ADMINISTRATOR
    assert str(other.id) not in {g["id"] for g in bot.get("/api/v10/users/@me/guilds").json()}
    assert bot.get(f"/api/v10/users/@me/guilds?after={guild.id}").json() == []
    assert bot.get(f"/api/v10/users/@me/guilds?before={guild.id}").json() == []
    refused = bot.get("/api/v10/users/@me/guilds?limit=many")
    assert refused.status_code == 400 and refused.json()["code"] == 50035


def test_a_bot_shows_itself_typing_where_it_may_write(browser, guild, alice):
    _, bot = install(browser, guild)
    assert bot.post(f"/api/v10/channels/{guild.default_channel_id}/typing").status_code == 204
    hidden = channel_services.check_create_channel(
        alice,
        guild.id,
        {
            "name": "staff",
            "permission_overwrites": [
                {"id": str(guild.id), "type": 0, "deny": str(int(P.VIEW_CHANNEL))}
            ],
        },
    )
    refused = bot.post(f"/api/v10/channels/{hidden.id}/typing")
    assert refused.status_code == 404
    assert Client().post(f"/api/v10/channels/{guild.default_channel_id}/typing").status_code == 401
