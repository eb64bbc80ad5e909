"""Read states: where each user has read to in each channel, synced across their sessions."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
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
    member silenced (muted, or set to "nothing": messaging.services.notify) shows neither."""
    from messaging.services.notify import effective_many

    if not channels:
        return []
    settings = effective_many(user.id, channels)
    states = dict(
        ReadState.objects.filter(user=user, channel__in=channels).values_list(
            "channel_id", "last_message_id"
        )
    )
    from guilds.models import Member

    role_ids = list(
        Member.roles.through.objects.filter(
            member__user=user, member__guild_id__in={c.guild_id for c in channels}
        ).values_list("role_id", flat=True)
    )
    out = []
    for channel in channels:
        last_read = states.get(channel.id, 0)
        newer = (
            Message.objects.live().filter(channel=channel, id__gt=last_read).exclude(author=user)
        )
        mentions = (
            newer.filter(
                Q(mentions=user) | Q(mention_everyone=True) | Q(mention_roles__in=role_ids)
            )
            .distinct()
            .count()
        )
        last_message = (
            Message.objects.live()
            .filter(channel=channel)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
        silent = settings[channel.id].silent
        out.append(
            {
                "id": str(channel.id),
                "last_message_id": str(last_read) if last_read else None,
                "mention_count": 0 if silent else mentions,
                "unread": not silent
                and bool(last_message and last_message > last_read and newer.exists()),
                "muted": settings[channel.id].muted,
            }
        )
    return out
