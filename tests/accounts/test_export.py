"""The account export holds the member's own messages and guild memberships with their roles,
and none of another member's; it says that E2E direct messages are not in it."""

from __future__ import annotations

import json

import pytest

from guilds.models import Channel
from guilds.services.guilds import do_create_guild
from guilds.services.members import check_member_role, do_add_member
from guilds.services.roles import check_create_role
from messaging.services.messages import check_delete_message, check_send_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def harbour(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    guild = do_create_guild(alice, name="Harbour", icon=None, description="")
    do_add_member(guild, bob)
    other = do_create_guild(bob, name="Bob's den", icon=None, description="")
    keeper = check_create_role(alice, guild.id, {"name": "Lighthouse keeper"})
    check_member_role(alice, guild.id, bob.id, keeper.id, add=True)
    general = Channel.objects.get(guild=guild, name="general")
    first, _ = check_send_message(bob, general.id, content="bob: the tide turns at six")
    check_send_message(alice, general.id, content="alice: thanks, noted", reply_to=str(first.id))
    check_send_message(bob, general.id, content="bob: bring boots")
    gone, _ = check_send_message(bob, general.id, content="bob: never mind")
    check_delete_message(bob, general.id, gone.id)
    return {"alice": alice, "bob": bob, "guild": guild, "other": other, "keeper": keeper}


def test_export_holds_the_members_messages_and_memberships_only(client, harbour):
    client.force_login(harbour["bob"])
    response = client.get("/api/v1/users/@me/export")
    assert response.status_code == 200
    data = response.json()
    contents = [m["content"] for m in data["messages"]]
    assert contents == ["bob: the tide turns at six", "bob: bring boots"]  # not the deleted one
    assert "alice: thanks, noted" not in json.dumps(data)
    (first, _) = data["messages"]
    assert first["channel"]["name"] == "general"
    assert first["channel"]["guild"] == {"id": str(harbour["guild"].id), "name": "Harbour"}
    assert first["created_at"]
    memberships = {m["guild"]["name"]: m for m in data["guild_memberships"]}
    assert set(memberships) == {"Harbour", "Bob's den"}
    assert [r["name"] for r in memberships["Harbour"]["roles"]] == ["Lighthouse keeper"]
    assert memberships["Harbour"]["owner"] is False and memberships["Bob's den"]["owner"] is True
    assert "ciphertext" in data["not_included"]["direct_messages"]

    # The settings page's download is the same document.
    page = client.get("/settings/account/export/")
    assert page.status_code == 200
    assert page["Content-Disposition"] == 'attachment; filename="united-account.json"'
    assert [m["content"] for m in json.loads(page.content)["messages"]] == contents


def test_another_members_export_has_none_of_bobs(client, harbour):
    client.force_login(harbour["alice"])
    data = client.get("/api/v1/users/@me/export").json()
    assert [m["content"] for m in data["messages"]] == ["alice: thanks, noted"]
    assert data["messages"][0]["reply_to"] is not None
    assert "bob:" not in json.dumps(data["messages"])
    (membership,) = data["guild_memberships"]
    assert membership["guild"]["name"] == "Harbour" and membership["owner"] is True
    assert membership["roles"] == []
