from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from guilds.models import Guild
from guilds.services import guilds as guild_services
from guilds.services.directory import do_set_directory_hidden

pytestmark = pytest.mark.django_db


def names(response):
    assert response.status_code == 200, response.json()
    return [g["name"] for g in response.json()]


@pytest.fixture
def listed(owner, join):
    a = guild_services.check_create_guild(owner, name="Alpha")
    b = guild_services.check_create_guild(owner, name="Beta")
    guild_services.check_create_guild(owner, name="Private")
    guild_services.check_update_guild(owner, a.id, {"discoverable": True, "tags": ["games", "Art"]})
    guild_services.check_update_guild(owner, b.id, {"discoverable": True, "tags": ["games"]})
    join("b1", target=b)
    join("b2", target=b)
    Guild.objects.filter(id=a.id).update(last_activity_at=timezone.now())
    Guild.objects.filter(id=b.id).update(last_activity_at=timezone.now() - timedelta(days=1))
    return a, b


def test_directory_sorts_and_filters(api, listed):
    assert names(api().get("/api/v1/directory")) == ["Alpha", "Beta"]
    assert names(api().get("/api/v1/directory?sort=members")) == ["Beta", "Alpha"]
    assert names(api().get("/api/v1/directory?tag=art")) == ["Alpha"]
    entry = api().get("/api/v1/directory?tag=games&sort=members").json()[0]
    assert entry["approximate_member_count"] == 3 and entry["tags"] == ["games"]
    assert api().get("/api/v1/directory?sort=size").status_code == 400
    assert api().get("/api/v1/directory?tag=no%20spaces").status_code == 400


def test_operator_hides_entries(api, listed, admin_client):
    a, b = listed
    do_set_directory_hidden([b.id], True)
    assert names(api().get("/api/v1/directory")) == ["Alpha"]
    response = admin_client.post(
        "/admin/guilds/guild/",
        {
            "action": "hide_from_directory",
            "_selected_action": [str(a.id)],
        },
    )
    assert response.status_code == 302
    assert names(api().get("/api/v1/directory")) == []
    admin_client.post(
        "/admin/guilds/guild/",
        {
            "action": "show_in_directory",
            "_selected_action": [str(a.id), str(b.id)],
        },
    )
    assert names(api().get("/api/v1/directory")) == ["Alpha", "Beta"]


def test_tags_validation(api, owner, guild):
    bad = api(owner).patch(f"/api/v1/guilds/{guild.id}", {"tags": ["a b"]}, format="json")
    assert bad.status_code == 400 and "tags" in bad.json()["errors"]
    many = api(owner).patch(f"/api/v1/guilds/{guild.id}", {"tags": list("abcdef")}, format="json")
    assert many.status_code == 400


def test_admin_pages_load(admin_client, guild, owner):
    from guilds.services.invites import check_create_invite

    check_create_invite(owner, guild.default_channel_id, {})
    for url in [
        "/admin/guilds/guild/",
        f"/admin/guilds/guild/{guild.id}/change/",
        "/admin/guilds/guild/?q=Test",
        "/admin/guilds/invite/",
        "/admin/guilds/member/",
        "/admin/moderation/auditlogentry/",
        "/admin/moderation/guildban/",
    ]:
        assert admin_client.get(url).status_code == 200, url


def test_admin_revokes_invites(admin_client, guild, owner):
    from guilds.models import Invite
    from guilds.services.invites import check_create_invite

    invite = check_create_invite(owner, guild.default_channel_id, {})
    admin_client.post(
        "/admin/guilds/invite/", {"action": "revoke", "_selected_action": [invite.code]}
    )
    assert Invite.objects.get(code=invite.code).revoked_at is not None
