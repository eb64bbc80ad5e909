"""A change made on a guild's host reaches a member's node as an Announce, and the replica
applies it through the owning app's `do_*`: its gateway event has exactly the shape of the
event the same change makes when it is local, only the ids differ (issue 20, item 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from federation import activities, mirror
from federation.models import Activity, GuildLink, InboxItem, RemoteActor
from federation.people import user_for_actor
from guilds.models import Channel, Member
from guilds.services.guilds import do_create_guild
from guilds.services.members import do_add_member
from messaging import events
from messaging.models import GatewayEvent, Message, Reaction, SearchBacklog
from messaging.services.messages import check_edit_message, check_send_message
from messaging.services.reactions import check_add_reaction
from moderation.models import GuildBan
from moderation.services.sanctions import check_ban
from tests.federation.fixtures import remote_identity
from united.hlc import clock
from united.ids import new_id

pytestmark = pytest.mark.django_db

HOST = "https://far.example"
KINDS = (
    "MESSAGE_CREATE",
    "MESSAGE_REACTION_ADD",
    "MESSAGE_UPDATE",
    "GUILD_MEMBER_REMOVE",
    "GUILD_BAN_ADD",
)


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """Run what waits for a commit (publishing, outbox fan-out) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture(autouse=True)
def _local_base(settings):
    settings.FEDERATION_DOMAIN = "127.0.0.1:8000"
    settings.FEDERATION_SCHEME = "http"


def shape(value: Any) -> Any:
    """Keys recursively and the type of every value: what a client's parser depends on."""
    if isinstance(value, dict):
        return {key: shape(v) for key, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


def last_event() -> int:
    return GatewayEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def events_after(mark: int) -> dict[str, dict[str, Any]]:
    """The first event of each kind published after `mark`."""
    found: dict[str, dict[str, Any]] = {}
    for event in GatewayEvent.objects.filter(id__gt=mark, t__in=KINDS).order_by("id"):
        found.setdefault(event.t, event.d)
    return found


def local_events(make_user, commits) -> dict[str, dict[str, Any]]:
    """A message, a reaction, an edit and a ban made on this node, in a guild it hosts."""
    alice, bob = make_user("alice"), make_user("bob")
    with commits():
        guild = do_create_guild(alice, name="Here", icon=None, description="")
        do_add_member(guild, bob)
        channel = Channel.objects.get(guild=guild, name="general")
    mark = last_event()
    with commits():
        message, _ = check_send_message(alice, channel.id, content="hello")
        check_add_reaction(bob, channel.id, message.id, "👍")
        check_edit_message(alice, channel.id, message.id, content="hello again")
        check_ban(alice, guild.id, bob.id, reason="spam")
    return events_after(mark)


def announce(group: str, inner: dict[str, Any]) -> None:
    """What the inbox does with the host Group's Announce of `inner`."""
    activity = activities.build("Announce", group, inner, to=[group])
    actor = RemoteActor.objects.get(uri=group)
    outcome = mirror.handle(
        InboxItem(payload=activity, activity_uri=activity["id"]), activity, actor
    )
    assert outcome is not None and outcome[0] == "processed", outcome


def test_mirrored_reaction_edit_and_ban_publish_the_events_of_local_ones(make_user, commits):
    local = local_events(make_user, commits)
    assert set(local) == set(KINDS)

    carol = make_user("carol")  # our member, in the replica of a guild of far.example
    with commits():
        guild = do_create_guild(carol, name="Far", icon=None, description="")
    group = f"{HOST}/groups/{guild.id}"
    remote_identity(group)
    GuildLink.objects.create(guild=guild, group_uri=group, domain="far.example")
    channel = Channel.objects.get(guild=guild, name="general")
    eve_uri, dave_uri = f"{HOST}/users/eve", f"{HOST}/users/dave"
    eve, dave = user_for_actor(eve_uri), user_for_actor(dave_uri)
    with commits():
        do_add_member(guild, eve)
        do_add_member(guild, dave)
    mid = new_id()
    note = {
        "id": f"{HOST}/messages/{mid}",
        "type": "Note",
        "attributedTo": eve_uri,
        "messageId": str(mid),
        "channelId": str(channel.id),
        "hlc": clock().now().encode(),
        "source": {"content": "hello", "mediaType": "text/markdown"},
    }
    mark = last_event()
    with commits():
        announce(group, activities.build("Create", eve_uri, note, to=[group]))
    assert Message.objects.get(id=mid).content == "hello"

    # The host's `<@id>` is one of its own user ids: here that id is someone else (carol).
    again = f"hello again <@{carol.id}>"
    edited = {**note, "source": {"content": again, "mediaType": "text/markdown"}}
    edited["edited"] = datetime.now(UTC).isoformat()
    with commits():
        announce(group, activities.build("EmojiReact", dave_uri, note["id"], content="👍"))
        announce(group, activities.build("Update", eve_uri, edited, to=[group]))
        announce(group, activities.build("Block", group, dave_uri, to=[group]))
    mirrored = events_after(mark)

    # What a member sees here is what the host has…
    assert Reaction.objects.filter(message_id=mid, user=dave, emoji="👍").exists()
    assert Message.objects.get(id=mid).content == again
    assert not Message.objects.get(id=mid).mentions.exists()
    assert GuildBan.objects.filter(guild=guild, user=dave).exists()
    assert not Member.objects.filter(guild=guild, user=dave).exists()
    # …and their client hears it as it hears a change made here.
    assert set(mirrored) == set(KINDS)
    for kind in KINDS:
        assert shape(mirrored[kind]) == shape(local[kind]), kind
    assert mirrored["MESSAGE_REACTION_ADD"]["member"]["user"]["id"] == str(dave.id)
    assert mirrored["GUILD_BAN_ADD"]["user"]["id"] == str(dave.id)


def test_a_mirrored_unban_lifts_the_ban_here(make_user, commits):
    carol = make_user("carol")
    with commits():
        guild = do_create_guild(carol, name="Far", icon=None, description="")
    group = f"{HOST}/groups/{guild.id}"
    remote_identity(group)
    GuildLink.objects.create(guild=guild, group_uri=group, domain="far.example")
    dave_uri = f"{HOST}/users/dave"
    dave = user_for_actor(dave_uri)
    block = activities.build("Block", group, dave_uri, to=[group])
    with commits():
        announce(group, block)
    assert GuildBan.objects.filter(guild=guild, user=dave).exists()
    mark = last_event()
    with commits():
        announce(group, activities.build("Undo", group, block, to=[group]))
    assert not GuildBan.objects.filter(guild=guild, user=dave).exists()
    (lifted,) = GatewayEvent.objects.filter(id__gt=mark, t="GUILD_BAN_REMOVE")
    assert lifted.d["user"]["id"] == str(dave.id)


def test_a_ban_on_the_host_is_announced_to_the_banned_members_node(make_user, commits):
    alice = make_user("alice")
    with commits():
        guild = do_create_guild(alice, name="Here", icon=None, description="")
    eve_uri = remote_identity(f"{HOST}/users/eve").uri
    eve = user_for_actor(eve_uri)
    with commits():
        do_add_member(guild, eve)
        check_ban(alice, guild.id, eve.id, reason="spam")
    blocks = [
        row.payload["object"]
        for row in Activity.objects.filter(type="Announce")
        if isinstance(row.payload.get("object"), dict)
    ]
    (block,) = [b for b in blocks if b.get("type") == "Block"]
    assert block["object"] == eve_uri
    assert "spam" not in str(block)  # the reason stays in the host's moderation log
    row = Activity.objects.get(payload__object__id=block["id"])
    assert row.deliveries.filter(node__domain="far.example").exists()


@pytest.fixture
def heard():
    """Every Published an observer hears, in order."""
    seen: list[events.Published] = []
    events.observe(seen.append)
    yield seen
    events.unobserve(seen.append)


def test_a_mirrored_change_carries_its_host_as_origin_and_a_local_one_none(
    make_user, commits, heard
):
    carol = make_user("carol")
    with commits():
        guild = do_create_guild(carol, name="Far", icon=None, description="")
    group = f"{HOST}/groups/{guild.id}"
    remote_identity(group)
    GuildLink.objects.create(guild=guild, group_uri=group, domain="far.example")
    channel = Channel.objects.get(guild=guild, name="general")
    eve_uri = f"{HOST}/users/eve"
    with commits():
        do_add_member(guild, user_for_actor(eve_uri))
    mid = new_id()
    note = {
        "id": f"{HOST}/messages/{mid}",
        "type": "Note",
        "attributedTo": eve_uri,
        "messageId": str(mid),
        "channelId": str(channel.id),
        "hlc": clock().now().encode(),
        "source": {"content": "from far", "mediaType": "text/markdown"},
    }
    heard.clear()
    sent = Activity.objects.count()
    with commits():
        announce(group, activities.build("Create", eve_uri, note, to=[group]))
        announce(group, activities.build("EmojiReact", eve_uri, note["id"], content="👍"))
    mirrored = [(e.t, e.origin) for e in heard]
    assert ("MESSAGE_CREATE", "far.example") in mirrored
    assert ("MESSAGE_REACTION_ADD", "far.example") in mirrored
    assert {origin for _, origin in mirrored} == {"far.example"}
    # The host's own change is not sent back to it, and the index follows it like a local one.
    assert Activity.objects.count() == sent
    assert SearchBacklog.objects.filter(message_id=mid).exists()

    heard.clear()
    with commits():
        check_add_reaction(carol, channel.id, mid, "🎉")
    (local,) = [e for e in heard if e.t == "MESSAGE_REACTION_ADD"]
    assert local.origin is None and local.actor_id == carol.id
    # Our member's reaction is local: it goes to the host.
    assert Activity.objects.filter(type="EmojiReact", payload__content="🎉").exists()
