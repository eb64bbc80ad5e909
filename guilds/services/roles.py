"""Roles and their hierarchy.

Positions: @everyone is 0, the others 1..n with no gaps, higher outranks lower. A member acts
only on roles strictly below their highest role (the owner outranks all) and cannot grant a
permission they do not hold themselves. Every change that moves positions holds the guild
row's lock, so concurrent creates, deletes and reorders always leave a dense order.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from guilds import permissions as perms
from guilds.models import Role
from guilds.serialize import serialize_role
from guilds.services.access import (
    GuildContext,
    guild_context,
    missing_permissions,
    unknown_role,
)
from guilds.services.fields import FieldErrors, bitfield, boolean, integer, reason_of, snowflake
from guilds.services.fields import text as text_field
from united import events
from united.audit import Audit, AuditLogEvent, diff
from united.errors import Invalid

MAX_ROLES = 250
ROLE_FIELDS = ("name", "color", "hoist", "mentionable", "permissions")


def list_roles(user: User, guild_id: int) -> list[dict[str, Any]]:
    ctx = guild_context(user, guild_id)
    return [serialize_role(r) for r in sorted(ctx.roles.values(), key=lambda r: r.position)]


def _parse(errors: FieldErrors, data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = text_field(errors, "name", data["name"], min_length=1, max_length=100)
    if "color" in data:
        values["color"] = integer(errors, "color", data["color"], low=0, high=0xFFFFFF)
    for key in ("hoist", "mentionable"):
        if key in data:
            values[key] = boolean(errors, key, data[key])
    if "permissions" in data:
        values["permissions"] = bitfield(errors, "permissions", data["permissions"])
    return values


def _check_grant(ctx: GuildContext, old: int, new: int) -> None:
    granted = new & ~old
    if granted & ~ctx.base:
        missing = perms.Permissions(granted & ~ctx.base)
        raise missing_permissions(f"you cannot grant permissions you lack ({missing.name})")


def _snapshot(role: Role) -> dict[str, Any]:
    return {
        "name": role.name,
        "color": role.color,
        "hoist": role.hoist,
        "mentionable": role.mentionable,
        "permissions": str(role.permissions),
        "position": role.position,
    }


def _announce(
    ctx: GuildContext, role: Role, t: str = "GUILD_ROLE_UPDATE", *, audit: Audit | None = None
) -> None:
    events.broadcast(
        events.guild_group(ctx.guild.id),
        t,
        {"guild_id": str(ctx.guild.id), "role": serialize_role(role)},
        actor=ctx.user,
        audit=audit,
    )


def check_create_role(user: User, guild_id: int, data: dict[str, Any], *, reason: str = "") -> Role:
    with transaction.atomic():
        ctx = guild_context(user, guild_id, lock=True)
        ctx.require(perms.P.MANAGE_ROLES)
        errors = FieldErrors()
        values = _parse(errors, data)
        errors.raise_if_any()
        if len(ctx.roles) >= MAX_ROLES:
            raise Invalid(errors={"roles": [f"A guild has at most {MAX_ROLES} roles."]})
        _check_grant(ctx, 0, values.get("permissions", 0))
        return do_create_role(ctx, values, reason=reason)


def do_create_role(
    ctx: GuildContext,
    values: dict[str, Any],
    *,
    reason: str = "",
    role_id: int | None = None,
    position: int | None = None,
) -> Role:
    """`role_id` and `position` are a replica's (federation.mirror): the role keeps the id and
    the place it has on the guild's host, and the others are left where the host has them."""
    values.setdefault("name", "new role")
    if position is None:
        # New roles go just above @everyone, as in Discord.
        for role in ctx.roles.values():
            if not role.is_everyone:
                role.position += 1
        others = [r for r in ctx.roles.values() if not r.is_everyone]
        Role.objects.bulk_update(others, ["position"])
        position = 1
    if role_id is not None:
        values["id"] = role_id
    role = Role.objects.create(guild=ctx.guild, position=position, **values)
    ctx.roles[role.id] = role
    audit = Audit(
        ctx.guild.id,
        AuditLogEvent.ROLE_CREATE,
        role.id,
        diff({}, _snapshot(role)),
        reason_of(reason),
    )
    _announce(ctx, role, "GUILD_ROLE_CREATE", audit=audit)
    return role


def check_update_role(
    user: User, guild_id: int, role_id: int, data: dict[str, Any], *, reason: str = ""
) -> Role:
    with transaction.atomic():
        ctx = guild_context(user, guild_id, lock=True)
        ctx.require(perms.P.MANAGE_ROLES)
        role = ctx.roles.get(role_id)
        if role is None:
            raise unknown_role()
        ctx.require_above(role.position)
        errors = FieldErrors()
        values = _parse(errors, data)
        if role.is_everyone and "name" in values and values["name"] != role.name:
            errors.add("name", "The @everyone role cannot be renamed.")
        errors.raise_if_any()
        if "permissions" in values:
            _check_grant(ctx, role.permissions, values["permissions"])
        return do_update_role(ctx, role, values, reason=reason)


def do_update_role(
    ctx: GuildContext, role: Role, values: dict[str, Any], *, reason: str = ""
) -> Role:
    before = _snapshot(role)
    for key, value in values.items():
        setattr(role, key, value)
    role.save()
    changes = diff(before, _snapshot(role))
    if changes:
        audit = Audit(ctx.guild.id, AuditLogEvent.ROLE_UPDATE, role.id, changes, reason_of(reason))
        _announce(ctx, role, audit=audit)
    return role


def check_delete_role(user: User, guild_id: int, role_id: int, *, reason: str = "") -> None:
    with transaction.atomic():
        ctx = guild_context(user, guild_id, lock=True)
        ctx.require(perms.P.MANAGE_ROLES)
        role = ctx.roles.get(role_id)
        if role is None:
            raise unknown_role()
        if role.is_everyone:
            raise everyone_error()
        ctx.require_above(role.position)
        do_delete_role(ctx, role, reason=reason)


def everyone_error() -> Invalid:
    return Invalid(
        "The @everyone role cannot be moved or deleted",
        errors={"role_id": ["This is the @everyone role."]},
    )


def do_delete_role(ctx: GuildContext, role: Role, *, reason: str = "") -> None:
    from guilds.models import PermissionOverwrite

    snapshot, role_id = _snapshot(role), role.id
    PermissionOverwrite.objects.filter(
        channel__guild=ctx.guild, target_id=role_id, type=PermissionOverwrite.ROLE
    ).delete()
    role.delete()
    del ctx.roles[role_id]
    _renumber(
        ctx, sorted((r for r in ctx.roles.values() if not r.is_everyone), key=lambda r: r.position)
    )
    events.broadcast(
        events.guild_group(ctx.guild.id),
        "GUILD_ROLE_DELETE",
        {"guild_id": str(ctx.guild.id), "role_id": str(role_id)},
        actor=ctx.user,
        audit=Audit(
            ctx.guild.id,
            AuditLogEvent.ROLE_DELETE,
            role_id,
            [{"key": k, "old_value": v} for k, v in snapshot.items()],
            reason_of(reason),
        ),
    )


def _renumber(ctx: GuildContext, ordered: list[Role]) -> list[Role]:
    """Give `ordered` (lowest first) positions 1..n; returns the roles that moved."""
    moved = []
    for index, role in enumerate(ordered, start=1):
        if role.position != index:
            role.position = index
            moved.append(role)
    Role.objects.bulk_update(moved, ["position"])
    return moved


def check_reorder_roles(
    user: User, guild_id: int, items: Any, *, reason: str = ""
) -> list[dict[str, Any]]:
    """Discord's PATCH /guilds/{id}/roles: [{id, position}]. Roles keep their relative order
    unless moved; only roles below the actor's highest role may move, and only below it."""
    with transaction.atomic():
        ctx = guild_context(user, guild_id, lock=True)
        ctx.require(perms.P.MANAGE_ROLES)
        errors = FieldErrors()
        wanted: dict[int, int] = {}
        if not isinstance(items, list) or not items:
            errors.add("_errors", "Must be a non-empty list of {id, position}.")
        else:
            for item in items:
                if not isinstance(item, dict):
                    errors.add("_errors", "Each item is an object {id, position}.")
                    continue
                role_id = snowflake(errors, "id", item.get("id"), nullable=False)
                position = integer(errors, "position", item.get("position"), low=1, high=MAX_ROLES)
                if role_id is not None:
                    wanted[role_id] = position
        errors.raise_if_any()
        for role_id in wanted:
            role = ctx.roles.get(role_id)
            if role is None:
                raise unknown_role()
            if role.is_everyone:
                raise everyone_error()
        top = ctx.top_position
        others = [r for r in ctx.roles.values() if not r.is_everyone]
        before = {r.id: r.position for r in others}
        # Moved roles land exactly where asked; the others keep their relative order.
        ordered = sorted((r for r in others if r.id not in wanted), key=lambda r: r.position)
        for role in sorted((r for r in others if r.id in wanted), key=lambda r: wanted[r.id]):
            ordered.insert(min(wanted[role.id] - 1, len(ordered)), role)
        moved = _renumber(ctx, ordered)
        for role in moved:
            if not (before[role.id] < top and role.position < top):
                raise missing_permissions("roles can only move below your highest role")
        for role in moved:
            change = {"key": "position", "old_value": before[role.id], "new_value": role.position}
            audit = Audit(
                ctx.guild.id, AuditLogEvent.ROLE_UPDATE, role.id, [change], reason_of(reason)
            )
            _announce(ctx, role, audit=audit)
        return [serialize_role(r) for r in sorted(ctx.roles.values(), key=lambda r: r.position)]
