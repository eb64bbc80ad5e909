"""A change made on a guild's host reaches a member's node as an Announce, and the replica
applies it through the owning app's `do_*`: its gateway event has exactly the shape of the
event the same change makes when it is local, only the ids differ (issue 20, item 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from accounts.models import User
from federation import activities, mirror
from federation.guildwire import state
from federation.models import Activity, GuildLink, InboxItem, RemoteActor
from federation.people import user_for_actor
from guilds.models import Channel, ChannelType, Guild, Member, PermissionOverwrite, Role
from guilds.permissions import P
from guilds.services.channels import (
    check_create_channel,
    check_delete_channel,
    check_update_channel,
)
from guilds.services.guilds import do_create_guild
from guilds.services.members import do_add_member
from guilds.services.overwrites import check_delete_overwrite, check_put_overwrite
from guilds.services.roles import check_create_role, check_delete_role, check_update_role
from messaging.models import GatewayEvent, Message, Reaction, SearchBacklog
from messaging.services.messages import check_edit_message, check_send_message
from messaging.services.reactions import check_add_reaction
from moderation.models import GuildBan
from moderation.services.sanctions import check_ban
from tests.federation.fixtures import remote_identity
from united import events
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


def replica_guild(owner: User, commits) -> tuple[Guild, str]:
    """A guild this node holds as the replica of far.example's Group (its id, its link)."""
    with commits():
        guild = do_create_guild(owner, name="Far", icon=None, description="")
    group = f"{HOST}/groups/{guild.id}"
    remote_identity(group)
    GuildLink.objects.create(guild=guild, group_uri=group, domain="far.example")
    return guild, group


def note(mid: int, author_uri: str, channel_id: int, content: str) -> dict[str, Any]:
    """The host's Note for a message of its channel."""
    return {
        "id": f"{HOST}/messages/{mid}",
        "type": "Note",
        "attributedTo": author_uri,
        "messageId": str(mid),
        "channelId": str(channel_id),
        "hlc": clock().now().encode(),
        "source": {"content": content, "mediaType": "text/markdown"},
    }


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
    guild, group = replica_guild(carol, commits)
    channel = Channel.objects.get(guild=guild, name="general")
    eve_uri, dave_uri = f"{HOST}/users/eve", f"{HOST}/users/dave"
    eve, dave = user_for_actor(eve_uri), user_for_actor(dave_uri)
    with commits():
        do_add_member(guild, eve)
        do_add_member(guild, dave)
    mid = new_id()
    created = note(mid, eve_uri, channel.id, "hello")
    mark = last_event()
    with commits():
        announce(group, activities.build("Create", eve_uri, created, to=[group]))
    assert Message.objects.get(id=mid).content == "hello"

    # The host's `<@id>` is one of its own user ids: here that id is someone else (carol).
    again = f"hello again <@{carol.id}>"
    edited = {**created, "source": {"content": again, "mediaType": "text/markdown"}}
    edited["edited"] = datetime.now(UTC).isoformat()
    with commits():
        announce(group, activities.build("EmojiReact", dave_uri, created["id"], content="👍"))
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
    guild, group = replica_guild(carol, commits)
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
    guild, group = replica_guild(carol, commits)
    channel = Channel.objects.get(guild=guild, name="general")
    eve_uri = f"{HOST}/users/eve"
    with commits():
        do_add_member(guild, user_for_actor(eve_uri))
    mid = new_id()
    created = note(mid, eve_uri, channel.id, "from far")
    heard.clear()
    sent = Activity.objects.count()
    with commits():
        announce(group, activities.build("Create", eve_uri, created, to=[group]))
        announce(group, activities.build("EmojiReact", eve_uri, created["id"], content="👍"))
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


# The guild-state changes a member sees, in the order both sides make them. Setting and
# removing an overwrite are CHANNEL_UPDATEs of the channel, as on Discord.
STEPS = (
    ("role create", "GUILD_ROLE_CREATE"),
    ("role update", "GUILD_ROLE_UPDATE"),
    ("channel create", "CHANNEL_CREATE"),
    ("channel update", "CHANNEL_UPDATE"),
    ("overwrite set", "CHANNEL_UPDATE"),
    ("overwrite delete", "CHANNEL_UPDATE"),
    ("channel delete", "CHANNEL_DELETE"),
    ("role delete", "GUILD_ROLE_DELETE"),
)


def first_after(mark: int, t: str) -> dict[str, Any]:
    event = GatewayEvent.objects.filter(id__gt=mark, t=t).order_by("id").first()
    assert event is not None, f"no {t}"
    return event.d


def local_guild_changes(make_user, commits) -> dict[str, dict[str, Any]]:
    """Each step made on this node by the owner of a guild it hosts, through the API's check_*."""
    alice = make_user("alice")
    with commits():
        guild = do_create_guild(alice, name="Here", icon=None, description="")
    category = Channel.objects.get(guild=guild, type=ChannelType.GUILD_CATEGORY, position=0)
    seen: dict[str, dict[str, Any]] = {}
    made: dict[str, int] = {}

    def step(name: str, t: str, change) -> None:
        mark = last_event()
        with commits():
            change()
        seen[name] = first_after(mark, t)

    def create_role() -> None:
        made["role"] = check_create_role(alice, guild.id, {"name": "Mods", "color": 0xFF0000}).id

    def create_channel() -> None:
        body = {"name": "news", "type": 0, "parent_id": str(category.id)}
        made["channel"] = check_create_channel(alice, guild.id, body).id

    deny = {"type": 0, "deny": str(int(P.SEND_MESSAGES))}
    changes = {
        "role create": create_role,
        "role update": lambda: check_update_role(alice, guild.id, made["role"], {"hoist": True}),
        "channel create": create_channel,
        "channel update": lambda: check_update_channel(alice, made["channel"], {"topic": "t"}),
        "overwrite set": lambda: check_put_overwrite(alice, made["channel"], made["role"], deny),
        "overwrite delete": lambda: check_delete_overwrite(alice, made["channel"], made["role"]),
        "channel delete": lambda: check_delete_channel(alice, made["channel"]),
        "role delete": lambda: check_delete_role(alice, guild.id, made["role"]),
    }
    for name, t in STEPS:
        step(name, t, changes[name])
    return seen


@pytest.fixture
def replica(make_user, commits):
    """Carol's node holds a replica of a guild of far.example; eve (of far.example) is in it."""
    carol = make_user("carol")
    guild, group = replica_guild(carol, commits)
    with commits():
        do_add_member(guild, user_for_actor(f"{HOST}/users/eve"))
    return guild


def host_state(guild: Guild) -> dict[str, Any]:
    """The state the host would send for the replica as it is now (the same wire form)."""
    doc = state(guild)
    doc["id"] = f"{HOST}/groups/{guild.id}/state"
    return doc


def send_state(guild: Guild, doc: dict[str, Any]) -> None:
    """What the inbox does with the host Group's Update of its GuildState."""
    group = f"{HOST}/groups/{guild.id}"
    activity = activities.build("Update", group, doc, to=[group])
    actor = RemoteActor.objects.get(uri=group)
    outcome = mirror.handle(
        InboxItem(payload=activity, activity_uri=activity["id"]), activity, actor
    )
    assert outcome is not None and outcome[0] == "processed", outcome


def test_mirrored_role_channel_and_overwrite_changes_publish_the_events_of_local_ones(
    make_user, commits, replica, heard
):
    local = local_guild_changes(make_user, commits)
    guild = replica
    category = Channel.objects.get(guild=guild, type=ChannelType.GUILD_CATEGORY, position=0)
    doc = host_state(guild)
    role_id, channel_id = new_id(), new_id()
    role = {
        "id": str(role_id),
        "name": "Mods",
        "color": 0xFF0000,
        "position": 1,
        "hoist": False,
        "mentionable": False,
        "permissions": "0",
    }
    channel = {
        "id": str(channel_id),
        "type": 0,
        "name": "news",
        "topic": "",
        "position": 1,
        "parent_id": str(category.id),
        "nsfw": False,
        "rate_limit_per_user": 0,
        "default_message_ttl": 0,
        "permission_synced": True,
        "overwrites": [],
    }
    deny = {"role": str(role_id), "allow": "0", "deny": str(int(P.SEND_MESSAGES))}
    # What the host's state says after each step, in order.
    changes = {
        "role create": lambda d: d["roles"].append(role),
        "role update": lambda d: role.update(hoist=True),
        "channel create": lambda d: d["channels"].append(channel),
        "channel update": lambda d: channel.update(topic="t"),
        "overwrite set": lambda d: channel.update(permission_synced=False, overwrites=[deny]),
        "overwrite delete": lambda d: channel.update(overwrites=[]),
        "channel delete": lambda d: d["channels"].remove(channel),
        "role delete": lambda d: d["roles"].remove(role),
    }
    mirrored: dict[str, dict[str, Any]] = {}
    sent = Activity.objects.count()
    for name, t in STEPS:
        changes[name](doc)
        mark = last_event()
        heard.clear()
        with commits():
            send_state(guild, doc)
        mirrored[name] = first_after(mark, t)
        # Each is the host's change: it carries the host as origin and names no member.
        assert {(e.origin, e.actor_id) for e in heard} == {("far.example", None)}, name
        if name == "channel create":
            assert Channel.objects.get(id=channel_id).parent_id == category.id
            assert mirrored[name]["id"] == str(channel_id)
        if name == "overwrite set":
            (row,) = PermissionOverwrite.objects.filter(channel_id=channel_id)
            assert (row.target_id, row.deny) == (role_id, int(P.SEND_MESSAGES))
            shown = mirrored[name]["permission_overwrites"]
            assert [o["id"] for o in shown] == [str(role_id)]
        if name == "role update":
            assert Role.objects.get(id=role_id).hoist
    assert not Role.objects.filter(id=role_id).exists()
    assert not Channel.objects.filter(id=channel_id).exists()
    # …and a member's client hears each as it hears the same change made here.
    for name, _ in STEPS:
        assert shape(mirrored[name]) == shape(local[name]), name
    assert mirrored["role create"]["role"]["id"] == str(role_id)
    assert mirrored["role delete"]["role_id"] == str(role_id)
    assert mirrored["channel delete"]["id"] == str(channel_id)
    # Nothing of it goes back to the host.
    assert Activity.objects.count() == sent


def test_the_same_state_twice_changes_nothing_and_tells_no_one(commits, replica):
    guild = replica
    doc = host_state(guild)
    mods = {"id": str(new_id()), "name": "Mods", "position": 7, "permissions": "2"}
    doc["roles"].append(mods)
    eve = user_for_actor(f"{HOST}/users/eve")
    (entry,) = [m for m in doc["members"] if m["actor"] == f"{HOST}/users/eve"]
    entry.update(roles=[mods["id"]], nick="Evie")
    with commits():
        send_state(guild, doc)
    member = Member.objects.get(guild=guild, user=eve)
    assert member.nick == "Evie"
    assert [r.name for r in member.roles.all()] == ["Mods"]
    # The host's position 7 is a place in its order: here, just above @everyone.
    assert Role.objects.get(guild=guild, name="Mods").position == 1
    mark = last_event()
    with commits():
        send_state(guild, doc)
    assert not GatewayEvent.objects.filter(id__gt=mark).exists()


def test_an_older_state_arriving_late_does_not_undo_a_newer_one(commits, replica):
    guild = replica
    older = host_state(guild)
    newer = host_state(guild)
    newer["guild"]["name"] = "Renamed on the host"
    newer["revision"] = older["revision"] + 1000
    with commits():
        send_state(guild, newer)
    assert Guild.objects.get(id=guild.id).name == "Renamed on the host"
    mark = last_event()
    with commits():
        send_state(guild, older)  # a retried delivery of the earlier state
    assert Guild.objects.get(id=guild.id).name == "Renamed on the host"
    assert not GatewayEvent.objects.filter(id__gt=mark).exists()
    newest = host_state(guild)
    newest["guild"]["name"] = "Renamed again"
    newest["revision"] = newer["revision"] + 1000
    with commits():
        send_state(guild, newest)
    assert Guild.objects.get(id=guild.id).name == "Renamed again"


def test_a_state_naming_another_guilds_channel_or_role_takes_nothing_over(
    make_user, commits, replica
):
    """Ids are shared across nodes: a host naming an id of one of our own guilds must not
    move that channel or role into its replica."""
    alice = make_user("alice")
    with commits():
        ours = do_create_guild(alice, name="Ours", icon=None, description="")
    general = Channel.objects.get(guild=ours, name="general")
    role = check_create_role(alice, ours.id, {"name": "Ours"})
    for key, taken in (("channels", general.id), ("roles", role.id)):
        doc = host_state(replica)
        doc[key].append({**doc[key][-1], "id": str(taken), "name": "mine now"})
        with pytest.raises(ValueError, match="another guild"), mirror.applying("far.example"):
            mirror.apply_state(f"{HOST}/groups/{replica.id}", doc)
    general.refresh_from_db()
    role.refresh_from_db()
    assert (general.guild_id, general.name) == (ours.id, "general")
    assert (role.guild_id, role.name) == (ours.id, "Ours")


def test_a_channel_the_host_moved_to_another_category_takes_its_place_there(commits, replica):
    guild = replica
    text, voice = (
        Channel.objects.get(guild=guild, type=ChannelType.GUILD_CATEGORY, position=p)
        for p in (0, 1)
    )
    general = Channel.objects.get(guild=guild, name="general")
    doc = host_state(guild)
    (moved,) = [c for c in doc["channels"] if c["id"] == str(general.id)]
    (other,) = [c for c in doc["channels"] if c["parent_id"] == str(voice.id)]
    # On the host, general now sits first in "Voice Channels", above the voice channel.
    moved.update(parent_id=str(voice.id), position=0)
    other.update(position=1)
    mark = last_event()
    with commits():
        send_state(guild, doc)
    in_voice = Channel.objects.filter(parent=voice).order_by("position")
    assert [(c.id, c.position) for c in in_voice] == [(general.id, 0), (int(other["id"]), 1)]
    assert not Channel.objects.filter(parent=text).exists()
    update = first_after(mark, "CHANNEL_UPDATE")
    assert (update["id"], update["parent_id"], update["position"]) == (
        str(general.id),
        str(voice.id),
        0,
    )


def test_a_voice_state_of_ours_arriving_after_the_leave_does_not_put_them_back(
    make_user, commits, replica
):
    """The host's join and leave of our member travel as two deliveries; a retried join that
    lands after the leave must not show carol in the channel again (her next join was then
    taken for a self-mute change of a session that no longer existed)."""
    from federation import voice as federated
    from federation.people import actor_uri
    from voice.models import RemoteVoiceSession, VoiceState

    carol = User.objects.get(username="carol")
    link = GuildLink.objects.get(guild=replica)
    room = Channel.objects.filter(guild=replica, type=ChannelType.GUILD_VOICE).first()
    assert room is not None
    joined = {
        "type": "VoiceState",
        "actor": actor_uri(carol),
        "channelId": str(room.id),
        "sessionId": "fed-7",
        "slot": 1,
        "mute": False,
        "deaf": False,
        "selfMute": False,
        "selfDeaf": False,
        "suppress": False,
    }
    session = RemoteVoiceSession.objects.create(
        user=carol,
        guild=replica,
        channel_id=room.id,
        session_id="fed-7",
        token="t" * 43,
        endpoint=f"{HOST}/voice/signal",
    )
    with commits():
        assert federated.apply_state(link, joined) == carol.id
    assert VoiceState.objects.filter(user=carol, channel=room).exists()

    with commits():
        federated.apply_state(link, {**joined, "channelId": None})
    assert not VoiceState.objects.filter(user=carol).exists()
    assert not RemoteVoiceSession.objects.filter(id=session.id).exists()
    with commits():
        assert federated.apply_state(link, joined) is None  # the late, retried join
    assert not VoiceState.objects.filter(user=carol).exists()

    # A member of another node is not ours to vouch for: the host's word stands.
    eve = user_for_actor(f"{HOST}/users/eve")
    with commits():
        federated.apply_state(link, {**joined, "actor": f"{HOST}/users/eve", "sessionId": "x"})
    assert VoiceState.objects.filter(user=eve, channel=room).exists()
