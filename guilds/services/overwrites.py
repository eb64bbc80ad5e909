"""Channel permission overwrites and category sync.

A synced channel (`permission_synced`, with a parent) stores no overwrites of its own and
follows its category's. Editing a synced channel's overwrites first copies the category's
onto it (`materialise`) and unsyncs it, so the edit starts from what members saw.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from guilds import permissions as perms
from guilds.models import Channel, Member, PermissionOverwrite
from guilds.services.access import GuildContext, access_channel, missing_permissions
from guilds.services.fields import FieldErrors, bitfield, reason_of, snowflake
from united.audit import Audit, AuditLogEvent
from united.errors import NotFound

UNKNOWN_OVERWRITE = 10009
MAX_OVERWRITES = 100


def parse_overwrites(
    ctx: GuildContext, errors: FieldErrors, value: Any
) -> list[PermissionOverwrite]:
    if not isinstance(value, list) or len(value) > MAX_OVERWRITES:
        errors.add("permission_overwrites", f"Must be a list of at most {MAX_OVERWRITES}.")
        return []
    rows = []
    for item in value:
        if not isinstance(item, dict):
            errors.add("permission_overwrites", "Each overwrite is an object.")
            continue
        target = snowflake(errors, "permission_overwrites", item.get("id"), nullable=False)
        kind = item.get("type")
        if kind not in (PermissionOverwrite.ROLE, PermissionOverwrite.MEMBER):
            errors.add("permission_overwrites", "type is 0 (role) or 1 (member).")
            continue
        if target is None or not _target_exists(ctx, target, kind):
            errors.add("permission_overwrites", f"Unknown {'role' if kind == 0 else 'member'}.")
            continue
        rows.append(
            PermissionOverwrite(
                target_id=target,
                type=kind,
                allow=bitfield(errors, "allow", item.get("allow", "0")),
                deny=bitfield(errors, "deny", item.get("deny", "0")),
            )
        )
    return rows


def _target_exists(ctx: GuildContext, target: int, kind: int) -> bool:
    if kind == PermissionOverwrite.ROLE:
        return target in ctx.roles
    return Member.objects.filter(guild=ctx.guild, user_id=target).exists()


def _check_bits(held: int, changed: int) -> None:
    """Only permissions the actor holds (in this channel) can be allowed or denied."""
    if changed & ~held:
        missing = perms.Permissions(changed & ~held)
        raise missing_permissions(f"you cannot allow or deny permissions you lack ({missing.name})")


def set_overwrites(
    ctx: GuildContext, channel: Channel, rows: list[PermissionOverwrite], *, check_against: int
) -> None:
    for row in rows:
        _check_bits(check_against, row.allow | row.deny)
        row.channel = channel
    PermissionOverwrite.objects.filter(channel=channel).delete()
    PermissionOverwrite.objects.bulk_create(rows)


def materialise(channel: Channel) -> None:
    """Turn a synced channel's inherited overwrites into its own and unsync it."""
    if not (channel.permission_synced and channel.parent_id):
        channel.permission_synced = False
        return
    inherited = PermissionOverwrite.objects.filter(channel_id=channel.parent_id)
    PermissionOverwrite.objects.filter(channel=channel).delete()
    PermissionOverwrite.objects.bulk_create(
        [
            PermissionOverwrite(
                channel=channel, target_id=r.target_id, type=r.type, allow=r.allow, deny=r.deny
            )
            for r in inherited
        ]
    )
    channel.permission_synced = False
    Channel.objects.filter(id=channel.id).update(permission_synced=False)


def _announce_with_children(channel: Channel, actor: User | None, audit: Audit) -> None:
    """The channel's CHANNEL_UPDATE carries the audit entry; a category's synced children
    change with it and are announced too, without one."""
    from guilds.services.channels import channel_event

    channel_event(channel, "CHANNEL_UPDATE", actor=actor, audit=audit)
    if channel.is_category:
        for child in Channel.objects.filter(parent=channel, permission_synced=True):
            channel_event(child, "CHANNEL_UPDATE", actor=actor)


def check_put_overwrite(
    user: User, channel_id: int, target_id: int, data: dict[str, Any], *, reason: str = ""
) -> None:
    """Discord's PUT /channels/{id}/permissions/{overwrite_id}: needs MANAGE_ROLES in the
    channel; the allow/deny bits that change must be ones the actor holds there."""
    with transaction.atomic():
        access = access_channel(user, channel_id, lock=True)
        access.require(perms.P.MANAGE_ROLES)
        ctx, channel = access.ctx, access.channel
        errors = FieldErrors()
        kind = data.get("type")
        if kind not in (PermissionOverwrite.ROLE, PermissionOverwrite.MEMBER):
            errors.add("type", "Must be 0 (role) or 1 (member).")
        elif not _target_exists(ctx, target_id, kind):
            errors.add("id", f"Unknown {'role' if kind == 0 else 'member'}.")
        allow = bitfield(errors, "allow", data.get("allow", "0"))
        deny = bitfield(errors, "deny", data.get("deny", "0"))
        errors.raise_if_any()
        materialise(channel)
        row = PermissionOverwrite.objects.filter(channel=channel, target_id=target_id).first()
        old_allow, old_deny = (row.allow, row.deny) if row else (0, 0)
        _check_bits(access.permissions, (allow ^ old_allow) | (deny ^ old_deny))
        # `kind` was validated above (errors.raise_if_any).
        do_put_overwrite(ctx, channel, target_id, kind, allow, deny, reason=reason)  # type: ignore[arg-type]


def do_put_overwrite(
    ctx: GuildContext,
    channel: Channel,
    target_id: int,
    kind: int,
    allow: int,
    deny: int,
    *,
    reason: str = "",
) -> PermissionOverwrite:
    """Create or change one overwrite. A synced channel first takes its category's overwrites
    as its own (`materialise`), so the edit starts from what members saw."""
    materialise(channel)
    row = PermissionOverwrite.objects.filter(channel=channel, target_id=target_id).first()
    old_allow, old_deny = (row.allow, row.deny) if row else (0, 0)
    if row is None:
        row = PermissionOverwrite(channel=channel, target_id=target_id, type=kind)
        action = AuditLogEvent.CHANNEL_OVERWRITE_CREATE
    else:
        action = AuditLogEvent.CHANNEL_OVERWRITE_UPDATE
    row.type, row.allow, row.deny = kind, allow, deny
    row.save()
    audit = Audit(
        ctx.guild.id,
        action,
        channel.id,
        [
            {"key": "id", "new_value": str(target_id)},
            {"key": "type", "new_value": kind},
            {"key": "allow", "old_value": str(old_allow), "new_value": str(allow)},
            {"key": "deny", "old_value": str(old_deny), "new_value": str(deny)},
        ],
        reason_of(reason),
    )
    _announce_with_children(channel, ctx.user, audit)
    return row


def check_delete_overwrite(
    user: User, channel_id: int, target_id: int, *, reason: str = ""
) -> None:
    with transaction.atomic():
        access = access_channel(user, channel_id, lock=True)
        access.require(perms.P.MANAGE_ROLES)
        ctx, channel = access.ctx, access.channel
        materialise(channel)
        row = PermissionOverwrite.objects.filter(channel=channel, target_id=target_id).first()
        if row is None:
            raise NotFound("Unknown Overwrite", code=UNKNOWN_OVERWRITE)
        _check_bits(access.permissions, row.allow | row.deny)
        do_delete_overwrite(ctx, channel, row, reason=reason)


def do_delete_overwrite(
    ctx: GuildContext, channel: Channel, row: PermissionOverwrite, *, reason: str = ""
) -> None:
    target_id = row.target_id
    row.delete()
    audit = Audit(
        ctx.guild.id,
        AuditLogEvent.CHANNEL_OVERWRITE_DELETE,
        channel.id,
        [
            {"key": "id", "old_value": str(target_id)},
            {"key": "allow", "old_value": str(row.allow)},
            {"key": "deny", "old_value": str(row.deny)},
        ],
        reason_of(reason),
    )
    _announce_with_children(channel, ctx.user, audit)
