"""Direct messages: 1:1 and group DMs are channels without a guild.

Anyone may open a DM with someone they share a guild with (the node does not let strangers
message members out of the blue). A 1:1 DM between two people is unique (`dm_key`); a group
DM holds up to 10 people, any member may leave it and its owner may remove members. Events go
to every recipient's own gateway group instead of a guild group. Bodies are end-to-end
encrypted envelopes (e2e app); a group DM with members of other nodes keeps its membership
on every node, changed only by its creator's node (federation.groupdms, behind the
`RemoteDMs` port).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.services import serialize_user
from accounts.services.moves import check_not_moved
from guilds.models import Channel, ChannelType, Member
from guilds.permissions import Permissions as P
from guilds.services.access import ChannelAccess, unknown_channel
from messaging.ports import remote_dms
from united import errors, events, ratelimit
from united.errors import Invalid, NotFound
from united.ids import parse_snowflake

DM_TYPES = frozenset({ChannelType.DM, ChannelType.GROUP_DM})
GROUP_DM_MAX = 10
DM_PERMISSIONS = int(
    P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.READ_MESSAGE_HISTORY
    | P.ADD_REACTIONS
    | P.ATTACH_FILES
    | P.EMBED_LINKS
)
CANNOT_DM = 50007
E2E_REQUIRED = 50055


def is_dm(channel: Channel) -> bool:
    return channel.type in DM_TYPES


def access_dm(user, channel: Channel) -> ChannelAccess:
    if not channel.recipients.filter(id=user.id).exists():
        raise unknown_channel()
    return ChannelAccess(None, channel, DM_PERMISSIONS)  # type: ignore[arg-type]


def channel_groups(channel: Channel) -> list[str]:
    """The gateway groups that hear about this channel's messages."""
    if channel.guild_id:
        return [events.guild_group(channel.guild_id)]
    return [events.user_group(uid) for uid in channel.recipients.values_list("id", flat=True)]


def broadcast_to_channel(channel: Channel, t: str, d: dict[str, Any], *, actor: Any = None) -> None:
    for group in channel_groups(channel):
        events.broadcast(group, t, d, actor=actor)


def serialize_dm(channel: Channel) -> dict[str, Any]:
    from messaging.models import Message

    last = (
        Message.objects.live()
        .filter(channel=channel)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return {
        "id": str(channel.id),
        "type": channel.type,
        "name": channel.name or None,
        "owner_id": str(channel.owner_id) if channel.owner_id else None,
        "recipients": [serialize_user(u) for u in channel.recipients.order_by("id")],
        "last_message_id": str(last) if last else None,
    }


def _shares_a_guild(a: User, b: User) -> bool:
    mine = Member.objects.filter(user=a).values_list("guild_id", flat=True)
    return Member.objects.filter(user=b, guild_id__in=mine).exists()


def _recipient(user, raw: Any, field: str) -> User:
    if isinstance(raw, str) and "@" in raw:  # `name@node`: a member of another node
        remote = remote_dms()
        if remote is None:
            raise Invalid(errors={field: ["This node does not federate: no `name@node` here."]})
        other = remote.resolve_handle(raw)
    else:
        try:
            other = User.objects.get(id=int(raw), is_active=True)
        except (User.DoesNotExist, TypeError, ValueError):
            raise NotFound("Unknown user", code=errors.UNKNOWN_USER) from None
    if other.id == user.id:
        raise Invalid(errors={field: ["You cannot message yourself."]})
    if not _shares_a_guild(user, other):
        raise errors.APIError("Cannot send messages to this user", code=CANNOT_DM, status=403)
    return other


def check_open_dm(user, recipient_id: Any) -> tuple[Channel, bool]:
    """Discord's POST /users/@me/channels {recipient_id}: the DM, made if new."""
    check_not_moved(user)
    other = _recipient(user, recipient_id, "recipient_id")
    already = (
        Channel.objects.filter(type=ChannelType.DM, recipients=user)
        .filter(recipients=other)
        .exists()
    )
    if not already:  # writing to someone new is what spam does; reopening a DM is free
        ratelimit.limit_user("dm.new", user.id)
    remote = remote_dms()
    if remote is not None and remote.remote_user(other.id) is not None:
        return remote.open_dm(user, other)  # the same id on both nodes
    key = f"{min(user.id, other.id)}:{max(user.id, other.id)}"
    existing = Channel.objects.filter(dm_key=key).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            channel = Channel.objects.create(type=ChannelType.DM, name="", dm_key=key)
            channel.recipients.set([user, other])
            payload = serialize_dm(channel)
            for uid in (user.id, other.id):
                events.broadcast(events.user_group(uid), "CHANNEL_CREATE", payload)
    except IntegrityError:  # opened concurrently by the other side
        return Channel.objects.get(dm_key=key), False
    return channel, True


def _group_size_ok(count: int) -> None:
    if count > GROUP_DM_MAX:
        raise Invalid(errors={"recipients": [f"At most {GROUP_DM_MAX} people."]})


def check_create_group_dm(user, recipient_ids: Any, name: Any = None) -> Channel:
    """A group DM of up to 10 people; members of other nodes (`name@node`) make it a
    federated group whose membership this node keeps for every node (docs/e2e.md)."""
    check_not_moved(user)
    if not isinstance(recipient_ids, list) or not recipient_ids:
        raise Invalid(errors={"recipients": ["A list of user ids or name@node handles."]})
    # Counted before anything is resolved: eleven handles never cost eleven remote lookups.
    _group_size_ok(len({str(r).strip().lstrip("@").lower() for r in recipient_ids}) + 1)
    if name is not None and (not isinstance(name, str) or len(name) > 100):
        raise Invalid(errors={"name": ["At most 100 characters."]})
    others = {u.id: u for u in (_recipient(user, raw, "recipients") for raw in recipient_ids)}
    _group_size_ok(len(others) + 1)
    ratelimit.limit_user("dm.new", user.id)
    remote = remote_dms()
    if remote is not None and others.keys() & set(remote.remote_user_ids()):
        return remote.create_group(user, list(others.values()), (name or "").strip())
    return do_create_group_dm(user, list(others.values()), (name or "").strip())


def do_create_group_dm(
    owner: User | None, members: list[User], name: str, *, channel_id: int | None = None
) -> Channel:
    """Make the group DM (with a given id when another node chose it) and tell its members."""
    with transaction.atomic():
        fields: dict[str, Any] = {"type": ChannelType.GROUP_DM, "name": name, "owner": owner}
        if channel_id is not None:
            fields["id"] = channel_id
        channel = Channel.objects.create(**fields)
        channel.recipients.set({m.id for m in members} | ({owner.id} if owner else set()))
        broadcast_to_channel(channel, "CHANNEL_CREATE", serialize_dm(channel))
    return channel


def do_set_group_members(channel: Channel, members: list[User], owner: User | None) -> None:
    """Make `members` the group's recipients: those who go get CHANNEL_DELETE, those who
    stay hear CHANNEL_RECIPIENT_REMOVE / _ADD, those who arrive get CHANNEL_CREATE."""
    with transaction.atomic():
        before = {u.id: u for u in channel.recipients.all()}
        after = {u.id: u for u in members}
        gone = [u for uid, u in before.items() if uid not in after]
        new = [u for uid, u in after.items() if uid not in before]
        goodbye = serialize_dm(channel)
        channel.recipients.set(after.keys())
        if channel.owner_id != (owner.id if owner else None):
            channel.owner = owner
            channel.save(update_fields=["owner"])
        for u in gone:
            events.broadcast(events.user_group(u.id), "CHANNEL_DELETE", goodbye)
        stay = [uid for uid in after if uid in before]
        for u in gone:
            payload = {"channel_id": str(channel.id), "user": serialize_user(u)}
            for uid in stay:
                events.broadcast(events.user_group(uid), "CHANNEL_RECIPIENT_REMOVE", payload)
        hello = serialize_dm(channel)
        for u in new:
            events.broadcast(events.user_group(u.id), "CHANNEL_CREATE", hello)
            payload = {"channel_id": str(channel.id), "user": serialize_user(u)}
            for uid in stay:
                events.broadcast(events.user_group(uid), "CHANNEL_RECIPIENT_ADD", payload)


def access_group_dm(user, channel_id: Any) -> Channel:
    channel = Channel.objects.filter(
        id=parse_snowflake(channel_id) or 0, type=ChannelType.GROUP_DM
    ).first()
    if channel is None or not channel.recipients.filter(id=user.id).exists():
        raise unknown_channel()
    return channel


def _next_owner(channel: Channel, leaving: User) -> User | None:
    if channel.owner_id != leaving.id:
        return channel.owner
    return channel.recipients.exclude(id=leaving.id).order_by("id").first()


def check_leave_group_dm(user, channel_id: int) -> None:
    channel = access_group_dm(user, channel_id)
    remote = remote_dms()
    if remote is not None and remote.leave_group(user, channel):
        return  # a federated group: its home node hears of it (federation.groupdms)
    members = list(channel.recipients.exclude(id=user.id))
    do_set_group_members(channel, members, _next_owner(channel, user))


def check_remove_group_member(user, channel_id: Any, member_id: Any) -> None:
    """Discord's DELETE /channels/{id}/recipients/{user_id}: the group's owner removes
    someone."""
    channel = access_group_dm(user, channel_id)
    if channel.owner_id != user.id:
        raise errors.Forbidden("Only the group's owner removes members")
    member = channel.recipients.filter(id=parse_snowflake(member_id) or 0).first()
    if member is None:
        raise NotFound("Unknown user", code=errors.UNKNOWN_USER)
    if member.id == user.id:
        raise Invalid(errors={"user_id": ["Leave the group instead."]})
    remote = remote_dms()
    if remote is not None and remote.remove_from_group(user, channel, member):
        return
    do_set_group_members(channel, list(channel.recipients.exclude(id=member.id)), user)


def list_dms(user) -> list[dict[str, Any]]:
    channels = Channel.objects.filter(recipients=user, type__in=DM_TYPES).prefetch_related(
        "recipients"
    )
    return [serialize_dm(c) for c in channels.order_by("-id")]


def e2e_required(channel_id: int) -> errors.APIError:
    """The refusal of a plaintext body in a DM (messaging's plaintext doors and e2e's envelope
    checks give the same answer)."""
    return errors.APIError(
        "Direct messages are end-to-end encrypted: the node accepts no plaintext here. "
        f"Encrypt on your device and POST an envelope to /api/v1/channels/{channel_id}/envelopes "
        "(docs/e2e.md).",
        code=E2E_REQUIRED,
        status=400,
    )
