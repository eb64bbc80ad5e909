"""Channels and categories: create, edit, move, reorder, delete.

Positions are dense (0..n-1) among siblings, i.e. channels with the same parent; categories
and uncategorised channels are the top-level siblings. Every change that can shift a position
takes the guild row's lock (`guild_context(..., lock=True)`) and renumbers the affected
sibling groups in the same transaction, so concurrent reorders serialise instead of
interleaving and the stored order is always a permutation.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import transaction

from accounts.models import User
from guilds import permissions as perms
from guilds.models import CREATABLE_TYPES, TEXT_TYPES, Channel, ChannelType
from guilds.serialize import serialize_channel
from guilds.services import fields
from guilds.services.access import (
    ChannelAccess,
    GuildContext,
    access_channel,
    effective_overwrites,
    guild_context,
    unknown_channel,
    visible_channels,
)
from guilds.services.fields import FieldErrors, boolean, integer, reason_of, snowflake, text
from united import events
from united.audit import Audit, AuditLogEvent, diff

MAX_CHANNELS = 500
SLOWMODE_MAX = 21600
USER_LIMIT_MAX = 99


def list_channels(user: User, guild_id: int) -> list[dict[str, Any]]:
    ctx = guild_context(user, guild_id)
    return [serialize_channel(c, o) for c, o in visible_channels(ctx)]


def get_channel(user: User, channel_id: int) -> dict[str, Any]:
    access = access_channel(user, channel_id)
    return serialize_channel(access.channel, effective_overwrites(access.channel))


def channel_event(
    channel: Channel, t: str, *, actor: User | None = None, audit: Audit | None = None
) -> None:
    events.broadcast(
        # A guild channel here: guild_id is null on DM channels only.
        events.guild_group(channel.guild_id),  # type: ignore[arg-type]
        t,
        serialize_channel(channel, effective_overwrites(channel)),
        actor=actor,
        audit=audit,
    )


def _normalise_name(kind: int, name: str) -> str:
    if kind in TEXT_TYPES:
        return "-".join(name.lower().split())
    return name


def _parse(
    ctx: GuildContext, errors: FieldErrors, data: dict[str, Any], kind: int
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "name" in data:
        # Channel names are identifiers people type after `#`: NFKC (united/names.py).
        name = fields.name(
            errors, "name", data["name"], min_length=1, max_length=100, compatibility=True
        )
        values["name"] = _normalise_name(kind, name)
    if "topic" in data:
        values["topic"] = text(errors, "topic", data["topic"] or "", max_length=1024)
    if "nsfw" in data:
        values["nsfw"] = boolean(errors, "nsfw", data["nsfw"])
    if "rate_limit_per_user" in data:
        values["rate_limit_per_user"] = integer(
            errors, "rate_limit_per_user", data["rate_limit_per_user"], low=0, high=SLOWMODE_MAX
        )
    if "default_message_ttl" in data:
        values["default_message_ttl"] = integer(
            errors, "default_message_ttl", data["default_message_ttl"], low=0, high=7 * 86400
        )
    if "user_limit" in data:
        values["user_limit"] = integer(
            errors, "user_limit", data["user_limit"], low=0, high=USER_LIMIT_MAX
        )
    if "bitrate" in data:
        values["bitrate"] = integer(errors, "bitrate", data["bitrate"], low=8000, high=384000)
    if "parent_id" in data:
        parent_id = snowflake(errors, "parent_id", data["parent_id"])
        if parent_id is not None:
            if kind == ChannelType.GUILD_CATEGORY:
                errors.add("parent_id", "A category cannot have a parent.")
            elif not Channel.objects.filter(
                id=parent_id, guild=ctx.guild, type=ChannelType.GUILD_CATEGORY
            ).exists():
                errors.add("parent_id", "Must be a category of this guild.")
        values["parent_id"] = parent_id
    return values


def renumber(guild_id: int, wanted: dict[int, int] | None = None) -> list[Channel]:
    """Make every sibling group dense, placing the channels in `wanted` (id -> position)
    exactly where asked (the others keep their relative order). Caller holds the lock.
    Returns the channels whose position changed."""
    wanted = wanted or {}
    groups: dict[int | None, list[Channel]] = defaultdict(list)
    for channel in Channel.objects.filter(guild_id=guild_id):
        groups[channel.parent_id].append(channel)
    moved = []
    for siblings in groups.values():
        ordered = sorted(
            (c for c in siblings if c.id not in wanted), key=lambda c: (c.position, c.id)
        )
        for channel in sorted(
            (c for c in siblings if c.id in wanted), key=lambda c: (wanted[c.id], c.id)
        ):
            ordered.insert(min(wanted[channel.id], len(ordered)), channel)
        for index, channel in enumerate(ordered):
            if channel.position != index:
                channel.position = index
                moved.append(channel)
    Channel.objects.bulk_update(moved, ["position"])
    return moved


def _snapshot(channel: Channel) -> dict[str, Any]:
    return {
        "name": channel.name,
        "type": channel.type,
        "topic": channel.topic,
        "nsfw": channel.nsfw,
        "rate_limit_per_user": channel.rate_limit_per_user,
        "default_message_ttl": channel.default_message_ttl,
        "user_limit": channel.user_limit,
        "bitrate": channel.bitrate,
        "parent_id": str(channel.parent_id) if channel.parent_id else None,
        "permission_synced": channel.permission_synced,
    }


def check_create_channel(
    user: User, guild_id: int, data: dict[str, Any], *, reason: str = ""
) -> Channel:
    from guilds.services.overwrites import parse_overwrites

    with transaction.atomic():
        ctx = guild_context(user, guild_id, lock=True)
        ctx.require(perms.P.MANAGE_CHANNELS)
        errors = FieldErrors()
        kind = data.get("type", ChannelType.GUILD_TEXT)
        if not isinstance(kind, int) or isinstance(kind, bool) or kind not in CREATABLE_TYPES:
            errors.add("type", "Must be 0 (text), 2 (voice), 4 (category) or 5 (announcement).")
            kind = ChannelType.GUILD_TEXT
        if "name" not in data:
            errors.add("name", "This field is required.")
        values = _parse(ctx, errors, data, kind)
        position = None
        if data.get("position") is not None:
            position = integer(errors, "position", data["position"], low=0, high=MAX_CHANNELS)
        overwrites = None
        if data.get("permission_overwrites") is not None:
            overwrites = parse_overwrites(ctx, errors, data["permission_overwrites"])
        errors.raise_if_any()
        if Channel.objects.filter(guild=ctx.guild).count() >= MAX_CHANNELS:
            errors.add("guild", f"A guild has at most {MAX_CHANNELS} channels.")
            errors.raise_if_any()
        if overwrites:
            ctx.require(perms.P.MANAGE_ROLES)
        return do_create_channel(
            ctx, kind, values, position=position, overwrites=overwrites, reason=reason
        )


def do_create_channel(
    ctx: GuildContext,
    kind: int,
    values: dict[str, Any],
    *,
    position: int | None = None,
    overwrites: list[Any] | None = None,
    reason: str = "",
    channel_id: int | None = None,
) -> Channel:
    """`overwrites` None: a channel in a category follows the category's. `channel_id` is a
    replica's (federation.mirror): the channel keeps the id it has on the guild's host."""
    from guilds.services.overwrites import set_overwrites

    channel = Channel(guild=ctx.guild, type=kind, position=10**6, **values)
    if channel_id is not None:
        channel.id = channel_id
    channel.permission_synced = channel.parent_id is not None and overwrites is None
    channel.save()
    if overwrites is not None:
        set_overwrites(ctx, channel, overwrites, check_against=ctx.base)
    renumber(ctx.guild.id, {channel.id: position} if position is not None else None)
    channel.refresh_from_db()
    audit = Audit(
        ctx.guild.id,
        AuditLogEvent.CHANNEL_CREATE,
        channel.id,
        diff({}, _snapshot(channel)),
        reason_of(reason),
    )
    channel_event(channel, "CHANNEL_CREATE", actor=ctx.user, audit=audit)
    return channel


def check_update_channel(
    user: User, channel_id: int, data: dict[str, Any], *, reason: str = ""
) -> Channel:
    """Discord's PATCH /channels/{id}; `lock_permissions` or `permission_synced: true` with
    a parent makes the channel follow its category's overwrites again."""
    with transaction.atomic():
        access = access_channel(user, channel_id, lock=True)
        access.require(perms.P.MANAGE_CHANNELS)
        channel, ctx = access.channel, access.ctx
        errors = FieldErrors()
        values = _parse(ctx, errors, data, channel.type)
        if "type" in data and data["type"] != channel.type:
            wanted = data["type"]
            a_type = isinstance(wanted, int) and not isinstance(wanted, bool)  # [] is unhashable
            if a_type and wanted in TEXT_TYPES and channel.type in TEXT_TYPES:
                values["type"] = wanted
            else:
                errors.add("type", "Only text and announcement channels convert to each other.")
        position = None
        if data.get("position") is not None:
            position = integer(errors, "position", data["position"], low=0, high=MAX_CHANNELS)
        sync = data.get("lock_permissions") is True or data.get("permission_synced") is True
        errors.raise_if_any()
        return do_update_channel(access, values, position, sync, reason=reason)


def do_update_channel(
    access: ChannelAccess,
    values: dict[str, Any],
    position: int | None,
    sync: bool,
    *,
    reason: str = "",
) -> Channel:
    from guilds.models import PermissionOverwrite
    from guilds.services.overwrites import materialise

    channel, ctx = access.channel, access.ctx
    before = _snapshot(channel)
    moving = "parent_id" in values and values["parent_id"] != channel.parent_id
    if moving:
        # It keeps the permissions it had unless asked to sync with the new category.
        materialise(channel)
    for key, value in values.items():
        setattr(channel, key, value)
    if moving:
        # Lands at the end of its new siblings unless a position was asked for.
        channel.position = 10**6
    if sync and channel.parent_id:
        PermissionOverwrite.objects.filter(channel=channel).delete()
        channel.permission_synced = True
    channel.save()
    shifted = renumber(ctx.guild.id, {channel.id: position} if position is not None else None)
    channel.refresh_from_db()
    changes = diff(before, _snapshot(channel))
    audit = None
    if changes or position is not None:
        audit = Audit(
            ctx.guild.id, AuditLogEvent.CHANNEL_UPDATE, channel.id, changes, reason_of(reason)
        )
    channel_event(channel, "CHANNEL_UPDATE", actor=ctx.user, audit=audit)
    for other in shifted:
        if other.id != channel.id:
            channel_event(other, "CHANNEL_UPDATE", actor=ctx.user)
    return channel


def check_delete_channel(user: User, channel_id: int, *, reason: str = "") -> dict[str, Any]:
    with transaction.atomic():
        access = access_channel(user, channel_id, lock=True)
        access.require(perms.P.MANAGE_CHANNELS)
        return do_delete_channel(access.ctx, access.channel, reason=reason)


def do_delete_channel(ctx: GuildContext, channel: Channel, *, reason: str = "") -> dict[str, Any]:
    from guilds.services.overwrites import materialise

    channel_id = channel.id
    payload = serialize_channel(channel, effective_overwrites(channel))
    orphans = list(Channel.objects.filter(parent=channel))
    for orphan in orphans:
        # Children of a deleted category keep the permissions they had.
        materialise(orphan)
    channel.delete()
    shifted = renumber(ctx.guild.id)
    audit = Audit(
        ctx.guild.id,
        AuditLogEvent.CHANNEL_DELETE,
        channel_id,
        [{"key": k, "old_value": v} for k, v in _snapshot(channel).items()],
        reason_of(reason),
    )
    events.broadcast(
        events.guild_group(ctx.guild.id), "CHANNEL_DELETE", payload, actor=ctx.user, audit=audit
    )
    for other in {c.id: c for c in [*orphans, *shifted]}.values():
        other.refresh_from_db()
        channel_event(other, "CHANNEL_UPDATE", actor=ctx.user)
    return payload


def check_reorder_channels(user: User, guild_id: int, items: Any, *, reason: str = "") -> None:
    """Discord's PATCH /guilds/{id}/channels: [{id, position?, parent_id?, lock_permissions?}]."""
    from guilds.services.overwrites import materialise

    with transaction.atomic():
        ctx = guild_context(user, guild_id, lock=True)
        ctx.require(perms.P.MANAGE_CHANNELS)
        errors = FieldErrors()
        if not isinstance(items, list) or not items:
            errors.add("_errors", "Must be a non-empty list of {id, position, parent_id}.")
            errors.raise_if_any()
        visible = {c.id: c for c, _ in visible_channels(ctx)}
        before = {c.id: _snapshot(c) | {"position": c.position} for c in visible.values()}
        wanted: dict[int, int] = {}
        touched: dict[int, Channel] = {}
        for item in items:
            if not isinstance(item, dict):
                errors.add("_errors", "Each item is an object.")
                continue
            channel_id = snowflake(errors, "id", item.get("id"), nullable=False)
            if channel_id is None:
                continue
            channel = visible.get(channel_id)
            if channel is None:
                raise unknown_channel()
            if item.get("position") is not None:
                wanted[channel.id] = integer(
                    errors, "position", item["position"], low=0, high=MAX_CHANNELS
                )
            if "parent_id" in item:
                values = _parse(ctx, errors, {"parent_id": item["parent_id"]}, channel.type)
                if "parent_id" in values and values["parent_id"] != channel.parent_id:
                    materialise(channel)
                    channel.parent_id = values["parent_id"]
                    channel.permission_synced = bool(item.get("lock_permissions"))
                    if channel.id not in wanted:
                        wanted[channel.id] = 10**6
            touched[channel.id] = channel
        errors.raise_if_any()
        do_reorder_channels(ctx, touched, wanted, before, reason=reason)


def do_reorder_channels(
    ctx: GuildContext,
    touched: dict[int, Channel],
    wanted: dict[int, int],
    before: dict[int, dict[str, Any]],
    *,
    reason: str = "",
) -> None:
    from guilds.models import PermissionOverwrite

    for channel in touched.values():
        if channel.permission_synced and channel.parent_id:
            PermissionOverwrite.objects.filter(channel=channel).delete()
    Channel.objects.bulk_update(list(touched.values()), ["parent_id", "permission_synced"])
    shifted = renumber(ctx.guild.id, wanted)
    for channel in Channel.objects.filter(id__in={*touched, *(c.id for c in shifted)}):
        audit = None
        if channel.id in touched:
            changes = diff(before[channel.id], _snapshot(channel) | {"position": channel.position})
            if changes:
                audit = Audit(
                    ctx.guild.id,
                    AuditLogEvent.CHANNEL_UPDATE,
                    channel.id,
                    changes,
                    reason_of(reason),
                )
        channel_event(channel, "CHANNEL_UPDATE", actor=ctx.user, audit=audit)


def check_move_channel(user: User, channel_id: int, offset: int, *, reason: str = "") -> Channel:
    """One step up (-1) or down (+1): the keyboard's way to do what a drag does. The step is
    past the neighbour of the same kind (a category past a category, a channel past a
    channel), since top-level channels and categories share positions yet are shown apart;
    it is taken under the guild's lock, so two quick presses move it two places."""
    errors = FieldErrors()
    if offset not in (-1, 1):
        errors.add("offset", "Must be -1 (up) or 1 (down).")
        errors.raise_if_any()
    with transaction.atomic():
        access = access_channel(user, channel_id, lock=True)
        access.require(perms.P.MANAGE_CHANNELS)
        channel, ctx = access.channel, access.ctx
        visible = {c.id for c, _ in visible_channels(ctx)}
        siblings = [
            c
            for c in Channel.objects.filter(guild=ctx.guild, parent_id=channel.parent_id)
            if c.is_category == channel.is_category and c.id in visible
        ]
        siblings.sort(key=lambda c: (c.position, c.id))
        index = next(i for i, c in enumerate(siblings) if c.id == channel.id) + offset
        if not 0 <= index < len(siblings):
            return channel
        before = {channel.id: _snapshot(channel) | {"position": channel.position}}
        wanted = {channel.id: siblings[index].position}
        do_reorder_channels(ctx, {channel.id: channel}, wanted, before, reason=reason)
        channel.refresh_from_db()
        return channel
