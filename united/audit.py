"""The audit facts a domain change carries to the moderation log.

A guild service that makes an audited change (a role edited, a channel moved, a member kicked)
attaches an `Audit` to the domain event it publishes (`united.events.broadcast(..., audit=…)`);
moderation's observer appends it to the guild's hash-chained log in the same transaction
(moderation/services/audit.py). The action numbers are Discord's, a contract of the
`GET /guilds/{id}/audit-logs` API rather than moderation's own, so they live here where every
app may name them without importing moderation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models


class AuditLogEvent(models.IntegerChoices):
    """Discord's audit log event numbers."""

    GUILD_UPDATE = 1
    CHANNEL_CREATE = 10
    CHANNEL_UPDATE = 11
    CHANNEL_DELETE = 12
    CHANNEL_OVERWRITE_CREATE = 13
    CHANNEL_OVERWRITE_UPDATE = 14
    CHANNEL_OVERWRITE_DELETE = 15
    MEMBER_KICK = 20
    MEMBER_PRUNE = 21
    MEMBER_BAN_ADD = 22
    MEMBER_BAN_REMOVE = 23
    MEMBER_UPDATE = 24
    MEMBER_ROLE_UPDATE = 25
    MEMBER_MOVE = 26
    MEMBER_DISCONNECT = 27
    BOT_ADD = 28
    ROLE_CREATE = 30
    ROLE_UPDATE = 31
    ROLE_DELETE = 32
    INVITE_CREATE = 40
    INVITE_UPDATE = 41
    INVITE_DELETE = 42
    MESSAGE_DELETE = 72
    MESSAGE_BULK_DELETE = 73
    AUTO_MODERATION_RULE_CREATE = 140
    AUTO_MODERATION_RULE_UPDATE = 141
    AUTO_MODERATION_RULE_DELETE = 142
    AUTO_MODERATION_BLOCK_MESSAGE = 143
    AUTO_MODERATION_FLAG_TO_CHANNEL = 144
    AUTO_MODERATION_USER_COMMUNICATION_DISABLED = 145


@dataclass(frozen=True)
class Audit:
    """One audit log entry as the change's service states it; the actor is the event's.
    `changes` is Discord's list of {key, old_value?, new_value?} (`diff` builds it)."""

    guild_id: int
    action: AuditLogEvent
    target_id: int | None
    changes: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""


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
