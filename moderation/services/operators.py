"""Operator tools: node bans of local accounts, guild suspensions, and the node audit log
(operators only). Each is called from the Django admin; every action leaves a
`NodeAuditEntry`."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from guilds.models import Guild
from moderation.models import GuildSuspension, NodeAuditEntry
from united.errors import Forbidden


def require_operator(user: Any) -> None:
    if not (user.is_active and user.is_superuser):
        raise Forbidden("Only the node's operators may do this")


def record_node_audit(
    operator: User | None,
    action: str,
    *,
    user: User | None = None,
    guild: Guild | None = None,
    reason: str = "",
    **details: Any,
) -> NodeAuditEntry:
    return NodeAuditEntry.objects.create(
        operator_id=operator.id if operator else None,
        action=action,
        target_user_id=user.id if user else None,
        target_guild_id=guild.id if guild else None,
        reason=reason[:512],
        details=details,
    )


def is_suspended(guild_id: int) -> bool:
    return GuildSuspension.objects.filter(guild_id=guild_id).exists()


def suspended_ids(guild_ids: list[int]) -> frozenset[int]:
    rows = GuildSuspension.objects.filter(guild_id__in=guild_ids)
    return frozenset(rows.values_list("guild_id", flat=True))


@transaction.atomic
def do_node_ban(operator: User, user: User, *, reason: str = "") -> bool:
    """Deactivate a local account: every session and token is revoked and its live gateway
    sockets are closed. Guild memberships stay (a lift restores the account as it was)."""
    from accounts.services.tokens import do_revoke_all_sessions
    from united import events

    require_operator(operator)
    if user.is_superuser or user.id == operator.id:
        raise Forbidden("Operators cannot be banned from the node here")
    if not user.is_active:
        return False
    User.objects.filter(id=user.id).update(is_active=False)
    user.is_active = False
    revoked = do_revoke_all_sessions(user)
    events.disconnect_user(user.id)
    record_node_audit(operator, "node_ban", user=user, reason=reason, sessions_revoked=revoked)
    return True


@transaction.atomic
def do_node_unban(operator: User, user: User, *, reason: str = "") -> bool:
    require_operator(operator)
    if user.is_active:
        return False
    User.objects.filter(id=user.id).update(is_active=True)
    user.is_active = True
    record_node_audit(operator, "node_unban", user=user, reason=reason)
    return True


@transaction.atomic
def do_suspend_guild(operator: User, guild: Guild, *, reason: str = "") -> bool:
    from guilds.services.directory import do_set_directory_hidden
    from united import events

    require_operator(operator)
    _, created = GuildSuspension.objects.get_or_create(
        guild=guild,
        defaults={
            "operator": operator,
            "reason": reason[:512],
            "was_hidden": guild.directory_hidden,
        },
    )
    if not created:
        return False
    do_set_directory_hidden([guild.id], True)
    # Discord's outage shape: clients drop the guild until it is available again.
    events.broadcast(
        events.guild_group(guild.id),
        "GUILD_DELETE",
        {"id": str(guild.id), "guild_id": str(guild.id), "unavailable": True},
        actor=operator,
    )
    record_node_audit(operator, "guild_suspend", guild=guild, reason=reason)
    return True


@transaction.atomic
def do_unsuspend_guild(operator: User, guild: Guild, *, reason: str = "") -> bool:
    from guilds.services.directory import do_set_directory_hidden

    require_operator(operator)
    suspension = GuildSuspension.objects.filter(guild=guild).first()
    if suspension is None:
        return False
    do_set_directory_hidden([guild.id], suspension.was_hidden)
    suspension.delete()
    record_node_audit(operator, "guild_unsuspend", guild=guild, reason=reason)
    return True
