"""Read states: where each user has read to in each channel, synced across their sessions."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from guilds.models import Channel
from messaging.models import Message, ReadState
from messaging.services.access import access_text_channel
from messaging.services.messages import unknown_message
from united import events


def do_mark_read(user, channel: Channel, message_id: int, *, notify: bool = True) -> None:
    # One statement when the marker exists (every send marks the sender's own message read).
    moved = ReadState.objects.filter(
        user=user, channel=channel, last_message_id__lt=message_id
    ).update(last_message_id=message_id, updated_at=timezone.now())
    if not moved:
        _state, created = ReadState.objects.get_or_create(
            user=user, channel=channel, defaults={"last_message_id": message_id}
        )
        if not created:
            return  # read markers only move forward
    if notify:
        events.broadcast(
            events.user_group(user.id),
            "MESSAGE_ACK",
            {
                "channel_id": str(channel.id),
                "message_id": str(message_id),
            },
        )


def check_mark_read(user, channel_id: int, message_id: int) -> None:
    access = access_text_channel(user, channel_id)
    if not Message.objects.filter(id=message_id, channel=access.channel).exists():
        raise unknown_message()
    do_mark_read(user, access.channel, message_id)


def read_states(user, channels: list[Channel]) -> list[dict[str, Any]]:
    """For READY: per channel the last read message, whether there is anything newer, and
    how many newer messages mention the user (directly, by role or @everyone). A channel the
    member silenced (muted, or set to "nothing": messaging.services.notify) shows neither.

    A fixed number of queries for any number of channels (READY asks for every channel of
    every guild): what is newer than each channel's marker is found by joining the member's
    marker in SQL rather than by a query per channel."""
    from guilds.models import Member
    from messaging.services.notify import effective_many

    if not channels:
        return []
    ids = [c.id for c in channels]
    settings = effective_many(user.id, channels)
    states = dict(
        ReadState.objects.filter(user=user, channel_id__in=ids).values_list(
            "channel_id", "last_message_id"
        )
    )
    role_ids = list(
        Member.roles.through.objects.filter(
            member__user=user, member__guild_id__in={c.guild_id for c in channels}
        ).values_list("role_id", flat=True)
    )
    marker = ReadState.objects.filter(user=user, channel_id=OuterRef("channel_id")).values(
        "last_message_id"
    )[:1]
    newer = (
        Message.objects.live()
        .filter(channel_id__in=ids)
        .exclude(author=user)
        .annotate(read_to=Coalesce(Subquery(marker), Value(0)))
        .filter(id__gt=F("read_to"))
    )
    unread = set(newer.order_by().values_list("channel_id", flat=True).distinct())
    mentions = dict(
        newer.filter(Q(mentions=user) | Q(mention_everyone=True) | Q(mention_roles__in=role_ids))
        .order_by()
        .values("channel_id")
        .annotate(n=Count("id", distinct=True))
        .values_list("channel_id", "n")
    )
    out = []
    for channel in channels:
        last_read = states.get(channel.id, 0)
        silent = settings[channel.id].silent
        out.append(
            {
                "id": str(channel.id),
                "last_message_id": str(last_read) if last_read else None,
                "mention_count": 0 if silent else mentions.get(channel.id, 0),
                "unread": not silent and channel.id in unread,
                "muted": settings[channel.id].muted,
            }
        )
    return out
