from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from guilds.models import Channel, Invite, Member
from guilds.permissions import Permissions as P
from moderation.models import AuditLogEntry
from moderation.services import do_ban
from tests.guilds.conftest import events_named
from united import events
from united.audit import AuditLogEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def general(guild):
    return Channel.objects.get(guild=guild, name="general")


@pytest.fixture
def invite(api, owner, general):
    def make(**data):
        response = api(owner).post(f"/api/v1/channels/{general.id}/invites", data, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make


def test_create_invite_shape_and_event(
    api, owner, guild, general, settings, published, django_capture_on_commit_callbacks
):
    settings.FEDERATION_DOMAIN = "chat.example"
    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).post(
            f"/api/v1/channels/{general.id}/invites",
            {"max_age": 3600, "max_uses": 5},
            format="json",
        )
    body = response.json()
    assert response.status_code == 201
    assert re.fullmatch(r"[A-Za-z0-9_-]{8,}", body["code"])
    assert body["url"] == f"https://chat.example/invite/{body['code']}"
    assert body["uri"] == f"web+united://invite/chat.example/{body['code']}"
    assert body["guild"]["id"] == str(guild.id) and body["channel"]["id"] == str(general.id)
    assert body["max_uses"] == 5 and body["uses"] == 0 and body["max_age"] == 3600
    assert body["inviter"]["id"] == str(owner.id)
    [(group, payload)] = events_named(published, "INVITE_CREATE")
    assert group == events.guild_group(guild.id)
    assert payload["guild_id"] == str(guild.id) and payload["code"] == body["code"]
    assert AuditLogEntry.objects.filter(action_type=AuditLogEvent.INVITE_CREATE).exists()


def test_invite_creation_rules(api, guild, general, join):
    member = join("member")
    assert (
        api(member).post(f"/api/v1/channels/{general.id}/invites", {}, format="json").status_code
        == 201
    )
    api(guild.owner).put(
        f"/api/v1/channels/{general.id}/permissions/{guild.id}",
        {"type": 0, "deny": str(int(P.CREATE_INSTANT_INVITE))},
        format="json",
    )
    denied = api(member).post(f"/api/v1/channels/{general.id}/invites", {}, format="json")
    assert denied.status_code == 403
    bad = api(guild.owner).post(
        f"/api/v1/channels/{general.id}/invites", {"max_age": -1, "max_uses": 1000}, format="json"
    )
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"max_age", "max_uses"}


def test_resolve_is_public(api, invite, guild):
    code = invite()["code"]
    response = api().get(f"/api/v1/invites/{code}")
    assert response.status_code == 200
    body = response.json()
    assert body["guild"]["name"] == "Test Guild"
    assert body["approximate_member_count"] == 1
    assert "uses" not in body
    missing = api().get("/api/v1/invites/doesnotexist")
    assert missing.status_code == 404 and missing.json()["code"] == 10006


def test_join_with_invite(
    api, invite, guild, make_user, published, django_capture_on_commit_callbacks
):
    code = invite(max_uses=2)["code"]
    newcomer = make_user("newcomer")
    with django_capture_on_commit_callbacks(execute=True):
        response = api(newcomer).post(f"/api/v1/invites/{code}")
    assert response.status_code == 200
    assert response.json()["approximate_member_count"] == 2
    assert Member.objects.filter(guild=guild, user=newcomer, temporary=False).exists()
    assert Invite.objects.get(code=code).uses == 1
    [(group, payload)] = events_named(published, "GUILD_MEMBER_ADD")
    assert group == events.guild_group(guild.id)
    assert payload["guild_id"] == str(guild.id)
    assert payload["user"]["id"] == str(newcomer.id) and payload["roles"] == []
    [(group, payload)] = events_named(published, "GUILD_CREATE")
    assert group == events.user_group(newcomer.id) and payload["id"] == str(guild.id)
    assert api().post(f"/api/v1/invites/{code}").status_code == 401


def test_already_member_uses_nothing(api, invite, join):
    code = invite(max_uses=1)["code"]
    member = join("member")
    response = api(member).post(f"/api/v1/invites/{code}")
    assert response.status_code == 200
    assert Invite.objects.get(code=code).uses == 0


def test_exhausted_invite(api, invite, make_user):
    code = invite(max_uses=1)["code"]
    assert api(make_user("first")).post(f"/api/v1/invites/{code}").status_code == 200
    second = api(make_user("second")).post(f"/api/v1/invites/{code}")
    assert second.status_code == 404 and second.json()["code"] == 10006
    assert api().get(f"/api/v1/invites/{code}").status_code == 404


def test_expired_invite(api, invite, make_user):
    code = invite(max_age=60)["code"]
    Invite.objects.filter(code=code).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api(make_user("late")).post(f"/api/v1/invites/{code}")
    assert response.status_code == 404 and response.json()["code"] == 10006


def test_revoked_invite(
    api, invite, guild, join, make_role, make_user, published, django_capture_on_commit_callbacks
):
    code = invite()["code"]
    member = join("member")
    assert api(member).delete(f"/api/v1/invites/{code}").status_code == 403
    manager = join("manager", make_role("Managers", P.MANAGE_GUILD))
    with django_capture_on_commit_callbacks(execute=True):
        response = api(manager).delete(f"/api/v1/invites/{code}")
    assert response.status_code == 200 and response.json()["revoked"] is True
    assert events_named(published, "INVITE_DELETE")[0][1]["code"] == code
    joined = api(make_user("late")).post(f"/api/v1/invites/{code}")
    assert joined.status_code == 404 and joined.json()["code"] == 10006
    assert api(manager).delete(f"/api/v1/invites/{code}").status_code == 404
    assert AuditLogEntry.objects.filter(
        action_type=AuditLogEvent.INVITE_DELETE, actor_id=manager.id
    ).exists()


def test_banned_user_cannot_join(api, invite, guild, owner, make_user):
    code = invite()["code"]
    troll = make_user("troll")
    assert api(troll).post(f"/api/v1/invites/{code}").status_code == 200
    do_ban(guild, owner, troll, reason="spam")
    assert not Member.objects.filter(guild=guild, user=troll).exists()
    response = api(troll).post(f"/api/v1/invites/{code}")
    assert response.status_code == 403 and response.json()["code"] == 40007
    assert Invite.objects.get(code=code).uses == 1


def test_temporary_membership(api, invite, guild, make_user, make_role):
    from guilds.services.members import do_prune_temporary_member

    code = invite(temporary=True)["code"]
    guest, kept = make_user("guest"), make_user("kept")
    for user in (guest, kept):
        assert api(user).post(f"/api/v1/invites/{code}").status_code == 200
    assert Member.objects.get(guild=guild, user=guest).temporary is True
    role = make_role("Regular")
    api(guild.owner).put(f"/api/v1/guilds/{guild.id}/members/{kept.id}/roles/{role.id}")
    assert Member.objects.get(guild=guild, user=kept).temporary is False
    assert do_prune_temporary_member(guild, guest) is True
    assert do_prune_temporary_member(guild, kept) is False
    assert not Member.objects.filter(guild=guild, user=guest).exists()


def test_invite_lists_need_permissions(api, invite, guild, general, join, make_role):
    codes = {invite()["code"], invite(max_uses=3)["code"]}
    member = join("member")
    assert api(member).get(f"/api/v1/channels/{general.id}/invites").status_code == 403
    assert api(member).get(f"/api/v1/guilds/{guild.id}/invites").status_code == 403
    manager = join("manager", make_role("Managers", P.MANAGE_GUILD | P.MANAGE_CHANNELS))
    listed = api(manager).get(f"/api/v1/guilds/{guild.id}/invites").json()
    assert {i["code"] for i in listed} == codes
    assert all("uses" in i for i in listed)
    by_channel = api(manager).get(f"/api/v1/channels/{general.id}/invites").json()
    assert {i["code"] for i in by_channel} == codes
