"""Timeouts: a member may read but not send, react or speak until a moment, guild-wide
(Discord's `communication_disabled_until`) or in one channel and its threads. Messaging calls
`check_not_timed_out` before a send or a reaction; voice is to call it before SPEAK."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from guilds.models import Channel, Guild, Member
from moderation.models import AuditLogEntry, MemberTimeout
from moderation.services.audit import record_audit
from moderation.services.standing import access_target
from united.audit import AuditLogEvent
from united.errors import Forbidden, Invalid

MAX_TIMEOUT = timedelta(days=28)  # Discord's limit
TIMED_OUT = 40015  # ours: "you are timed out in this guild or channel"


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _active_timeouts(guild_id: int, user_id: int, now: datetime | None = None):
    return MemberTimeout.objects.filter(
        guild_id=guild_id, user_id=user_id, until__gt=now or timezone.now()
    )


def communication_disabled_until(guild_id: int, user_id: int) -> datetime | None:
    row = _active_timeouts(guild_id, user_id).filter(channel__isnull=True).first()
    return row.until if row else None


def timed_out_until(user: Any, channel: Channel) -> datetime | None:
    """When `user` may speak in `channel` again, if they are timed out there (guild-wide, in
    the channel, or in the channel a thread hangs under); the latest end wins."""
    if channel.guild_id is None or not getattr(user, "is_authenticated", False):
        return None
    where = Q(channel__isnull=True) | Q(channel_id=channel.id)
    if channel.parent_id:
        where |= Q(channel_id=channel.parent_id)
    row = _active_timeouts(channel.guild_id, user.id).filter(where).order_by("-until").first()
    return row.until if row is not None else None


def check_not_timed_out(user: Any, channel: Channel) -> None:
    """Refuse a timed-out member's send, reaction or speech in `channel` (a per-channel mute
    also covers the threads under that channel)."""
    until = timed_out_until(user, channel)
    if until is not None:
        raise timed_out(until)


def timed_out(until: datetime) -> Forbidden:
    return Forbidden(
        f"You are timed out until {until.isoformat()}",
        code=TIMED_OUT,
        errors={"communication_disabled_until": [until.isoformat()]},
    )


def member_payload(member: Member) -> dict[str, Any]:
    """GUILD_MEMBER_UPDATE / PATCH member shape with Discord's `communication_disabled_until`
    and our per-channel mutes."""
    from guilds.serialize import serialize_member

    rows = list(_active_timeouts(member.guild_id, member.user_id))
    guild_wide = next((r.until for r in rows if r.channel_id is None), None)
    return {
        **serialize_member(member),
        "guild_id": str(member.guild_id),
        "communication_disabled_until": iso(guild_wide),
        "channel_timeouts": [
            {"channel_id": str(r.channel_id), "until": iso(r.until)} for r in rows if r.channel_id
        ],
    }


def member_update(guild_id: int, user_id: int) -> None:
    from united import events

    member = (
        Member.objects.select_related("user").filter(guild_id=guild_id, user_id=user_id).first()
    )
    if member is not None:
        events.broadcast(
            events.guild_group(guild_id), "GUILD_MEMBER_UPDATE", member_payload(member)
        )


def parse_until(raw: Any, field: str = "communication_disabled_until") -> datetime | None:
    if raw is None:
        return None
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    if moment is None or moment.tzinfo is None:
        raise Invalid(errors={field: ["An ISO 8601 timestamp with a time zone, or null."]})
    return moment


def check_update_member(
    user: User, guild_id: int, user_id: int, changes: dict[str, Any], *, reason: str = ""
) -> dict[str, Any]:
    """Discord's PATCH /guilds/{id}/members/{uid}: the guild's fields (`nick`, `roles`, checked
    by the guild services), then the timeout (`communication_disabled_until`: MODERATE_MEMBERS,
    hierarchy), all in one transaction: a refused timeout leaves the nick and roles as they
    were. Answers the member with its timeouts."""
    from guilds.services.members import check_update_member as check_update_guild_fields

    with transaction.atomic():
        member = check_update_guild_fields(user, guild_id, user_id, changes, reason=reason)
        if "communication_disabled_until" in changes:
            until = parse_until(changes["communication_disabled_until"])
            check_timeout(user, guild_id, user_id, until, reason=reason)
        return member_payload(member)


def check_timeout(
    actor: User,
    guild_id: int,
    user_id: int,
    until: datetime | None,
    *,
    channel_id: int | None = None,
    reason: str = "",
    operator: bool = False,
) -> AuditLogEntry | None:
    """Time a member out until `until` (None lifts it): MODERATE_MEMBERS, at most 28 days."""
    from guilds.permissions import Permissions as P
    from guilds.permissions import has

    with transaction.atomic():
        standing = access_target(actor, guild_id, user_id, P.MODERATE_MEMBERS, operator=operator)
        if standing.member is None:
            from guilds.services.access import unknown_member

            raise unknown_member()
        channel = None
        if channel_id is not None:
            channel = Channel.objects.filter(id=channel_id, guild=standing.guild).first()
            if channel is None:
                raise Invalid(errors={"channel_id": ["Unknown channel of this guild."]})
        now = timezone.now()
        if until is not None:
            if until <= now:
                until = None
            elif until - now > MAX_TIMEOUT:
                raise Invalid(errors={"communication_disabled_until": ["At most 28 days ahead."]})
        if until is not None and not operator:
            from guilds.services.access import guild_context

            target_ctx = guild_context(standing.target, standing.guild.id)
            if has(target_ctx.base, P.ADMINISTRATOR):
                raise Forbidden("Administrators cannot be timed out")
        return do_timeout(standing.guild, actor, standing.target, until, channel, reason=reason)


def do_timeout(
    guild: Guild,
    moderator: User | None,
    user: User,
    until: datetime | None,
    channel: Channel | None = None,
    *,
    reason: str = "",
    action: AuditLogEvent = AuditLogEvent.MEMBER_UPDATE,
) -> AuditLogEntry | None:
    rows = MemberTimeout.objects.filter(guild=guild, user=user, channel=channel)
    current = rows.filter(until__gt=timezone.now()).first()
    old = current.until if current else None
    if until is None:
        rows.delete()
    else:
        MemberTimeout.objects.update_or_create(
            guild=guild,
            user=user,
            channel=channel,
            defaults={"until": until, "moderator": moderator, "reason": reason[:512]},
        )
    if old == until:
        return None
    change: dict[str, Any] = {
        "key": "communication_disabled_until",
        "old_value": iso(old),
        "new_value": iso(until),
    }
    changes = [change]
    if channel is not None:
        changes.append({"key": "channel_id", "new_value": str(channel.id)})
    entry = record_audit(guild, moderator, action, user.id, changes, reason)
    # Its GUILD_MEMBER_UPDATE also silences a timed-out member in voice at once (and lets
    # them be heard again when it is lifted): voice observes it (voice.services.on_guild_event).
    member_update(guild.id, user.id)
    return entry
