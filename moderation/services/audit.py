"""The moderation log: appending (chained and signed), listing, exporting and replaying.

The guild and voice services do not call this module: the change they make carries its entry
(`united.audit.Audit`) on the domain event they publish, and `on_event`, an observer moderation
registers in its AppConfig.ready(), appends it in the change's transaction. Moderation's own
services (sanctions, timeouts, automod, cases) call `record_audit` directly. Either way an
entry exists exactly when the change it describes was committed. Appending locks the guild's
`ModlogHead` row, so two writers never take the same `seq` and the chain has no gaps or forks.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from accounts.models import User
from moderation import signing
from moderation.models import AuditLogEntry, ModlogHead
from moderation.verify import GENESIS, Result, canonical, entry_hash, head_bytes, verify_entries
from united.audit import AuditLogEvent
from united.errors import Invalid
from united.events import Published

AUDIT_REASON_MAX = 512
AUDIT_PAGE_MAX = 100


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def action_name(action_type: int) -> str:
    try:
        return AuditLogEvent(action_type).name
    except ValueError:
        return str(action_type)


def chain_fields(entry: AuditLogEntry) -> dict[str, Any]:
    """The entry as it is hashed, signed and exported."""
    return {
        "guild_id": str(entry.guild_id),
        "seq": entry.seq,
        "action": action_name(entry.action_type),
        "action_type": entry.action_type,
        "target": str(entry.target_id) if entry.target_id is not None else None,
        "details": {"changes": entry.changes, "reason": entry.reason},
        "actor": str(entry.actor_id) if entry.actor_id else None,
        "time": _time(entry.created_at),
        "prev_hash": entry.prev_hash,
    }


def export_entry(entry: AuditLogEntry) -> dict[str, Any]:
    return {"id": str(entry.id), **chain_fields(entry), "hash": entry.hash, "sig": entry.sig}


def _lock_head(guild_id: int) -> ModlogHead:
    ModlogHead.objects.get_or_create(guild_id=guild_id)
    return ModlogHead.objects.select_for_update().get(guild_id=guild_id)


def record_audit(
    guild: Any,
    actor: User | None,
    action: AuditLogEvent | int,
    target_id: int | None,
    changes: list[dict[str, Any]] | None = None,
    reason: str = "",
) -> AuditLogEntry:
    return append_entry(
        guild.id, actor.id if actor is not None else None, action, target_id, changes, reason
    )


def on_event(event: Published) -> None:
    """The observer (moderation.apps): a published change that carries an audit entry gets it
    appended, by the event's actor, inside the change's transaction."""
    audit = event.audit
    if audit is None:
        return
    append_entry(
        audit.guild_id, event.actor_id, audit.action, audit.target_id, audit.changes, audit.reason
    )


def append_entry(
    guild_id: int,
    actor_id: int | None,
    action: AuditLogEvent | int,
    target_id: int | None,
    changes: list[dict[str, Any]] | None = None,
    reason: str = "",
) -> AuditLogEntry:
    with transaction.atomic():
        head = _lock_head(guild_id)
        entry = AuditLogEntry(
            guild_id=guild_id,
            actor_id=actor_id,
            action_type=int(action),
            target_id=target_id,
            # As the database will give it back, so the hash is the same after a round trip.
            changes=json.loads(json.dumps(changes or [])),
            reason=(reason or "")[:AUDIT_REASON_MAX],
            seq=head.seq + 1,
            prev_hash=head.hash or GENESIS,
        )
        fields = chain_fields(entry)
        entry.hash = entry_hash(fields)
        entry.sig = signing.sign(canonical(fields))
        entry.save(force_insert=True)
        # seq is head.seq + 1, set above; the field is nullable only in the stubs' view.
        head.seq, head.hash = entry.seq, entry.hash  # type: ignore[assignment]
        head.save(update_fields=["seq", "hash"])
        return entry


def serialize_audit_entry(entry: AuditLogEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "guild_id": str(entry.guild_id),
        "user_id": str(entry.actor_id) if entry.actor_id else None,
        "target_id": str(entry.target_id) if entry.target_id is not None else None,
        "action_type": entry.action_type,
        "changes": entry.changes,
        "reason": entry.reason or None,
        "seq": entry.seq,
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


def export_modlog(guild_id: int) -> dict[str, Any]:
    """The whole chain with a signed head, verifiable offline (`moderation/verify.py`)."""
    entries = AuditLogEntry.objects.filter(guild_id=guild_id).order_by("seq", "id")
    head = ModlogHead.objects.filter(guild_id=guild_id).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, "")
    return {
        "format": "united-modlog/1",
        "guild_id": str(guild_id),
        "algorithm": "ed25519",
        "hash": "sha256",
        "public_key": signing.public_key(),
        "entries": [export_entry(e) for e in entries],
        "head": {
            "guild_id": str(guild_id),
            "seq": head_seq,
            "hash": head_hash,
            "sig": signing.sign(head_bytes(str(guild_id), head_seq, head_hash)),
        },
    }


def check_export_modlog(user: User, guild_id: int) -> dict[str, Any]:
    from guilds.permissions import Permissions
    from guilds.services.access import guild_context

    ctx = guild_context(user, guild_id)
    ctx.require(Permissions.VIEW_AUDIT_LOG)
    return export_modlog(ctx.guild.id)


def verify_guild_modlog(guild_id: int) -> Result:
    """Replay a guild's chain as stored, against the head row and this node's key."""
    export = export_modlog(guild_id)
    return verify_entries(export["entries"], export["public_key"], export["head"])
