"""Guild lifecycle: create, edit, transfer ownership, delete, leave; the user's guild list."""

from __future__ import annotations

import re
import time
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import User
from guilds import permissions as perms
from guilds.models import (
    Channel,
    ChannelType,
    Guild,
    GuildTag,
    Member,
    Role,
    VerificationLevel,
    member_sort_name,
)
from guilds.permissions import Overwrite
from guilds.serialize import serialize_channel, serialize_guild, serialize_member
from guilds.services import fields
from guilds.services.access import (
    GuildContext,
    guild_channels,
    guild_context,
    member_contexts,
    missing_permissions,
    unknown_member,
    visible_channels,
)
from guilds.services.fields import FieldErrors, boolean, integer, reason_of, snowflake, text
from united import events
from united.audit import Audit, AuditLogEvent, diff
from united.errors import Invalid

MAX_TAGS = 5
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,23}$")
SETTINGS_MAX_KEYS = 50


def guild_payload(
    ctx: GuildContext,
    *,
    visible: list[tuple[Channel, list[Overwrite]]] | None = None,
    member_count: int | None = None,
) -> dict[str, Any]:
    """GUILD_CREATE's `d` for this member: the guild, roles, visible channels, own member.

    `visible` and `member_count` when the caller computed them for many guilds at once
    (`guild_payloads`)."""
    if ctx.member is None:
        raise ValueError("GUILD_CREATE is a member's view: the node has none")
    if visible is None:
        visible = visible_channels(ctx)
    if member_count is None:
        member_count = Member.objects.filter(guild=ctx.guild).count()
    data = serialize_guild(ctx.guild, roles=ctx.roles.values())
    data.update(
        joined_at=ctx.member.joined_at.isoformat(),
        member_count=member_count,
        channels=[serialize_channel(c, o) for c, o in visible],
        members=[serialize_member(ctx.member, ctx.role_ids)],
        guild_id=str(ctx.guild.id),
    )
    return data


def guild_payloads(user: User) -> list[tuple[dict[str, Any], list[Channel]]]:
    """GUILD_CREATE of every guild of `user` (READY), each with the channel rows it lists.

    A fixed number of queries whatever the number of guilds (docs/performance.md, "READY and
    the member list at guild scale"): contexts, channels, overwrites and member counts are each read
    once for all guilds, and visibility is the same pure computation as guild_payload's."""
    contexts = member_contexts(user)
    guild_ids = [ctx.guild.id for ctx in contexts]
    channels, table = guild_channels(guild_ids)
    counts = dict(
        Member.objects.filter(guild_id__in=guild_ids)
        .order_by()
        .values("guild_id")
        .annotate(n=Count("id"))
        .values_list("guild_id", "n")
    )
    out = []
    for ctx in contexts:
        visible = visible_channels(ctx, (channels[ctx.guild.id], table))
        payload = guild_payload(ctx, visible=visible, member_count=counts.get(ctx.guild.id, 0))
        out.append((payload, [c for c, _ in visible]))
    return out


def check_create_guild(user: User, *, name: Any, icon: Any = None, description: Any = "") -> Guild:
    errors = FieldErrors()
    name = fields.name(errors, "name", name, min_length=2, max_length=100)
    description = text(errors, "description", description or "", max_length=300)
    if icon is not None:
        icon = text(errors, "icon", icon, max_length=200)
    errors.raise_if_any()
    return do_create_guild(user, name=name, icon=icon or None, description=description)


@transaction.atomic
def do_create_guild(user: User, *, name: str, icon: str | None, description: str) -> Guild:

    guild = Guild.objects.create(name=name, icon=icon, description=description, owner=user)
    Role.objects.create(
        id=guild.id,
        guild=guild,
        name="@everyone",
        position=0,
        permissions=perms.DEFAULT_EVERYONE,
    )
    text_cat = Channel.objects.create(
        guild=guild, type=ChannelType.GUILD_CATEGORY, name="Text Channels", position=0
    )
    voice_cat = Channel.objects.create(
        guild=guild, type=ChannelType.GUILD_CATEGORY, name="Voice Channels", position=1
    )
    general = Channel.objects.create(
        guild=guild,
        type=ChannelType.GUILD_TEXT,
        name="general",
        parent=text_cat,
        permission_synced=True,
    )
    Channel.objects.create(
        guild=guild,
        type=ChannelType.GUILD_VOICE,
        name="General",
        parent=voice_cat,
        permission_synced=True,
    )
    guild.default_channel = guild.system_channel = general
    guild.save(update_fields=["default_channel", "system_channel"])
    Member.objects.create(guild=guild, user=user, sort_name=member_sort_name(None, user))
    ctx = guild_context(user, guild.id)
    events.broadcast(events.user_group(user.id), "GUILD_CREATE", guild_payload(ctx))
    return guild


def _guild_snapshot(guild: Guild) -> dict[str, Any]:
    return {
        "name": guild.name,
        "icon": guild.icon,
        "description": guild.description,
        "owner_id": str(guild.owner_id),
        "verification_level": guild.verification_level,
        "system_channel_id": str(guild.system_channel_id) if guild.system_channel_id else None,
        "default_channel_id": str(guild.default_channel_id) if guild.default_channel_id else None,
        "settings": guild.settings,
        "discoverable": guild.discoverable,
        "search_hides_banned": guild.search_hides_banned,
        "show_ban_reasons": guild.show_ban_reasons,
        "tags": sorted(t.tag for t in guild.tags.all()),
    }


def check_update_guild(
    user: User, guild_id: int, changes: dict[str, Any], *, reason: str = ""
) -> Guild:
    """Discord's PATCH /guilds/{id}. MANAGE_GUILD; `owner_id` (a transfer) only by the owner."""
    with transaction.atomic():
        ctx = guild_context(user, guild_id, lock=True)
        guild = ctx.guild
        if set(changes) - {"owner_id"}:
            ctx.require(perms.P.MANAGE_GUILD)
        errors = FieldErrors()
        values: dict[str, Any] = {}
        if "name" in changes:
            values["name"] = fields.name(
                errors, "name", changes["name"], min_length=2, max_length=100
            )
        if "description" in changes:
            values["description"] = text(
                errors, "description", changes["description"] or "", max_length=300
            )
        if "icon" in changes:
            icon = changes["icon"]
            values["icon"] = None if icon is None else text(errors, "icon", icon, max_length=200)
        if "verification_level" in changes:
            values["verification_level"] = integer(
                errors,
                "verification_level",
                changes["verification_level"],
                low=VerificationLevel.NONE,
                high=VerificationLevel.VERY_HIGH,
            )
        for key in ("system_channel_id", "default_channel_id"):
            if key in changes:
                channel_id = snowflake(errors, key, changes[key])
                if (
                    channel_id is not None
                    and not guild.channels.filter(
                        id=channel_id,
                        type__in=[ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT],
                    ).exists()
                ):
                    errors.add(key, "Must be a text channel of this guild.")
                values[key] = channel_id
        if "settings" in changes:
            settings_value = changes["settings"]
            if not isinstance(settings_value, dict) or len(settings_value) > SETTINGS_MAX_KEYS:
                errors.add("settings", f"Must be an object with at most {SETTINGS_MAX_KEYS} keys.")
            else:
                values["settings"] = settings_value
        if "discoverable" in changes:
            values["discoverable"] = boolean(errors, "discoverable", changes["discoverable"])
        for key in ("search_hides_banned", "show_ban_reasons"):
            if key in changes:
                values[key] = boolean(errors, key, changes[key])
        tags = None
        if "tags" in changes:
            tags = _tags(errors, changes["tags"])
        new_owner = None
        if "owner_id" in changes:
            owner_id = snowflake(errors, "owner_id", changes["owner_id"], nullable=False)
            if not ctx.is_owner:
                raise missing_permissions("only the owner can transfer ownership")
            if owner_id is not None and owner_id != guild.owner_id:
                new_owner = Member.objects.filter(guild=guild, user_id=owner_id).first()
                if new_owner is None:
                    raise unknown_member()
        errors.raise_if_any()
        return do_update_guild(ctx, values, tags, new_owner, reason=reason)


def _tags(errors: FieldErrors, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        errors.add("tags", f"Must be a list of at most {MAX_TAGS} tags.")
        return []
    tags = []
    for tag in value:
        if not isinstance(tag, str) or not TAG_RE.match(tag.strip().lower()):
            errors.add("tags", "Tags are 1-24 lowercase letters, digits or dashes.")
            return []
        tags.append(tag.strip().lower())
    return sorted(set(tags))


def do_update_guild(
    ctx: GuildContext,
    values: dict[str, Any],
    tags: list[str] | None,
    new_owner: Member | None,
    *,
    reason: str = "",
) -> Guild:
    guild = ctx.guild
    before = _guild_snapshot(guild)
    for key, value in values.items():
        setattr(guild, key, value)
    if new_owner is not None:
        guild.owner_id = new_owner.user_id
    guild.save()
    if tags is not None:
        GuildTag.objects.filter(guild=guild).exclude(tag__in=tags).delete()
        for tag in tags:
            GuildTag.objects.get_or_create(guild=guild, tag=tag)
    changes = diff(before, _guild_snapshot(guild))
    if changes:
        events.broadcast(
            events.guild_group(guild.id),
            "GUILD_UPDATE",
            {**serialize_guild(guild, roles=ctx.roles.values()), "guild_id": str(guild.id)},
            actor=ctx.user,
            audit=Audit(guild.id, AuditLogEvent.GUILD_UPDATE, guild.id, changes, reason_of(reason)),
        )
    return guild


def check_delete_guild(user: User, guild_id: int, *, confirm_name: Any) -> None:
    """Only the owner deletes, and only after typing the guild's name (the confirmation)."""
    ctx = guild_context(user, guild_id)
    if not ctx.is_owner:
        raise missing_permissions("only the owner can delete the guild")
    if confirm_name != ctx.guild.name:
        raise Invalid(errors={"confirm_name": ["Type the guild's name to confirm."]})
    do_delete_guild(ctx.guild, actor=user)


@transaction.atomic
def do_delete_guild(guild: Guild, *, actor: User | None) -> None:
    guild_id = guild.id
    events.broadcast(
        events.guild_group(guild_id),
        "GUILD_DELETE",
        {"id": str(guild_id), "guild_id": str(guild_id)},
        actor=actor,
    )
    Guild.objects.filter(id=guild_id).delete()


def check_leave_guild(user: User, guild_id: int) -> None:
    from guilds.services.members import do_remove_member

    ctx = guild_context(user, guild_id)
    if ctx.is_owner:
        raise Invalid(
            "The owner cannot leave; transfer ownership or delete the guild",
            errors={"guild_id": ["You own this guild."]},
        )
    do_remove_member(ctx.guild, user, actor=user, audit=False)


def list_user_guilds(user: User) -> list[dict[str, Any]]:
    """Discord's GET /users/@me/guilds: partial guilds with `owner` and `permissions`."""
    memberships = (
        Member.objects.filter(user=user)
        .select_related("guild")
        .prefetch_related("roles", "guild__tags")
        .order_by("guild_id")
    )
    guild_ids = [m.guild_id for m in memberships]
    everyone = dict(Role.objects.filter(id__in=guild_ids).values_list("id", "permissions"))
    counts = dict(
        Member.objects.filter(guild_id__in=guild_ids)
        .values_list("guild_id")
        .annotate(n=Count("id"))
        .values_list("guild_id", "n")
    )
    out = []
    for member in memberships:
        guild = member.guild
        roles = {r.id: r.permissions for r in member.roles.all()}
        roles[guild.id] = everyone.get(guild.id, 0)
        granted = perms.compute_permissions(
            guild_id=guild.id,
            owner_id=guild.owner_id,
            member_id=user.id,
            member_role_ids=roles.keys(),
            role_permissions=roles,
        )
        out.append(
            {
                "id": str(guild.id),
                "name": guild.name,
                "icon": guild.icon,
                "owner": guild.owner_id == user.id,
                "permissions": str(granted),
                "features": ["DISCOVERABLE"] if guild.discoverable else [],
                "approximate_member_count": counts.get(guild.id, 0),
            }
        )
    return out


# guild id -> when this process last wrote its activity (time.monotonic()).
_noted: dict[int, float] = {}
ACTIVITY_EVERY = 60.0


def note_activity(guild_id: int) -> None:
    """Directory ranking: messaging calls this when a guild sees activity. The directory
    ranks by the minute, so a busy guild's row is written at most once a minute per process
    instead of on every message."""
    now = time.monotonic()
    if now - _noted.get(guild_id, -ACTIVITY_EVERY) < ACTIVITY_EVERY:
        return
    if len(_noted) > 10_000:
        _noted.clear()
    _noted[guild_id] = now
    Guild.objects.filter(id=guild_id).update(last_activity_at=timezone.now())
