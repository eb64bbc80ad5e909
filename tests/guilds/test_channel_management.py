"""Managing channels from the client: moving by one step, the bulk reorder's refusals, deleting
a category, the plain-words permission table and the "view as role" preview."""

from __future__ import annotations

import pytest

from guilds import permission_labels as labels
from guilds.models import Channel, ChannelType
from guilds.permissions import Permissions as P
from guilds.services import channels, overwrites
from guilds.services import guilds as guild_services
from guilds.services.preview import check_view_as_role
from tests.guilds.conftest import events_named
from united.errors import Forbidden, NotFound

pytestmark = pytest.mark.django_db

VIEW = str(int(P.VIEW_CHANNEL))


def names(guild, parent) -> list[str]:
    return list(
        Channel.objects.filter(guild=guild, parent=parent)
        .order_by("position")
        .values_list("name", flat=True)
    )


def category(guild, name: str) -> Channel:
    return Channel.objects.get(guild=guild, name=name, type=ChannelType.GUILD_CATEGORY)


def test_every_permission_flag_has_a_group_a_name_and_a_description():
    assert {label.bit for label in labels.LABELS} == {int(flag) for flag in P}
    assert len(labels.LABELS) == len(list(P))  # no flag described twice
    for label in labels.LABELS:
        assert label.group in labels.GROUPS, label
        assert label.name.strip() and label.name != label.flag.name, label
        assert label.description.strip().endswith("."), label
        assert label.scope in (labels.GUILD, labels.CHANNEL, labels.TEXT_ONLY, labels.VOICE_ONLY)
    assert len({label.name for label in labels.LABELS}) == len(labels.LABELS)
    assert [group for group, _ in labels.grouped()] == list(labels.GROUPS)
    assert labels.name_of(P.VIEW_CHANNEL) == "View Channels"


def test_overwrite_editors_offer_only_what_means_something_there():
    def shown(kind: str) -> set[int]:
        return {label.bit for label in labels.LABELS if labels.applies_to_channel(label, kind)}

    text, voice, cat = shown("text"), shown("voice"), shown("category")
    assert int(P.SEND_MESSAGES) in text and int(P.SEND_MESSAGES) not in voice
    assert int(P.CONNECT) in voice and int(P.CONNECT) not in text
    assert int(P.VIEW_CHANNEL) in text & voice
    assert cat == text | voice
    assert int(P.ADMINISTRATOR) not in cat and int(P.BAN_MEMBERS) not in cat


def test_move_one_step_past_a_sibling_of_the_same_kind(
    guild, owner, published, django_capture_on_commit_callbacks
):
    text = category(guild, "Text Channels")
    for name in ("two", "three"):
        channels.check_create_channel(owner, guild.id, {"name": name, "parent_id": text.id})
    three = Channel.objects.get(guild=guild, name="three")
    with django_capture_on_commit_callbacks(execute=True):
        channels.check_move_channel(owner, three.id, -1)
    assert names(guild, text) == ["general", "three", "two"]
    assert any(d["id"] == str(three.id) for _, d in events_named(published, "CHANNEL_UPDATE"))
    channels.check_move_channel(owner, three.id, -1)
    channels.check_move_channel(owner, three.id, -1)  # already first: nothing moves
    assert names(guild, text) == ["three", "general", "two"]
    # A top-level channel sits between the categories: a category steps past the other one.
    channels.check_create_channel(owner, guild.id, {"name": "loose", "position": 1})
    voice = category(guild, "Voice Channels")
    channels.check_move_channel(owner, voice.id, -1)
    top = [c.name for c in Channel.objects.filter(guild=guild, parent=None).order_by("position")]
    assert top.index("Voice Channels") < top.index("Text Channels")


def test_moving_needs_manage_channels(guild, owner, join):
    member = join("member")
    general = Channel.objects.get(guild=guild, name="general")
    with pytest.raises(Forbidden):
        channels.check_move_channel(member, general.id, 1)
    with pytest.raises(Forbidden):
        channels.check_reorder_channels(member, guild.id, [{"id": general.id, "position": 1}])


def test_reorder_refusals_over_the_api(api, guild, owner, join, make_user):
    url = f"/api/v1/guilds/{guild.id}/channels"
    general = Channel.objects.get(guild=guild, name="general")
    member = join("member")
    denied = api(member).patch(url, [{"id": str(general.id), "position": 1}], format="json")
    assert denied.status_code == 403
    assert denied.json()["code"] == 50013 and denied.json()["message"].startswith("Missing")
    # Another guild's category, even one the actor manages, is no parent here.
    elsewhere = guild_services.check_create_guild(owner, name="Elsewhere")
    foreign = category(elsewhere, "Text Channels")
    moved = api(owner).patch(
        url, [{"id": str(general.id), "parent_id": str(foreign.id), "position": 0}], format="json"
    )
    assert moved.status_code == 400
    assert "parent_id" in moved.json()["errors"]
    general.refresh_from_db()
    assert general.parent_id == category(guild, "Text Channels").id
    # Another guild's channel cannot be moved from this guild's list.
    theirs = Channel.objects.get(guild=elsewhere, name="general")
    stolen = api(owner).patch(url, [{"id": str(theirs.id), "position": 0}], format="json")
    assert stolen.status_code == 404
    bad = api(owner).patch(url, [{"id": "x", "position": "up"}], format="json")
    assert bad.status_code == 400 and bad.json()["errors"]


def test_deleting_a_category_keeps_its_channels_uncategorised(
    guild, owner, published, django_capture_on_commit_callbacks
):
    text = category(guild, "Text Channels")
    general = Channel.objects.get(guild=guild, name="general")
    with django_capture_on_commit_callbacks(execute=True):
        channels.check_delete_channel(owner, text.id)
    general.refresh_from_db()
    assert general.parent_id is None
    assert not Channel.objects.filter(id=text.id).exists()
    [(_, gone)] = events_named(published, "CHANNEL_DELETE")
    assert gone["id"] == str(text.id)
    assert any(
        d["id"] == str(general.id) and d["parent_id"] is None
        for _, d in events_named(published, "CHANNEL_UPDATE")
    )


def test_view_as_role(guild, owner, join, make_role):
    quiet = make_role("Quiet")
    general = Channel.objects.get(guild=guild, name="general")
    overwrites.check_put_overwrite(owner, general.id, quiet.id, {"type": 0, "deny": VIEW})
    secret = channels.check_create_channel(
        owner,
        guild.id,
        {
            "name": "secret",
            "permission_overwrites": [{"id": str(guild.id), "type": 0, "deny": VIEW}],
        },
    )
    preview = check_view_as_role(owner, guild.id, quiet.id)
    rows = {row.channel.name: row for row in preview.channels}
    assert rows["general"].visible is False and rows["general"].allowed == []
    assert rows["secret"].visible is False
    assert rows["General"].visible and "Connect" in rows["General"].allowed
    assert "Send Messages" not in rows["General"].allowed
    everyone = {r.channel.name: r for r in check_view_as_role(owner, guild.id, guild.id).channels}
    assert everyone["general"].visible and "Send Messages" in everyone["general"].allowed
    assert "Change Nickname" in check_view_as_role(owner, guild.id, guild.id).guild_wide
    # A manager only previews channels they can see themselves.
    manager = join("manager", make_role("Managers", P.MANAGE_ROLES))
    seen = {row.channel.id for row in check_view_as_role(manager, guild.id, quiet.id).channels}
    assert secret.id not in seen and general.id in seen
    with pytest.raises(Forbidden):
        check_view_as_role(join("member"), guild.id, quiet.id)
    with pytest.raises(NotFound):
        check_view_as_role(owner, guild.id, 12345)
