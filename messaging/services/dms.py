"""Direct messages: 1:1 and group DMs are channels without a guild.

Anyone may open a DM with someone they share a guild with (the node does not let strangers
message members out of the blue). A 1:1 DM between two people is unique (`dm_key`); a group
DM holds up to 10 people and any member may leave it. Events go to every recipient's own
gateway group instead of a guild group. Bodies are plaintext here; end-to-end encrypted DMs
(ciphertext envelopes only) replace them in the E2E work.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.services import serialize_user
from guilds.models import Channel, ChannelType, Member
from guilds.permissions import Permissions as P
from guilds.services.access import ChannelAccess, unknown_channel
from messaging.ports import remote_dms
from united import errors, events, ratelimit
from united.errors import Invalid, NotFound

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


def check_create_group_dm(user, recipient_ids: Any, name: Any = None) -> Channel:
    if not isinstance(recipient_ids, list) or not recipient_ids:
        raise Invalid(errors={"recipients": ["A list of user ids."]})
    others = {_recipient(user, raw, "recipients").id for raw in recipient_ids}
    remote = remote_dms()
    if remote is not None and others & set(remote.remote_user_ids()):
        raise Invalid(
            errors={"recipients": ["Group DMs with members of other nodes are not supported."]}
        )
    if len(others) + 1 > GROUP_DM_MAX:
        raise Invalid(errors={"recipients": [f"At most {GROUP_DM_MAX} people."]})
    if name is not None and (not isinstance(name, str) or len(name) > 100):
        raise Invalid(errors={"name": ["At most 100 characters."]})
    ratelimit.limit_user("dm.new", user.id)
    with transaction.atomic():
        channel = Channel.objects.create(
            type=ChannelType.GROUP_DM, name=(name or "").strip(), owner=user
        )
        channel.recipients.set([user.id, *others])
        broadcast_to_channel(channel, "CHANNEL_CREATE", serialize_dm(channel))
    return channel


def check_leave_group_dm(user, channel_id: int) -> None:
    with transaction.atomic():
        channel = Channel.objects.filter(id=channel_id, type=ChannelType.GROUP_DM).first()
        if channel is None or not channel.recipients.filter(id=user.id).exists():
            raise unknown_channel()
        payload = serialize_dm(channel)
        channel.recipients.remove(user)
        if channel.owner_id == user.id:
            channel.owner = channel.recipients.order_by("id").first()
            channel.save(update_fields=["owner"])
        events.broadcast(events.user_group(user.id), "CHANNEL_DELETE", payload)
        broadcast_to_channel(
            channel,
            "CHANNEL_RECIPIENT_REMOVE",
            {"channel_id": str(channel.id), "user": serialize_user(user)},
        )


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
