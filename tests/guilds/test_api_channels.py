from __future__ import annotations

import pytest

from guilds.models import Channel, ChannelType, PermissionOverwrite
from guilds.permissions import Permissions as P
from guilds.services import access, channels, overwrites, visible_channel_ids
from moderation.models import AuditLogEntry
from tests.guilds.conftest import events_named
from united import events
from united.audit import AuditLogEvent

pytestmark = pytest.mark.django_db

VIEW = str(int(P.VIEW_CHANNEL))


def create(client, guild, **data):
    return client.post(f"/api/v1/guilds/{guild.id}/channels", data, format="json")


def test_create_channel_needs_manage_channels(
    api, guild, owner, join, make_role, published, django_capture_on_commit_callbacks
):
    member = join("member")
    denied = create(api(member), guild, name="x")
    assert denied.status_code == 403 and denied.json()["code"] == 50013
    builder = join("builder", make_role("Builders", P.MANAGE_CHANNELS))
    with django_capture_on_commit_callbacks(execute=True):
        response = create(
            api(builder),
            guild,
            name="Off Topic",
            topic="anything",
            rate_limit_per_user=30,
            nsfw=True,
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "off-topic"
    assert body["type"] == 0 and body["rate_limit_per_user"] == 30 and body["nsfw"] is True
    assert body["guild_id"] == str(guild.id)
    [(group, payload)] = events_named(published, "CHANNEL_CREATE")
    assert group == events.guild_group(guild.id)
    assert payload["id"] == body["id"] and payload["guild_id"] == str(guild.id)
    assert AuditLogEntry.objects.filter(
        action_type=AuditLogEvent.CHANNEL_CREATE, target_id=int(body["id"])
    ).exists()


def test_create_channel_validation(api, guild, owner):
    response = create(
        api(owner), guild, name="", type=3, rate_limit_per_user=999999, user_limit=100
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) >= {"name", "type", "rate_limit_per_user", "user_limit"}
    text = Channel.objects.filter(guild=guild, type=ChannelType.GUILD_TEXT).first()
    nested = create(api(owner), guild, name="x", parent_id=str(text.id))
    assert nested.status_code == 400 and "parent_id" in nested.json()["errors"]


def test_voice_channel_capacity_and_category(api, guild, owner):
    category = create(api(owner), guild, name="Rooms", type=4).json()
    voice = create(
        api(owner), guild, name="Lounge", type=2, user_limit=5, parent_id=category["id"]
    ).json()
    assert voice["user_limit"] == 5 and voice["parent_id"] == category["id"]
    assert voice["permission_synced"] is True
    assert voice["name"] == "Lounge"


def hidden_channel(api, guild, owner):
    channel = create(api(owner), guild, name="secret").json()
    response = api(owner).put(
        f"/api/v1/channels/{channel['id']}/permissions/{guild.id}",
        {"type": 0, "deny": VIEW},
        format="json",
    )
    assert response.status_code == 204
    return channel


def test_view_channel_denied_hides_the_channel(api, guild, owner, join, make_role):
    staff = make_role("Staff")
    member = join("member")
    insider = join("insider", staff)
    secret = hidden_channel(api, guild, owner)
    api(owner).put(
        f"/api/v1/channels/{secret['id']}/permissions/{staff.id}",
        {"type": 0, "allow": VIEW},
        format="json",
    )
    # Hidden from the member: 404 Unknown Channel (not 403), absent from lists and the gateway.
    response = api(member).get(f"/api/v1/channels/{secret['id']}")
    assert response.status_code == 404 and response.json()["code"] == 10003
    names = {c["name"] for c in api(member).get(f"/api/v1/guilds/{guild.id}/channels").json()}
    assert "secret" not in names and "general" in names
    assert int(secret["id"]) not in visible_channel_ids(member, guild)
    for method, path, data in [
        ("patch", f"/api/v1/channels/{secret['id']}", {"name": "x"}),
        ("delete", f"/api/v1/channels/{secret['id']}", None),
        ("post", f"/api/v1/channels/{secret['id']}/invites", {}),
        ("put", f"/api/v1/channels/{secret['id']}/permissions/{member.id}", {"type": 1}),
    ]:
        assert getattr(api(member), method)(path, data, format="json").status_code == 404
    # @everyone deny with a role allow: the role's member sees it.
    assert api(insider).get(f"/api/v1/channels/{secret['id']}").status_code == 200
    assert int(secret["id"]) in visible_channel_ids(insider, guild)
    # A member overwrite beats the role overwrite.
    api(owner).put(
        f"/api/v1/channels/{secret['id']}/permissions/{insider.id}",
        {"type": 1, "deny": VIEW},
        format="json",
    )
    assert api(insider).get(f"/api/v1/channels/{secret['id']}").status_code == 404
    # The owner and administrators see everything.
    assert int(secret["id"]) in visible_channel_ids(owner, guild)
    admin = join("admin", make_role("Admin", P.ADMINISTRATOR))
    assert api(admin).get(f"/api/v1/channels/{secret['id']}").status_code == 200


def test_visible_channel_ids_for_outsider_is_empty(guild, make_user):
    assert visible_channel_ids(make_user("outsider"), guild) == set()


def test_role_overwrite_allow_send_after_everyone_deny(api, guild, owner, join, make_role):
    speakers = make_role("Speakers")
    member, speaker = join("member"), join("speaker", speakers)
    channel = create(api(owner), guild, name="announcements").json()
    url = f"/api/v1/channels/{channel['id']}/permissions"
    api(owner).put(
        f"{url}/{guild.id}", {"type": 0, "deny": str(int(P.SEND_MESSAGES))}, format="json"
    )
    api(owner).put(
        f"{url}/{speakers.id}", {"type": 0, "allow": str(int(P.SEND_MESSAGES))}, format="json"
    )
    assert not access.access_channel(member, int(channel["id"])).permissions & P.SEND_MESSAGES
    assert access.access_channel(speaker, int(channel["id"])).permissions & P.SEND_MESSAGES


def test_overwrites_need_manage_roles_and_cannot_grant_what_you_lack(
    api, guild, owner, join, make_role
):
    channel = create(api(owner), guild, name="ops").json()
    url = f"/api/v1/channels/{channel['id']}/permissions/{guild.id}"
    member = join("member")
    assert api(member).put(url, {"type": 0, "deny": VIEW}, format="json").status_code == 403
    manager = join("manager", make_role("Managers", P.MANAGE_ROLES))
    member_url = f"/api/v1/channels/{channel['id']}/permissions/{member.id}"
    ok = api(manager).put(member_url, {"type": 1, "deny": str(int(P.SEND_MESSAGES))}, format="json")
    assert ok.status_code == 204
    too_much = api(manager).put(url, {"type": 0, "allow": str(int(P.BAN_MEMBERS))}, format="json")
    assert too_much.status_code == 403
    bad = api(manager).put(url, {"type": 7, "allow": "abc"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"type", "allow"}
    unknown = api(owner).put(
        f"/api/v1/channels/{channel['id']}/permissions/4242", {"type": 0}, format="json"
    )
    assert unknown.status_code == 400
    assert api(manager).delete(member_url).status_code == 204
    assert api(manager).delete(member_url).status_code == 404
    actions = set(AuditLogEntry.objects.values_list("action_type", flat=True))
    assert {
        AuditLogEvent.CHANNEL_OVERWRITE_CREATE,
        AuditLogEvent.CHANNEL_OVERWRITE_DELETE,
    } <= actions


def test_category_sync(api, guild, owner, join):
    member = join("member")
    category = create(api(owner), guild, name="Private", type=4).json()
    child = create(api(owner), guild, name="inner", parent_id=category["id"]).json()
    assert child["permission_synced"] is True
    api(owner).put(
        f"/api/v1/channels/{category['id']}/permissions/{guild.id}",
        {"type": 0, "deny": VIEW},
        format="json",
    )
    # The synced child inherits the category's overwrite.
    assert api(member).get(f"/api/v1/channels/{child['id']}").status_code == 404
    shown = api(owner).get(f"/api/v1/channels/{child['id']}").json()
    assert shown["permission_overwrites"] == [
        {"id": str(guild.id), "type": 0, "allow": "0", "deny": VIEW}
    ]
    # Editing the child's own overwrites unsyncs it, starting from the inherited ones.
    api(owner).put(
        f"/api/v1/channels/{child['id']}/permissions/{member.id}",
        {"type": 1, "allow": VIEW},
        format="json",
    )
    child_row = Channel.objects.get(id=child["id"])
    assert child_row.permission_synced is False
    assert PermissionOverwrite.objects.filter(channel=child_row).count() == 2
    assert api(member).get(f"/api/v1/channels/{child['id']}").status_code == 200
    # lock_permissions syncs it again.
    api(owner).patch(f"/api/v1/channels/{child['id']}", {"lock_permissions": True}, format="json")
    assert api(member).get(f"/api/v1/channels/{child['id']}").status_code == 404


def positions(guild, parent_id=None):
    return list(
        Channel.objects.filter(guild=guild, parent_id=parent_id)
        .order_by("position")
        .values_list("name", "position")
    )


def test_reorder_and_move_between_categories(
    api, guild, owner, published, django_capture_on_commit_callbacks
):
    client = api(owner)
    cat = create(client, guild, name="Cat", type=4).json()
    a, b, c = (create(client, guild, name=n, parent_id=cat["id"]).json() for n in "abc")
    assert positions(guild, int(cat["id"])) == [("a", 0), ("b", 1), ("c", 2)]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(
            f"/api/v1/guilds/{guild.id}/channels", [{"id": c["id"], "position": 0}], format="json"
        )
    assert response.status_code == 204
    assert positions(guild, int(cat["id"])) == [("c", 0), ("a", 1), ("b", 2)]
    updates = events_named(published, "CHANNEL_UPDATE")
    assert {d["name"] for _, d in updates} == {"a", "b", "c"}
    assert all(d["guild_id"] == str(guild.id) for _, d in updates)
    # Move b out to the top level, then into another category via PATCH /channels/{id}.
    client.patch(
        f"/api/v1/guilds/{guild.id}/channels",
        [{"id": b["id"], "parent_id": None, "position": 0}],
        format="json",
    )
    assert positions(guild, int(cat["id"])) == [("c", 0), ("a", 1)]
    assert positions(guild)[0] == ("b", 0)
    top = [p for _, p in positions(guild)]
    assert top == list(range(len(top)))
    other = Channel.objects.get(guild=guild, name="Voice Channels")
    moved = client.patch(
        f"/api/v1/channels/{a['id']}", {"parent_id": str(other.id)}, format="json"
    ).json()
    assert moved["parent_id"] == str(other.id)
    assert positions(guild, other.id)[-1] == ("a", 1)
    assert positions(guild, int(cat["id"])) == [("c", 0)]


def test_reorder_rejects_unknown_and_needs_permission(api, guild, owner, join):
    member = join("member")
    general = Channel.objects.get(guild=guild, name="general")
    url = f"/api/v1/guilds/{guild.id}/channels"
    assert (
        api(member).patch(url, [{"id": str(general.id), "position": 1}], format="json").status_code
        == 403
    )
    assert api(owner).patch(url, [{"id": "1", "position": 1}], format="json").status_code == 404
    assert api(owner).patch(url, {"id": "1"}, format="json").status_code == 400


def test_edit_and_delete_channel(api, guild, owner, published, django_capture_on_commit_callbacks):
    cat = create(api(owner), guild, name="Cat", type=4).json()
    api(owner).put(
        f"/api/v1/channels/{cat['id']}/permissions/{guild.id}",
        {"type": 0, "deny": str(int(P.SEND_MESSAGES))},
        format="json",
    )
    child = create(api(owner), guild, name="child", parent_id=cat["id"]).json()
    edited = api(owner).patch(
        f"/api/v1/channels/{child['id']}",
        {"topic": "t", "rate_limit_per_user": 10, "type": 5},
        format="json",
    )
    assert edited.status_code == 200
    assert edited.json()["topic"] == "t" and edited.json()["type"] == 5
    bad = api(owner).patch(f"/api/v1/channels/{child['id']}", {"type": 2}, format="json")
    assert bad.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).delete(f"/api/v1/channels/{cat['id']}")
    assert response.status_code == 200 and response.json()["id"] == cat["id"]
    [(_, payload)] = events_named(published, "CHANNEL_DELETE")
    assert payload["id"] == cat["id"] and payload["guild_id"] == str(guild.id)
    orphan = Channel.objects.get(id=child["id"])
    assert orphan.parent_id is None and orphan.permission_synced is False
    # The orphan keeps the permissions it inherited.
    assert PermissionOverwrite.objects.get(channel=orphan).deny == P.SEND_MESSAGES
    top = [p for _, p in positions(guild)]
    assert top == list(range(len(top)))


def test_services_are_the_same_door(guild, owner):
    channel = channels.check_create_channel(owner, guild.id, {"name": "svc"})
    overwrites.check_put_overwrite(owner, channel.id, guild.id, {"type": 0, "deny": VIEW})
    assert channel.id in visible_channel_ids(owner, guild)


def test_channel_list_query_count_does_not_grow_with_channels(
    api, guild, owner, join, django_assert_max_num_queries
):
    member = join("member")
    client = api(member)
    url = f"/api/v1/guilds/{guild.id}/channels"
    for n in range(3):
        channels.check_create_channel(owner, guild.id, {"name": f"a{n}"})
    with django_assert_max_num_queries(8):
        assert len(client.get(url).json()) == 7
    for n in range(20):
        channels.check_create_channel(owner, guild.id, {"name": f"b{n}"})
    with django_assert_max_num_queries(8):
        assert len(client.get(url).json()) == 27


def test_create_channel_with_overwrites_needs_manage_roles(api, guild, owner, join, make_role):
    member = join("member")
    builder = join("builder", make_role("Builders", P.MANAGE_CHANNELS))
    private = [{"id": str(guild.id), "type": 0, "deny": VIEW}]
    denied = create(api(builder), guild, name="p", permission_overwrites=private)
    assert denied.status_code == 403
    response = create(api(owner), guild, name="p", permission_overwrites=private)
    assert response.status_code == 201
    assert response.json()["permission_overwrites"] == [
        {"id": str(guild.id), "type": 0, "allow": "0", "deny": VIEW}
    ]
    assert int(response.json()["id"]) not in visible_channel_ids(member, guild)
    bad = create(api(owner), guild, name="p", permission_overwrites=[{"id": "5", "type": 0}])
    assert bad.status_code == 400 and "permission_overwrites" in bad.json()["errors"]


def test_joining_member_gets_only_visible_channels_in_guild_create(
    api, guild, owner, make_user, published, django_capture_on_commit_callbacks
):
    from guilds.services.members import do_add_member

    secret = hidden_channel(api, guild, owner)
    newcomer = make_user("newcomer")
    with django_capture_on_commit_callbacks(execute=True):
        do_add_member(guild, newcomer)
    [(_, payload)] = events_named(published, "GUILD_CREATE")
    ids = {c["id"] for c in payload["channels"]}
    assert secret["id"] not in ids and ids
    assert payload["members"][0]["user"]["id"] == str(newcomer.id)
