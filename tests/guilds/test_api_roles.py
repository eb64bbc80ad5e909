from __future__ import annotations

import pytest

from guilds.models import Member, Role
from guilds.permissions import Permissions as P
from moderation.models import AuditLogEntry
from tests.guilds.conftest import events_named
from united import events
from united.audit import AuditLogEvent

pytestmark = pytest.mark.django_db


def roles_url(guild, role=None):
    return f"/api/v1/guilds/{guild.id}/roles" + (f"/{role.id}" if role else "")


def order(guild):
    return list(
        Role.objects.filter(guild=guild).order_by("position").values_list("name", flat=True)
    )


def test_create_role_shape_event_and_position(
    api, guild, owner, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).post(
            roles_url(guild),
            {
                "name": "Mods",
                "permissions": str(int(P.KICK_MEMBERS | P.BAN_MEMBERS)),
                "color": 0x3498DB,
                "hoist": True,
                "mentionable": True,
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["permissions"] == str(int(P.KICK_MEMBERS | P.BAN_MEMBERS))
    assert body["position"] == 1 and body["hoist"] is True and body["color"] == 0x3498DB
    [(group, payload)] = events_named(published, "GUILD_ROLE_CREATE")
    assert group == events.guild_group(guild.id)
    assert payload == {"guild_id": str(guild.id), "role": body}
    api(owner).post(roles_url(guild), {"name": "Newer"}, format="json")
    assert order(guild) == ["@everyone", "Newer", "Mods"]
    listed = api(owner).get(roles_url(guild)).json()
    assert [r["name"] for r in listed] == ["@everyone", "Newer", "Mods"]


def test_role_validation(api, guild, owner):
    response = api(owner).post(
        roles_url(guild),
        {
            "name": "",
            "permissions": "-5",
            "color": 0x1000000,
            "hoist": "yes",
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "permissions", "color", "hoist"}


def test_admin_role_can_do_everything(api, guild, join, admin_role):
    admin = join("admin", admin_role)
    client = api(admin)
    assert (
        client.patch(
            f"/api/v1/guilds/{guild.id}", {"name": "Admins rule"}, format="json"
        ).status_code
        == 200
    )
    assert (
        client.post(f"/api/v1/guilds/{guild.id}/channels", {"name": "x"}, format="json").status_code
        == 201
    )
    granted = client.post(
        roles_url(guild), {"name": "Bans", "permissions": str(int(P.BAN_MEMBERS))}, format="json"
    )
    assert granted.status_code == 201
    assert client.get(f"/api/v1/guilds/{guild.id}/audit-logs").status_code == 200


def test_role_hierarchy(api, guild, owner, join, make_role):
    # New roles go just above @everyone, so create them top-down.
    high = make_role("High")
    manager_role = make_role("Manager", P.MANAGE_ROLES | P.KICK_MEMBERS)
    low = make_role("Low", P.KICK_MEMBERS)
    assert order(guild) == ["@everyone", "Low", "Manager", "High"]
    manager = join("manager", manager_role)
    client = api(manager)
    # Cannot edit a role above (or equal to) its own highest role.
    assert client.patch(roles_url(guild, high), {"name": "x"}, format="json").status_code == 403
    assert (
        client.patch(roles_url(guild, manager_role), {"name": "x"}, format="json").status_code
        == 403
    )
    assert client.delete(roles_url(guild, high)).status_code == 403
    # Can edit one below, but cannot grant permissions it lacks.
    assert client.patch(roles_url(guild, low), {"name": "Lower"}, format="json").status_code == 200
    too_much = client.patch(
        roles_url(guild, low),
        {"permissions": str(int(P.KICK_MEMBERS | P.BAN_MEMBERS))},
        format="json",
    )
    assert too_much.status_code == 403
    assert (
        client.post(
            roles_url(guild), {"permissions": str(int(P.ADMINISTRATOR))}, format="json"
        ).status_code
        == 403
    )
    # Removing a permission it holds is fine; keeping one it lacks is not a grant.
    assert (
        client.patch(roles_url(guild, low), {"permissions": "0"}, format="json").status_code == 200
    )
    # Cannot hand out a role above itself, can hand out one below.
    member = join("member")
    url = f"/api/v1/guilds/{guild.id}/members/{member.id}/roles"
    assert client.put(f"{url}/{high.id}").status_code == 403
    assert client.put(f"{url}/{low.id}").status_code == 204
    # Cannot move a role above itself.
    moved = client.patch(roles_url(guild), [{"id": str(low.id), "position": 3}], format="json")
    assert moved.status_code == 403
    assert order(guild) == ["@everyone", "Lower", "Manager", "High"]
    # The owner is above all.
    assert (
        api(owner).patch(roles_url(guild, high), {"name": "Top"}, format="json").status_code == 200
    )


def test_reorder_roles(api, guild, owner, make_role, published, django_capture_on_commit_callbacks):
    c = make_role("C")
    make_role("B")
    make_role("A")
    assert order(guild) == ["@everyone", "A", "B", "C"]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).patch(
            roles_url(guild), [{"id": str(c.id), "position": 1}], format="json"
        )
    assert response.status_code == 200
    assert [r["name"] for r in response.json()] == ["@everyone", "C", "A", "B"]
    assert order(guild) == ["@everyone", "C", "A", "B"]
    assert {d["role"]["name"] for _, d in events_named(published, "GUILD_ROLE_UPDATE")} == {
        "A",
        "B",
        "C",
    }
    everyone = Role.objects.get(id=guild.id)
    bad = api(owner).patch(
        roles_url(guild), [{"id": str(everyone.id), "position": 2}], format="json"
    )
    assert bad.status_code == 400


def test_delete_role_and_everyone_rules(
    api, guild, owner, make_role, join, published, django_capture_on_commit_callbacks
):
    b, a = make_role("B"), make_role("A")
    member = join("member", a)
    with django_capture_on_commit_callbacks(execute=True):
        assert api(owner).delete(roles_url(guild, a)).status_code == 204
    assert order(guild) == ["@everyone", "B"]
    assert Role.objects.get(id=b.id).position == 1
    assert not Member.objects.get(guild=guild, user=member).roles.exists()
    assert events_named(published, "GUILD_ROLE_DELETE") == [
        (events.guild_group(guild.id), {"guild_id": str(guild.id), "role_id": str(a.id)})
    ]
    everyone = Role.objects.get(id=guild.id)
    assert api(owner).delete(roles_url(guild, everyone)).status_code == 400
    renamed = api(owner).patch(roles_url(guild, everyone), {"name": "all"}, format="json")
    assert renamed.status_code == 400
    perms_ok = api(owner).patch(roles_url(guild, everyone), {"permissions": "1024"}, format="json")
    assert perms_ok.status_code == 200
    assert api(owner).delete(f"/api/v1/guilds/{guild.id}/roles/12345").status_code == 404


def test_members_nick_and_roles(
    api, guild, owner, join, make_role, published, django_capture_on_commit_callbacks
):
    mods = make_role("Mods", P.MANAGE_NICKNAMES | P.MANAGE_ROLES)
    helper = make_role("Helper")
    mod = join("mod", mods)
    member = join("member")
    url = f"/api/v1/guilds/{guild.id}/members/{member.id}"
    # Self nickname with CHANGE_NICKNAME (in @everyone by default).
    own = api(member).patch(url, {"nick": "Me"}, format="json")
    assert own.status_code == 200 and own.json()["nick"] == "Me"
    # Others' nicknames need MANAGE_NICKNAMES and a higher rank.
    assert (
        api(member)
        .patch(f"/api/v1/guilds/{guild.id}/members/{mod.id}", {"nick": "x"}, format="json")
        .status_code
        == 403
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api(mod).patch(
            url, {"nick": "Renamed", "roles": [str(helper.id)]}, format="json"
        )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["nick"] == "Renamed" and body["roles"] == [str(helper.id)]
    assert body["user"]["id"] == str(member.id)
    updates = events_named(published, "GUILD_MEMBER_UPDATE")
    assert updates and all(d["guild_id"] == str(guild.id) for _, d in updates)
    assert updates[-1][1]["roles"] == [str(helper.id)]
    assert (
        api(mod)
        .patch(f"/api/v1/guilds/{guild.id}/members/{owner.id}", {"nick": "x"}, format="json")
        .status_code
        == 403
    )
    entry = AuditLogEntry.objects.filter(action_type=AuditLogEvent.MEMBER_ROLE_UPDATE).last()
    assert entry.changes[0]["key"] == "$add"
    assert api(mod).delete(f"{url}/roles/{helper.id}").status_code == 204
    assert api(member).get(url).json()["roles"] == []
    listed = api(member).get(f"/api/v1/guilds/{guild.id}/members?limit=10").json()
    assert [m["user"]["username"] for m in listed] == ["owner", "mod", "member"]
    assert api(member).get(f"/api/v1/guilds/{guild.id}/members/999").status_code == 404
    assert api(member).get(f"/api/v1/guilds/{guild.id}/members?limit=0").status_code == 400


def test_member_list_groups_by_hoisted_role(guild, owner, join, make_role):
    from guilds.services.member_list import member_page

    staff = make_role("Staff", hoist=True)
    make_role("Quiet")
    mod = join("mod", staff)
    join("idle")
    groups = member_page(guild, {owner.id, mod.id}).groups
    assert [(g.name, [m["user"]["username"] for m in g.members]) for g in groups] == [
        ("Staff", ["mod"]),
        ("Online", ["owner"]),
        ("Offline", ["idle"]),
    ]
