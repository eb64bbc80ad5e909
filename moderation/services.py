"""Audit log and ban services. Guild services call `record_audit` inside their transactions,
so an entry exists exactly when the change it describes was committed."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from moderation.models import AuditLogEntry, AuditLogEvent, GuildBan
from united.errors import Forbidden, Invalid

AUDIT_REASON_MAX = 512
AUDIT_PAGE_MAX = 100


def record_audit(
    guild: Any,
    actor: User | None,
    action: AuditLogEvent | int,
    target_id: int | None,
    changes: list[dict[str, Any]] | None = None,
    reason: str = "",
) -> AuditLogEntry:
    return AuditLogEntry.objects.create(
        guild_id=guild.id,
        actor_id=actor.id if actor is not None else None,
        action_type=int(action),
        target_id=target_id,
        changes=changes or [],
        reason=(reason or "")[:AUDIT_REASON_MAX],
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Discord's audit log `changes`: one {key, old_value, new_value} per changed key."""
    changes = []
    for key in after:
        if before.get(key) != after[key]:
            change: dict[str, Any] = {"key": key, "new_value": after[key]}
            if key in before:
                change["old_value"] = before[key]
            changes.append(change)
    return changes


def serialize_audit_entry(entry: AuditLogEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "guild_id": str(entry.guild_id),
        "user_id": str(entry.actor_id) if entry.actor_id else None,
        "target_id": str(entry.target_id) if entry.target_id is not None else None,
        "action_type": entry.action_type,
        "changes": entry.changes,
        "reason": entry.reason or None,
    }


def check_list_audit_log(
    user: User,
    guild_id: int,
    *,
    user_id: int | None = None,
    action_type: int | None = None,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Discord's `GET /guilds/{id}/audit-logs`: needs VIEW_AUDIT_LOG."""
    from accounts.services import serialize_user
    from guilds.permissions import Permissions
    from guilds.services.access import guild_context

    ctx = guild_context(user, guild_id)
    ctx.require(Permissions.VIEW_AUDIT_LOG)
    if not 1 <= limit <= AUDIT_PAGE_MAX:
        raise Invalid(errors={"limit": [f"Between 1 and {AUDIT_PAGE_MAX}."]})
    entries = AuditLogEntry.objects.filter(guild_id=ctx.guild.id)
    if user_id is not None:
        entries = entries.filter(actor_id=user_id)
    if action_type is not None:
        entries = entries.filter(action_type=action_type)
    if before is not None:
        entries = entries.filter(id__lt=before)
    if after is not None:
        entries = entries.filter(id__gt=after).order_by("id")
    page = list(entries[:limit])
    users = User.objects.filter(id__in={e.actor_id for e in page if e.actor_id})
    return {
        "audit_log_entries": [serialize_audit_entry(e) for e in page],
        "users": [serialize_user(u) for u in users],
    }


def is_banned(guild: Any, user: User) -> bool:
    return GuildBan.objects.filter(guild_id=guild.id, user_id=user.id).exists()


@transaction.atomic
def do_ban(guild: Any, moderator: User | None, user: User, reason: str = "") -> GuildBan:
    """Ban `user` and remove their membership. Permission checks and the ban API belong to
    the moderation issue; this is what invites and the operator admin need now."""
    from guilds.services.members import do_remove_member

    if user.id == guild.owner_id:
        raise Forbidden("The owner cannot be banned")
    ban, _ = GuildBan.objects.get_or_create(
        guild_id=guild.id, user=user, defaults={"moderator": moderator, "reason": reason[:512]}
    )
    do_remove_member(guild, user, actor=moderator, audit=False)
    record_audit(guild, moderator, AuditLogEvent.MEMBER_BAN_ADD, user.id, reason=reason)
    return ban
