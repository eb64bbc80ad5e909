"""Temporary membership (issue 21): a member who joined through a `temporary` invite leaves the
guild when their last session ends — signed out, revoked or expired — unless they were given a
role meanwhile, as on Discord. Driven through the API and the browser's sign-in and sign-out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import tasks
from guilds.models import Member
from messaging.models import GatewayEvent
from united import events

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"  # make_user's


def sign_in(username: str) -> tuple[APIClient, dict]:
    client = APIClient()
    response = client.post(
        "/api/v1/auth/login", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    tokens = response.json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    return client, tokens


@pytest.fixture
def temporary_invite(owner, guild):
    client, _ = sign_in(owner.username)
    general = guild.channels.get(name="general")
    response = client.post(f"/api/v1/channels/{general.id}/invites", {"temporary": True}, "json")
    assert response.status_code == 201 and response.json()["temporary"] is True
    return response.json()["code"]


def guild_ids(client: APIClient) -> set[str]:
    response = client.get("/api/v1/users/@me/guilds")
    assert response.status_code == 200
    return {g["id"] for g in response.json()}


def test_the_membership_ends_with_the_last_session(make_user, owner, guild, temporary_invite):
    bob = make_user("bob")
    phone, _ = sign_in("bob")
    laptop, laptop_tokens = sign_in("bob")
    joined = phone.post(f"/api/v1/invites/{temporary_invite}")
    assert joined.status_code == 200
    member = phone.get(f"/api/v1/guilds/{guild.id}/members/{bob.id}").json()
    assert member["temporary"] is True
    assert str(guild.id) in guild_ids(laptop)

    assert phone.post("/api/v1/auth/logout").status_code == 204
    assert str(guild.id) in guild_ids(laptop)  # signed in elsewhere: still a member

    revoked = laptop.delete(f"/api/v1/users/@me/sessions/{laptop_tokens['session_id']}")
    assert revoked.status_code == 204
    assert not Member.objects.filter(guild=guild, user=bob).exists()
    owner_client, _ = sign_in(owner.username)
    members = owner_client.get(f"/api/v1/guilds/{guild.id}/members?limit=100").json()
    assert str(bob.id) not in {m["user"]["id"] for m in members}
    # What the guild's gateway subscribers are sent (and can replay on RESUME).
    removed = GatewayEvent.objects.filter(
        group=events.guild_group(guild.id), t="GUILD_MEMBER_REMOVE"
    )
    assert [e.d["user"]["id"] for e in removed] == [str(bob.id)]
    # Signing in again does not bring the membership back.
    again, _ = sign_in("bob")
    assert str(guild.id) not in guild_ids(again)


def test_a_member_given_a_role_stays(make_user, owner, guild, temporary_invite, make_role):
    bob = make_user("bob")
    client, _ = sign_in("bob")
    assert client.post(f"/api/v1/invites/{temporary_invite}").status_code == 200
    role = make_role("regulars")
    owner_client, _ = sign_in(owner.username)
    given = owner_client.put(f"/api/v1/guilds/{guild.id}/members/{bob.id}/roles/{role.id}")
    assert given.status_code == 204
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert Member.objects.filter(guild=guild, user=bob, temporary=False).exists()


def test_an_ordinary_membership_survives_signing_out(make_user, guild, join):
    carol = join("carol")
    client, _ = sign_in("carol")
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert Member.objects.filter(guild=guild, user=carol).exists()


def test_an_expired_session_ends_the_membership(make_user, guild, temporary_invite, monkeypatch):
    bob = make_user("bob")
    client, _ = sign_in("bob")
    assert client.post(f"/api/v1/invites/{temporary_invite}").status_code == 200
    tasks.purge_expired_tokens()  # nothing has expired yet
    assert Member.objects.filter(guild=guild, user=bob).exists()
    later = timezone.now() + timedelta(days=31)  # past the refresh token's 30 days
    monkeypatch.setattr(timezone, "now", lambda: later)
    tasks.purge_expired_tokens()
    assert not Member.objects.filter(guild=guild, user=bob).exists()
    sessions = client.get("/api/v1/users/@me/sessions")
    assert sessions.status_code == 401  # the session is over for the client too


def test_signing_out_of_the_browser_ends_it_too(make_user, guild, temporary_invite):
    bob = make_user("bob")
    browser = Client()
    signed_in = browser.post("/login/", {"username": "bob", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert browser.post(f"/api/v1/invites/{temporary_invite}").status_code == 200
    assert Member.objects.filter(guild=guild, user=bob, temporary=True).exists()
    assert browser.post("/logout/").status_code == 302
    assert not Member.objects.filter(guild=guild, user=bob).exists()
