"""Guild settings pages: only for those allowed; every change goes through the services."""

from __future__ import annotations

from guilds.models import PermissionOverwrite, Role
from guilds.permissions import Permissions as P
from guilds.services import invites as invite_services
from guilds.services.access import own_overwrites


def settings_url(guild, rest: str = "") -> str:
    return f"/app/guilds/{guild.id}/settings/{rest}"


def test_members_without_permissions_are_refused(browser, guild, member):
    bob = browser(member)
    for rest in ("", "overview/", "roles/", "channels/", "invites/", f"roles/{guild.id}/"):
        assert bob.get(settings_url(guild, rest)).status_code == 403, rest
    assert bob.post(settings_url(guild, "overview/"), {"name": "Mine"}).status_code == 403
    guild.refresh_from_db()
    assert guild.name == "Test Guild"


def test_owner_sees_the_settings_link_and_edits_the_overview(browser, owner, guild, general):
    me = browser(owner)
    page = me.get(f"/app/guilds/{guild.id}/channels/{general.id}/").content.decode()
    assert settings_url(guild) in page
    assert me.get(settings_url(guild))["Location"] == settings_url(guild, "overview/")
    saved = me.post(settings_url(guild, "overview/"), {"name": "Renamed", "description": "Hi"})
    assert saved.status_code == 302
    guild.refresh_from_db()
    assert (guild.name, guild.description) == ("Renamed", "Hi")
    bad = me.post(settings_url(guild, "overview/"), {"name": "x"})
    assert bad.status_code == 400 and "error-box" in bad.content.decode()


def test_role_create_and_permission_editor(browser, owner, guild):
    me = browser(owner)
    made = me.post(settings_url(guild, "roles/"), {"name": "Mods"})
    role = Role.objects.get(guild=guild, name="Mods")
    assert made["Location"] == settings_url(guild, f"roles/{role.id}/")
    page = me.get(made["Location"]).content.decode()
    assert 'value="8192"' in page  # MANAGE_MESSAGES among the checkboxes
    me.post(
        made["Location"],
        {"name": "Moderators", "hoist": "1", "perm": [str(int(P.MANAGE_MESSAGES)), "2048"]},
    )
    role.refresh_from_db()
    assert role.name == "Moderators" and role.hoist
    assert role.permissions == int(P.MANAGE_MESSAGES | P.SEND_MESSAGES)


def test_channel_overwrite_tri_state(browser, owner, guild, general):
    me = browser(owner)
    url = settings_url(guild, f"channels/{general.id}/")
    bit = int(P.SEND_MESSAGES)
    view = int(P.VIEW_CHANNEL)
    me.post(url, {"role": guild.id, f"p{bit}": "deny", f"p{view}": "allow"})
    general.refresh_from_db()
    (row,) = [o for o in own_overwrites(general) if o.id == guild.id]
    assert row.type == PermissionOverwrite.ROLE and row.deny == bit and row.allow == view
    page = me.get(url).content.decode()
    assert f'name="p{bit}" value="deny" aria-label="Deny Send messages" checked' in page
    me.post(url, {"role": guild.id})  # everything back to inherit: the overwrite goes
    assert not [o for o in own_overwrites(general) if o.id == guild.id]


def test_invites_create_and_revoke(browser, owner, guild, general):
    me = browser(owner)
    me.post(settings_url(guild, "invites/"), {"channel_id": general.id, "max_age": "3600"})
    (invite,) = invite_services.list_guild_invites(owner, guild.id)
    assert invite["code"] in me.get(settings_url(guild, "invites/")).content.decode()
    me.post(settings_url(guild, "invites/"), {"revoke": invite["code"]})
    assert invite_services.list_guild_invites(owner, guild.id) == []
