"""Guild settings pages: only for those allowed; every change goes through the services."""

from __future__ import annotations

import json
import re

from guilds.models import Channel, ChannelType, PermissionOverwrite, Role
from guilds.permissions import Permissions as P
from guilds.services import guilds as guild_services
from guilds.services import invites as invite_services
from guilds.services import members as member_services
from guilds.services import overwrites as overwrite_services
from guilds.services import roles as role_services
from guilds.services.access import own_overwrites


def settings_url(guild, rest: str = "") -> str:
    return f"/app/guilds/{guild.id}/settings/{rest}"


def test_members_without_permissions_are_refused(browser, guild, member):
    bob = browser(member)
    for rest in (
        "",
        "overview/",
        "roles/",
        "channels/",
        "view-as/",
        "invites/",
        f"roles/{guild.id}/",
    ):
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
    assert re.search(
        f'name="p{bit}" value="deny" aria-label="Deny Send Messages"[^>]* checked', page
    )
    assert "Post messages in text channels." in page  # the permission's one-line description
    me.post(url, {"role": guild.id})  # everything back to inherit: the overwrite goes
    assert not [o for o in own_overwrites(general) if o.id == guild.id]


def test_invites_create_and_revoke(browser, owner, guild, general):
    me = browser(owner)
    me.post(settings_url(guild, "invites/"), {"channel_id": general.id, "max_age": "3600"})
    (invite,) = invite_services.list_guild_invites(owner, guild.id)
    assert invite["code"] in me.get(settings_url(guild, "invites/")).content.decode()
    me.post(settings_url(guild, "invites/"), {"revoke": invite["code"]})
    assert invite_services.list_guild_invites(owner, guild.id) == []


def test_role_editor_groups_permissions_in_plain_words(browser, owner, guild):
    page = browser(owner).get(settings_url(guild, f"roles/{guild.id}/")).content.decode()
    for group in ("General", "Membership", "Text", "Voice", "Advanced"):
        assert f"<legend>{group} permissions</legend>" in page
    assert "Manage Channels" in page and "Create, rename, move and delete channels" in page
    assert "MANAGE_CHANNELS" not in page and "Manage channels<" not in page
    assert page.index("<legend>Text permissions") < page.index("Send Messages")
    assert page.index("Send Messages") < page.index("<legend>Voice permissions")


def channels_page(client, guild, **data):
    return client.post(settings_url(guild, "channels/"), data)


def test_channels_page_creates_renames_moves_and_deletes(browser, owner, guild, general):
    me = browser(owner)
    page = me.get(settings_url(guild, "channels/")).content.decode()
    assert "Move general up" in page and 'data-dialog-open="delete-channel"' in page
    made = channels_page(me, guild, action="create", type="4", name="Games")
    assert made.status_code == 302
    games = Channel.objects.get(guild=guild, name="Games", type=ChannelType.GUILD_CATEGORY)
    channels_page(me, guild, action="create", type="2", name="Lobby", parent_id=games.id)
    lobby = Channel.objects.get(guild=guild, name="Lobby")
    assert (lobby.type, lobby.parent_id) == (ChannelType.GUILD_VOICE, games.id)
    channels_page(me, guild, action="create", type="5", name="News")
    assert Channel.objects.get(guild=guild, name="news").type == ChannelType.GUILD_ANNOUNCEMENT
    channels_page(me, guild, action="rename", channel_id=general.id, name="Hall", parent_id="")
    general.refresh_from_db()
    assert (general.name, general.parent_id) == ("hall", None)
    channels_page(me, guild, action="create", type="0", name="second", parent_id=games.id)
    channels_page(me, guild, action="up", channel_id=Channel.objects.get(name="second").id)
    assert list(
        Channel.objects.filter(parent=games).order_by("position").values_list("name", flat=True)
    ) == ["second", "Lobby"]
    channels_page(me, guild, action="delete", channel_id=games.id)
    lobby.refresh_from_db()
    assert lobby.parent_id is None and not Channel.objects.filter(id=games.id).exists()


def test_channels_page_refusals(browser, owner, guild, general, member, make_user):
    bob = browser(member)
    refused = channels_page(bob, guild, action="delete", channel_id=general.id)
    assert refused.status_code == 403
    assert Channel.objects.filter(id=general.id).exists()
    me = browser(owner)
    for data in (
        {"action": "delete", "channel_id": "abc"},
        {"action": "rename", "channel_id": general.id, "name": ""},
        {"action": "create", "type": "x", "name": "a"},
        {"action": "create", "type": "3", "name": "a"},
        {"action": "nothing"},
    ):
        bad = channels_page(me, guild, **data)
        assert bad.status_code == 400, data
        assert "error-box" in bad.content.decode()
    other = guild_services.check_create_guild(owner, name="Other Guild")
    foreign = other.channels.get(name="Text Channels")
    moved = channels_page(
        me, guild, action="rename", channel_id=general.id, name="general", parent_id=foreign.id
    )
    assert (
        moved.status_code == 400 and "Must be a category of this guild." in moved.content.decode()
    )
    general.refresh_from_db()
    assert general.parent_id != foreign.id
    # A member who only manages roles sees the list with the permission links, no edit forms.
    roles_only = role_services.check_create_role(
        owner, guild.id, {"name": "Roles", "permissions": str(int(P.MANAGE_ROLES))}
    )
    carol = make_user("carol")
    member_services.do_add_member(guild, carol)
    member_services.check_member_role(owner, guild.id, carol.id, roles_only.id, add=True)
    page = browser(carol).get(settings_url(guild, "channels/"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f"channels/{general.id}/" in html and "Move general up" not in html
    assert (
        channels_page(browser(carol), guild, action="up", channel_id=general.id).status_code == 403
    )


def test_member_overwrite_and_hidden_bits_are_kept(browser, owner, guild, general, member):
    me = browser(owner)
    url = settings_url(guild, f"channels/{general.id}/")
    page = me.get(url).content.decode()
    assert f'value="member:{member.id}"' in page
    assert "Join voice channels." not in page  # a voice permission means nothing here
    view = int(P.VIEW_CHANNEL)
    saved = me.post(url, {"target": f"member:{member.id}", f"p{view}": "deny"})
    assert saved.status_code == 302 and f"target=member:{member.id}" in saved["Location"]
    (row,) = [o for o in own_overwrites(general) if o.id == member.id]
    assert row.type == PermissionOverwrite.MEMBER and row.deny == view
    # A bit the editor does not show (a bot set it through the API) survives a save.
    overwrite_services.check_put_overwrite(
        owner,
        general.id,
        guild.id,
        {"type": 0, "allow": str(int(P.CONNECT)), "deny": str(int(P.SEND_MESSAGES))},
    )
    me.post(url, {"target": f"role:{guild.id}", f"p{int(P.SEND_MESSAGES)}": "neutral"})
    (everyone,) = [o for o in own_overwrites(general) if o.id == guild.id]
    assert (everyone.allow, everyone.deny) == (int(P.CONNECT), 0)
    assert me.get(url + "?target=member:1").status_code == 404
    assert me.get(url + "?target=role:abc").status_code == 404
    assert me.get(url + "?target=planet:1").status_code == 404


def test_view_as_role_page(browser, owner, guild, general):
    quiet = role_services.check_create_role(owner, guild.id, {"name": "Quiet"})
    overwrite_services.check_put_overwrite(
        owner, general.id, quiet.id, {"type": 0, "deny": str(int(P.VIEW_CHANNEL))}
    )
    me = browser(owner)
    page = me.get(settings_url(guild, f"view-as/?role={quiet.id}")).content.decode()
    assert 'data-view-as-channel="general" data-visible="no"' in page
    assert 'data-view-as-channel="General" data-visible="yes"' in page
    assert "Connect" in page
    everyone = me.get(settings_url(guild, "view-as/")).content.decode()
    assert 'data-view-as-channel="general" data-visible="yes"' in everyone
    assert me.get(settings_url(guild, "view-as/?role=999")).status_code == 404
    assert me.get(settings_url(guild, "view-as/?role=x")).status_code == 404


def test_sidebar_creates_voice_channels_and_categories(browser, owner, guild, general, member):
    me = browser(owner)
    page = me.get(f"/app/guilds/{guild.id}/channels/{general.id}/").content.decode()
    voice = guild.channels.get(name="Voice Channels")
    assert f'data-parent-id="{voice.id}" data-channel-type="2"' in page
    assert "Create a voice channel in Voice Channels" in page
    assert "Create a text channel in Text Channels" in page
    assert (
        "channel in Voice Channels"
        not in browser(member)
        .get(f"/app/guilds/{guild.id}/channels/{general.id}/")
        .content.decode()
    )
    create = f"/app/guilds/{guild.id}/channels/create/"
    made = me.post(
        create, {"name": "Standup", "type": "2", "parent_id": voice.id}, HTTP_HX_REQUEST="true"
    )
    assert made.status_code == 204 and "HX-Refresh" not in made
    assert json.loads(made["HX-Trigger"]) == {"refresh-channels": True, "united:dialog-done": True}
    standup = guild.channels.get(name="Standup")
    assert (standup.type, standup.parent_id) == (ChannelType.GUILD_VOICE, voice.id)
    # A category ignores the parent a reused form may still carry.
    me.post(create, {"name": "Projects", "type": "4", "parent_id": voice.id})
    projects = guild.channels.get(name="Projects")
    assert (projects.type, projects.parent_id) == (ChannelType.GUILD_CATEGORY, None)
    for kind in ("9", "x", "1"):
        bad = me.post(create, {"name": "odd", "type": kind}, HTTP_HX_REQUEST="true")
        assert bad.status_code == 400, kind
    assert not guild.channels.filter(name="odd").exists()
    refused = browser(member).post(create, {"name": "mine", "type": "4"})
    assert refused.status_code == 403 and not guild.channels.filter(name="mine").exists()


def test_a_synced_channel_shows_and_keeps_its_categorys_overwrites(
    browser, owner, guild, general, member
):
    category = guild.channels.get(name="Text Channels")
    send, view = int(P.SEND_MESSAGES), int(P.VIEW_CHANNEL)
    overwrite_services.check_put_overwrite(
        owner, category.id, guild.id, {"type": 0, "deny": str(send)}
    )
    me = browser(owner)
    url = settings_url(guild, f"channels/{general.id}/")
    page = me.get(url + f"?target=role:{guild.id}").content.decode()
    assert "This channel follows its category" in page
    assert re.search(f'name="p{send}" value="deny"[^>]* checked', page)
    # Denying View Channels to bob here keeps the inherited @everyone deny.
    me.post(url, {"target": f"member:{member.id}", f"p{view}": "deny"})
    general.refresh_from_db()
    assert not general.permission_synced
    rows = {o.id: (o.allow, o.deny) for o in own_overwrites(general)}
    assert rows == {guild.id: (0, send), member.id: (0, view)}
