"""Notification settings: per guild and per channel, what notifies a member (all messages,
only mentions and replies, nothing) and for how long they muted it.

One rule decides for pushes, the mention badge and the unread marks (`effective`): a channel's
own level wins over its guild's unless it says "inherit"; a mute of the guild or of the channel
silences it. A guild's channels default to "mentions" and DMs to "all", like Discord.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from guilds.models import Channel, Guild
from messaging.models import NotificationSetting, NotifyLevel
from united.errors import Invalid

GUILD_DEFAULT = NotifyLevel.MENTIONS
DM_DEFAULT = NotifyLevel.ALL
# Durations offered by the menus, in seconds; None mutes until turned back on.
MUTE_CHOICES: dict[str, int | None] = {"1h": 3600, "8h": 8 * 3600, "24h": 86400, "forever": None}


@dataclass(frozen=True)
class Effective:
    level: str
    muted: bool
    muted_until: datetime | None  # when the mute that applies ends (None: it does not end)

    @property
    def silent(self) -> bool:
        return self.muted or self.level == NotifyLevel.NOTHING


def _rows(user_id: int, channels: list[Channel]) -> dict[tuple[str, int], NotificationSetting]:
    guild_ids = {c.guild_id for c in channels if c.guild_id}
    rows = NotificationSetting.objects.filter(user_id=user_id).filter(
        Q(channel_id__in=[c.id for c in channels]) | Q(channel__isnull=True, guild_id__in=guild_ids)
    )
    out: dict[tuple[str, int], NotificationSetting] = {}
    for row in rows:
        if row.channel_id:
            out[("c", row.channel_id)] = row
        elif row.guild_id:
            out[("g", row.guild_id)] = row
    return out


def _decide(
    channel: Channel, rows: dict[tuple[str, int], NotificationSetting], now: datetime
) -> Effective:
    own = rows.get(("c", channel.id))
    guild_row = rows.get(("g", channel.guild_id)) if channel.guild_id else None
    level = (guild_row.level if guild_row and guild_row.level else None) or (
        GUILD_DEFAULT if channel.guild_id else DM_DEFAULT
    )
    if own is not None and own.level:
        level = own.level
    mutes = [r for r in (own, guild_row) if r is not None and r.muted_at(now)]
    until = None
    if mutes and all(r.muted_until for r in mutes):
        until = max(r.muted_until for r in mutes if r.muted_until)
    return Effective(level, bool(mutes), until)


def effective(user_id: int, channel: Channel, now: datetime | None = None) -> Effective:
    return _decide(channel, _rows(user_id, [channel]), now or timezone.now())


def effective_many(
    user_id: int, channels: list[Channel], now: datetime | None = None
) -> dict[int, Effective]:
    rows = _rows(user_id, channels)
    now = now or timezone.now()
    return {c.id: _decide(c, rows, now) for c in channels}


def setting_for(user_id: int, *, guild: Guild | None = None, channel: Channel | None = None):
    """The member's own row for a guild or a channel, unsaved if they never chose."""
    if channel is not None:
        row = NotificationSetting.objects.filter(user_id=user_id, channel=channel).first()
        return row or NotificationSetting(user_id=user_id, channel=channel, level="")
    row = NotificationSetting.objects.filter(
        user_id=user_id, guild=guild, channel__isnull=True
    ).first()
    return row or NotificationSetting(user_id=user_id, guild=guild, level=GUILD_DEFAULT)


def check_set_notifications(
    user,
    *,
    guild: Guild | None = None,
    channel: Channel | None = None,
    level: Any,
    mute: Any = None,
) -> NotificationSetting:
    """`guild`/`channel` come from an access_* the caller did (the member may see them).
    `mute`: one of MUTE_CHOICES, "off" to unmute, None to keep the current mute."""
    allowed = {NotifyLevel.ALL, NotifyLevel.MENTIONS, NotifyLevel.NOTHING}
    if channel is not None and channel.guild_id is None:
        # A DM: every message is addressed to you, and the node cannot read E2E ones to
        # find a mention, so it is all or nothing.
        allowed = {NotifyLevel.ALL, NotifyLevel.NOTHING}
    elif channel is not None:
        allowed.add(NotifyLevel.INHERIT)
    if level not in allowed:
        raise Invalid(
            errors={"level": ["One of: " + ", ".join(sorted(v or "''" for v in allowed))]}
        )
    if mute is not None and mute != "off" and mute not in MUTE_CHOICES:
        raise Invalid(errors={"mute": ["One of: off, " + ", ".join(MUTE_CHOICES)]})
    return do_set_notifications(user, guild=guild, channel=channel, level=level, mute=mute)


def do_set_notifications(
    user,
    *,
    guild: Guild | None = None,
    channel: Channel | None = None,
    level: str,
    mute: str | None = None,
) -> NotificationSetting:
    row = setting_for(user.id, guild=guild, channel=channel)
    row.level = level
    now = timezone.now()
    if mute == "off":
        row.muted, row.muted_until = False, None
    elif mute is not None:
        seconds = MUTE_CHOICES[mute]
        row.muted = True
        row.muted_until = None if seconds is None else now + timedelta(seconds=seconds)
    row.updated_at = now
    row.save()
    return row


def notifiable(user_id: int, level: str, messages, role_ids: list[int] | None = None):
    """The messages of `messages` (a queryset of newer messages by others) that notify a
    member at `level`: all of them, or those that mention them (directly, by one of their
    roles, @everyone) or reply to one of their messages."""
    if level == NotifyLevel.ALL:
        return messages
    if level != NotifyLevel.MENTIONS:
        return messages.none()
    return messages.filter(
        Q(mentions=user_id)
        | Q(mention_everyone=True)
        | Q(mention_roles__in=role_ids or [])
        | Q(reference__author_id=user_id)
    ).distinct()
