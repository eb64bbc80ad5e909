from __future__ import annotations

import pytest

from guilds.models import ChannelType, Guild, Member, Role
from guilds.permissions import DEFAULT_EVERYONE
from guilds.permissions import Permissions as P
from moderation.models import AuditLogEntry
from tests.guilds.conftest import events_named
from united import events
from united.audit import AuditLogEvent

pytestmark = pytest.mark.django_db


def test_create_guild_makes_everyone_role_channels_and_owner_membership(
    api, owner, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).post("/api/v1/guilds", {"name": "  Gardeners "}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    guild = Guild.objects.get(id=int(body["id"]))
    assert body["name"] == "Gardeners"
    assert body["owner_id"] == str(owner.id)
    everyone = [r for r in body["roles"] if r["name"] == "@everyone"]
    assert everyone[0]["id"] == body["id"]
    assert everyone[0]["permissions"] == str(DEFAULT_EVERYONE)
    assert Role.objects.get(id=guild.id).position == 0
    assert Member.objects.filter(guild=guild, user=owner).exists()
    types = sorted(guild.channels.values_list("type", flat=True))
    assert types == [
        ChannelType.GUILD_TEXT,
        ChannelType.GUILD_VOICE,
        ChannelType.GUILD_CATEGORY,
        ChannelType.GUILD_CATEGORY,
    ]
    assert body["system_channel_id"] == str(guild.system_channel_id)
    [(group, payload)] = events_named(published, "GUILD_CREATE")
    assert group == events.user_group(owner.id)
    assert payload["id"] == body["id"] == payload["guild_id"]
    assert {c["name"] for c in payload["channels"]} >= {"general", "Text Channels"}
    assert payload["member_count"] == 1


def test_create_guild_validates(api, owner):
    response = api(owner).post("/api/v1/guilds", {"name": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == 50035
    assert "name" in response.json()["errors"]


def test_get_guild_member_outsider_anonymous(api, guild, owner, join, make_user):
    member = join("member")
    assert api(member).get(f"/api/v1/guilds/{guild.id}").status_code == 200
    outsider = api(make_user("outsider")).get(f"/api/v1/guilds/{guild.id}")
    assert outsider.status_code == 404
    assert outsider.json()["code"] == 10004
    assert api().get(f"/api/v1/guilds/{guild.id}").status_code == 401


def test_edit_guild_needs_manage_guild(
    api, guild, join, make_role, published, django_capture_on_commit_callbacks
):
    member = join("member")
    response = api(member).patch(f"/api/v1/guilds/{guild.id}", {"name": "Mine"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == 50013
    manager = join("manager", make_role("Managers", P.MANAGE_GUILD))
    with django_capture_on_commit_callbacks(execute=True):
        response = api(manager).patch(
            f"/api/v1/guilds/{guild.id}",
            {"name": "Renamed", "description": "New", "verification_level": 2},
            format="json",
            HTTP_X_AUDIT_LOG_REASON="tidy%20up",
        )
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Renamed"
    entry = AuditLogEntry.objects.filter(action_type=AuditLogEvent.GUILD_UPDATE).get()
    assert entry.actor_id == manager.id
    assert entry.reason == "tidy up"
    assert {"key": "name", "old_value": "Test Guild", "new_value": "Renamed"} in entry.changes
    [(group, payload)] = events_named(published, "GUILD_UPDATE")
    assert group == events.guild_group(guild.id)
    assert payload["guild_id"] == str(guild.id) and payload["name"] == "Renamed"


def test_edit_guild_rejects_foreign_channel_and_bad_level(api, guild, owner):
    response = api(owner).patch(
        f"/api/v1/guilds/{guild.id}",
        {"system_channel_id": "123", "verification_level": 9},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"system_channel_id", "verification_level"}


def test_transfer_ownership_only_by_owner(api, guild, owner, join, admin_role):
    admin = join("admin", admin_role)
    heir = join("heir")
    denied = api(admin).patch(
        f"/api/v1/guilds/{guild.id}", {"owner_id": str(admin.id)}, format="json"
    )
    assert denied.status_code == 403
    response = api(owner).patch(
        f"/api/v1/guilds/{guild.id}", {"owner_id": str(heir.id)}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["owner_id"] == str(heir.id)
    stranger = api(heir).patch(f"/api/v1/guilds/{guild.id}", {"owner_id": "42"}, format="json")
    assert stranger.status_code == 404
    assert stranger.json()["code"] == 10007


def test_delete_guild_owner_only_with_confirmation(
    api, guild, owner, join, admin_role, published, django_capture_on_commit_callbacks
):
    admin = join("admin", admin_role)
    url = f"/api/v1/guilds/{guild.id}"
    assert api(admin).delete(url, {"confirm_name": guild.name}, format="json").status_code == 403
    wrong = api(owner).delete(url, {"confirm_name": "nope"}, format="json")
    assert wrong.status_code == 400
    assert "confirm_name" in wrong.json()["errors"]
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            api(owner).delete(url, {"confirm_name": guild.name}, format="json").status_code == 204
        )
    assert not Guild.objects.filter(id=guild.id).exists()
    assert events_named(published, "GUILD_DELETE") == [
        (events.guild_group(guild.id), {"id": str(guild.id), "guild_id": str(guild.id)})
    ]


def test_leave_guild(api, guild, owner, join, published, django_capture_on_commit_callbacks):
    member = join("member")
    with django_capture_on_commit_callbacks(execute=True):
        assert api(member).delete(f"/api/v1/users/@me/guilds/{guild.id}").status_code == 204
    assert not Member.objects.filter(guild=guild, user=member).exists()
    [(group, payload)] = events_named(published, "GUILD_MEMBER_REMOVE")
    assert payload == {"guild_id": str(guild.id), "user": payload["user"]}
    assert payload["user"]["id"] == str(member.id)
    assert events_named(published, "GUILD_DELETE") == [
        (events.user_group(member.id), {"id": str(guild.id), "guild_id": str(guild.id)})
    ]
    owner_leaves = api(owner).delete(f"/api/v1/users/@me/guilds/{guild.id}")
    assert owner_leaves.status_code == 400
    again = api(member).delete(f"/api/v1/users/@me/guilds/{guild.id}")
    assert again.status_code == 404


def test_my_guilds_lists_memberships_with_permissions(api, guild, owner, join, make_role):
    member = join("member", make_role("Kickers", P.KICK_MEMBERS))
    [entry] = api(member).get("/api/v1/users/@me/guilds").json()
    assert entry["id"] == str(guild.id)
    assert entry["owner"] is False
    assert int(entry["permissions"]) == DEFAULT_EVERYONE | P.KICK_MEMBERS
    assert entry["approximate_member_count"] == 2
    [mine] = api(owner).get("/api/v1/users/@me/guilds").json()
    assert mine["owner"] is True
