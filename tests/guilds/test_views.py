"""Server-rendered pages: the invite landing page and the directory."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from guilds.models import Channel, Member
from guilds.services import guilds as guild_services
from guilds.services import invites as invite_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def code(guild, owner):
    general = Channel.objects.get(guild=guild, name="general")
    return invite_services.check_create_invite(owner, general.id, {}).code


def assert_strict_csp_friendly(html: str) -> None:
    assert "style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert "<style" not in html


def test_landing_page_for_a_visitor(code, guild):
    response = Client().get(f"/invite/{code}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Test Guild" in html and "1 member" in html
    assert f'href="/register/?next=%2Finvite%2F{code}"' in html
    assert f'href="/login/?next=%2Finvite%2F{code}"' in html
    assert "css/guilds.css" in html
    assert "Content-Security-Policy" in response.headers
    assert_strict_csp_friendly(html)


def test_visitor_post_goes_to_login(code):
    response = Client().post(f"/invite/{code}")
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=%2Finvite%2F{code}"


def test_signed_in_user_joins_from_the_page(code, guild, make_user):
    user = make_user("visitor")
    client = Client()
    client.force_login(user)
    page = client.get(f"/invite/{code}").content.decode()
    assert "Join Test Guild" in page and "csrfmiddlewaretoken" in page
    response = client.post(f"/invite/{code}")
    assert response.status_code == 302 and response["Location"] == f"/invite/{code}"
    assert Member.objects.filter(guild=guild, user=user).exists()
    after = client.get(f"/invite/{code}").content.decode()
    assert "You are a member" in after and "2 members" in after


def test_page_for_a_banned_user(code, guild, owner, make_user):
    from moderation.services import do_ban

    user = make_user("banned")
    do_ban(guild, owner, user)
    client = Client()
    client.force_login(user)
    response = client.post(f"/invite/{code}")
    assert response.status_code == 403
    assert "banned" in response.content.decode()


def test_unknown_invite_page(client):
    response = client.get("/invite/nope")
    assert response.status_code == 404
    assert "Invite invalid" in response.content.decode()


def test_directory_page(owner, guild, client):
    guild_services.check_update_guild(
        owner, guild.id, {"discoverable": True, "tags": ["gardening"]}
    )
    hidden = guild_services.check_create_guild(owner, name="Not listed")
    html = client.get("/directory/?tag=gardening&sort=members").content.decode()
    assert "Test Guild" in html and "#gardening" in html and hidden.name not in html
    assert_strict_csp_friendly(html)
    assert client.get("/directory/?sort=bogus").status_code == 400
