"""Sanctions: kicks, bans (temporary or permanent) and unbans; timeouts live in `timeouts`.
Every door (REST, web pages, admin actions, report cases, automod) calls the `check_*`
functions, which load the moderator's standing and check the permission and the hierarchy;
the `do_*` functions write, log to the moderation log and tell live gateway sessions.

Hierarchy: a moderator acts only on members whose highest role sits strictly below their own;
the owner cannot be sanctioned, and nobody sanctions themselves. Node operators (superusers)
acting from the Django admin pass `operator=True`: they stand outside the guild's hierarchy
but still cannot sanction its owner.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from guilds.models import Guild
from moderation.models import AuditLogEntry, GuildBan, MemberTimeout
from moderation.services.audit import record_audit
from moderation.services.standing import access_target
from moderation.services.timeouts import iso, member_update
from united.audit import AuditLogEvent
from united.errors import Forbidden, Invalid, NotFound

# A temporary ban's longest term: past it, use a permanent ban (and the date stays far from
# datetime's year-9999 limit).
MAX_BAN_SECONDS = 100 * 365 * 86400

MAX_DELETE_SECONDS = 7 * 24 * 3600


def unknown_ban() -> NotFound:
    return NotFound("Unknown Ban", code=10026)


# --- kicks and bans --------------------------------------------------------------------------


def check_kick(
    actor: User, guild_id: int, user_id: int, *, reason: str = "", operator: bool = False
) -> AuditLogEntry:
    """Discord's DELETE /guilds/{id}/members/{uid}: KICK_MEMBERS."""
    from guilds.permissions import Permissions as P
    from guilds.services.access import unknown_member

    with transaction.atomic():
        standing = access_target(actor, guild_id, user_id, P.KICK_MEMBERS, operator=operator)
        if standing.member is None:
            raise unknown_member()
        return do_kick(standing.guild, actor, standing.target, reason=reason)


def do_kick(guild: Guild, moderator: User | None, user: User, *, reason: str = "") -> AuditLogEntry:
    from guilds.services.members import do_remove_member
    from united import events

    do_remove_member(guild, user, actor=moderator, audit=False)
    MemberTimeout.objects.filter(guild=guild, user=user).delete()
    events.revoke_guild_access(user.id, guild.id)
    return record_audit(guild, moderator, AuditLogEvent.MEMBER_KICK, user.id, reason=reason)


def check_ban(
    actor: User,
    guild_id: int,
    user_id: int,
    *,
    reason: str = "",
    delete_message_seconds: Any = 0,
    duration_seconds: Any = None,
    operator: bool = False,
) -> AuditLogEntry:
    """Discord's PUT /guilds/{id}/bans/{uid}: BAN_MEMBERS. `delete_message_seconds` (0 to 7
    days) deletes the user's recent messages in the guild; `duration_seconds` makes the ban
    temporary (lifted by the periodic expiry job)."""
    from guilds.permissions import Permissions as P

    field_errors: dict[str, list[str]] = {}
    if (
        not isinstance(delete_message_seconds, int)
        or isinstance(delete_message_seconds, bool)
        or not 0 <= delete_message_seconds <= MAX_DELETE_SECONDS
    ):
        field_errors["delete_message_seconds"] = [f"From 0 to {MAX_DELETE_SECONDS}."]
    expires_at = None
    if duration_seconds is not None:
        if (
            not isinstance(duration_seconds, int)
            or isinstance(duration_seconds, bool)
            or not 60 <= duration_seconds <= MAX_BAN_SECONDS
        ):
            field_errors["duration_seconds"] = [
                "From 60 seconds to 100 years, or absent for permanent."
            ]
        else:
            expires_at = timezone.now() + timedelta(seconds=duration_seconds)
    if field_errors:
        raise Invalid(errors=field_errors)
    with transaction.atomic():
        standing = access_target(actor, guild_id, user_id, P.BAN_MEMBERS, operator=operator)
        return do_ban(
            standing.guild,
            actor,
            standing.target,
            reason,
            delete_message_seconds=delete_message_seconds,
            expires_at=expires_at,
        )


@transaction.atomic
def do_ban(
    guild: Any,
    moderator: User | None,
    user: User,
    reason: str = "",
    *,
    delete_message_seconds: int = 0,
    expires_at: datetime | None = None,
) -> AuditLogEntry:
    """Ban `user`, remove their membership and (optionally) delete their recent messages."""
    from accounts.services import serialize_user
    from guilds.services.members import do_remove_member
    from messaging.models import Message
    from messaging.services.messages import do_delete_message
    from united import events

    if user.id == guild.owner_id:
        raise Forbidden("The owner cannot be banned")
    GuildBan.objects.update_or_create(
        guild_id=guild.id,
        user=user,
        defaults={"moderator": moderator, "reason": reason[:512], "expires_at": expires_at},
    )
    deleted = 0
    if delete_message_seconds:
        cutoff = timezone.now() - timedelta(seconds=delete_message_seconds)
        recent = Message.objects.live().filter(
            channel__guild_id=guild.id, author=user, created_at__gte=cutoff
        )
        for message in recent.select_related("channel"):
            do_delete_message(message, actor=moderator)
            deleted += 1
    do_remove_member(guild, user, actor=moderator, audit=False)
    MemberTimeout.objects.filter(guild_id=guild.id, user=user).delete()
    events.revoke_guild_access(user.id, guild.id)
    changes: list[dict[str, Any]] = [
        {"key": "delete_message_seconds", "new_value": delete_message_seconds},
        {"key": "messages_deleted", "new_value": deleted},
        {"key": "expires_at", "new_value": iso(expires_at)},
    ]
    entry = record_audit(guild, moderator, AuditLogEvent.MEMBER_BAN_ADD, user.id, changes, reason)
    events.broadcast(
        events.guild_group(guild.id),
        "GUILD_BAN_ADD",
        {"guild_id": str(guild.id), "user": serialize_user(user)},
        actor=moderator,
    )
    return entry


def check_unban(
    actor: User, guild_id: int, user_id: int, *, reason: str = "", operator: bool = False
) -> AuditLogEntry:
    from guilds.permissions import Permissions as P

    with transaction.atomic():
        standing = access_target(actor, guild_id, user_id, P.BAN_MEMBERS, operator=operator)
        ban = GuildBan.objects.filter(guild=standing.guild, user=standing.target).first()
        if ban is None:
            raise unknown_ban()
        return do_unban(ban, actor, reason=reason)


def do_unban(ban: GuildBan, moderator: User | None, *, reason: str = "") -> AuditLogEntry:
    from accounts.services import serialize_user
    from united import events

    guild, user = ban.guild, ban.user
    ban.delete()
    entry = record_audit(guild, moderator, AuditLogEvent.MEMBER_BAN_REMOVE, user.id, None, reason)
    events.broadcast(
        events.guild_group(guild.id),
        "GUILD_BAN_REMOVE",
        {"guild_id": str(guild.id), "user": serialize_user(user)},
        actor=moderator,
    )
    return entry


def is_banned(guild: Any, user: User) -> bool:
    ban = GuildBan.objects.filter(guild_id=guild.id, user_id=user.id).first()
    return ban is not None and ban.active()


def ban_notice(user: User, guild_id: int) -> dict[str, Any] | None:
    """What a banned member is told when they open the guild they were banned from: its
    name, when, until when, and the moderator's reason only if the guild chose to show
    reasons (`Guild.show_ban_reasons`, off by default: a reason may name a reporter). None
    when `user` is not banned there, so the caller's usual "Unknown Guild" stands."""
    if not getattr(user, "is_authenticated", False):
        return None
    ban = GuildBan.objects.filter(guild_id=guild_id, user_id=user.id).select_related("guild")
    row = ban.first()
    if row is None or not row.active():
        return None
    return {
        "guild_name": row.guild.name,
        "reason": row.reason if row.guild.show_ban_reasons and row.reason else None,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
    }


def serialize_ban(ban: GuildBan) -> dict[str, Any]:
    from accounts.services import serialize_user

    return {
        "reason": ban.reason or None,
        "user": serialize_user(ban.user),
        "expires_at": iso(ban.expires_at),
        "created_at": iso(ban.created_at),
    }


def list_bans(
    actor: User, guild_id: int, *, limit: int = 1000, after: int = 0
) -> list[dict[str, Any]]:
    """Discord's GET /guilds/{id}/bans: BAN_MEMBERS, ordered by user id."""
    from guilds.permissions import Permissions as P
    from guilds.services.access import guild_context

    ctx = guild_context(actor, guild_id)
    ctx.require(P.BAN_MEMBERS)
    if not 1 <= limit <= 1000:
        raise Invalid(errors={"limit": ["Between 1 and 1000."]})
    bans = GuildBan.objects.filter(guild=ctx.guild, user_id__gt=after).select_related("user")
    return [serialize_ban(b) for b in bans.order_by("user_id")[:limit]]


def get_ban(actor: User, guild_id: int, user_id: int) -> dict[str, Any]:
    from guilds.permissions import Permissions as P
    from guilds.services.access import guild_context

    ctx = guild_context(actor, guild_id)
    ctx.require(P.BAN_MEMBERS)
    ban = GuildBan.objects.filter(guild=ctx.guild, user_id=user_id).select_related("user").first()
    if ban is None:
        raise unknown_ban()
    return serialize_ban(ban)


# --- expiry ----------------------------------------------------------------------------------


def expire_sanctions(now: datetime | None = None, batch: int = 200) -> int:
    """Lift temporary bans and timeouts whose time is up (the periodic job calls this)."""
    now = now or timezone.now()
    done = 0
    for ban in GuildBan.objects.filter(expires_at__lte=now).select_related("guild", "user")[:batch]:
        with transaction.atomic():
            if GuildBan.objects.filter(id=ban.id).exists():
                do_unban(ban, None, reason="temporary ban expired")
                done += 1
    for row in MemberTimeout.objects.filter(until__lte=now).select_related("guild", "user")[:batch]:
        with transaction.atomic():
            deleted, _ = MemberTimeout.objects.filter(id=row.id, until__lte=now).delete()
            if deleted:
                member_update(row.guild_id, row.user_id)
                done += 1
    return done
