"""The host's `GuildState`, applied to its replica through the guilds app's `do_*`.

A state is the whole guild: its fields, roles, channels with their overwrites, and members
with their roles. The replica compares it with what it has and makes each difference with
the service that makes it locally, under `node_context` (the node acting for the host: the
host's signature authorised the change, so no local permission is checked). Members of the
replica hear `GUILD_ROLE_*`, `CHANNEL_*`, `GUILD_MEMBER_*` and `GUILD_UPDATE` exactly as for
a change made here, and the replica's audit log records them with no actor; the caller's
`applying(domain)` gives the events the host as their origin, so nothing is sent back.

Order: roles (overwrites and members name them), channels (categories before what is in
them; positions as ranks in the host's order, so a host with gaps in its positions still
converges here), overwrites, the guild's own fields (its default channel exists by then),
then members, who hear of the guild as it now is. A state older than the last one applied
(its `revision`, the host's clock in milliseconds) is ignored. A state that names a role or
channel id another guild here holds is refused whole: ids are shared across nodes, so a host
must not be able to take a local object over by naming its id.

Threads are the exception: no guilds service creates one without the member's message it
starts from (messaging's `check_start_thread`, on the host), so a thread a replica lacks is
created as a row, linked to its starter message; its renames and deletion go through the
services like any channel's.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from accounts.models import User
from federation import remote
from federation.guildwire import id_from_uri
from federation.mirror.context import broadcast_message, schedule_sync
from federation.models import GuildLink
from federation.people import user_for_actor
from guilds.models import Channel, ChannelType, Guild, Member, PermissionOverwrite, Role
from guilds.services.access import ChannelAccess, GuildContext, member_role_ids, node_context
from messaging.models import Message

logger = logging.getLogger(__name__)
THREAD_TYPES = frozenset({ChannelType.PUBLIC_THREAD})
GUILD_TYPES = frozenset(ChannelType) - {ChannelType.DM, ChannelType.GROUP_DM}


def apply_state(group: str, data: dict[str, Any]) -> Guild:
    """Make the replica what the host says: guild, roles, channels, overwrites, members."""
    info = data.get("guild") or {}
    gid = int(info["id"])
    if id_from_uri(group) != gid or remote.origin(data.get("id", "")) != remote.origin(group):
        raise ValueError("a guild state must come from the guild's own Group")
    # The guild row's lock: what a local member changes meanwhile waits, as for a local change.
    existing = Guild.objects.select_for_update().filter(id=gid).first()
    if existing is not None and not GuildLink.objects.filter(guild=existing, group_uri=group):
        raise ValueError(f"guild {gid} exists here and is not a replica of {group}")
    owner = user_for_actor(str(info["owner"]))
    fields: dict[str, Any] = {
        "name": str(info.get("name", ""))[:100] or "guild",
        "description": str(info.get("description") or "")[:300],
        "owner_id": owner.id,
        "verification_level": int(info.get("verification_level") or 0),
    }
    # A new replica is born as a row: no local service makes a guild someone else owns. Its
    # members hear of it as GUILD_CREATE when they are added (below).
    revision = int(data.get("revision") or 0)
    guild = existing or Guild.objects.create(id=gid, **fields)
    link, new_link = GuildLink.objects.get_or_create(
        guild=guild, defaults={"group_uri": group, "domain": remote.domain_of(group)}
    )
    if new_link:
        schedule_sync(link)  # a new replica back-fills the history it joins into
    elif revision < link.state_version:
        # Deliveries may arrive out of order (a retried one after a newer one, or a state
        # fetched on join racing the host's push): an older state would undo newer changes.
        GuildLink.objects.filter(id=link.id).update(last_heard_at=timezone.now())
        logger.info(
            "guild %s: state %s is older than %s, not applied", gid, revision, link.state_version
        )
        return guild
    GuildLink.objects.filter(id=link.id).update(
        last_heard_at=timezone.now(), state_version=revision
    )
    ctx = node_context(guild)
    _apply_roles(ctx, [r for r in data.get("roles") or [] if isinstance(r, dict)])
    channels = [c for c in data.get("channels") or [] if isinstance(c, dict)]
    channels = [c for c in channels if int(c["type"]) in GUILD_TYPES]
    _apply_channels(ctx, channels)
    _link_starters(guild, channels)
    default = str(info.get("default_channel_id") or "")
    if default.isdigit() and Channel.objects.filter(id=int(default), guild=guild).exists():
        fields["default_channel_id"] = int(default)
    _apply_guild(ctx, fields)
    _apply_members(ctx, [m for m in data.get("members") or [] if isinstance(m, dict)])
    return guild


def _apply_guild(ctx: GuildContext, fields: dict[str, Any]) -> None:
    from guilds.services.guilds import do_update_guild

    ctx.guild.refresh_from_db()
    changed = {k: v for k, v in fields.items() if getattr(ctx.guild, k) != v}
    if changed:
        do_update_guild(ctx, changed, None, None)


def _role_values(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(r.get("name", ""))[:100],
        "color": int(r.get("color") or 0),
        "hoist": bool(r.get("hoist")),
        "mentionable": bool(r.get("mentionable")),
        "permissions": int(r.get("permissions") or 0),
    }


def _ranks(items: list[dict[str, Any]], start: int) -> dict[int, int]:
    """id -> place in the host's order (position, then id), counted from `start`: dense, as
    the services keep positions, whatever gaps the host's numbers have."""
    ordered = sorted(items, key=lambda x: (int(x.get("position") or 0), int(x["id"])))
    return {int(x["id"]): rank for rank, x in enumerate(ordered, start=start)}


def _apply_roles(ctx: GuildContext, listed: list[dict[str, Any]]) -> None:
    from guilds.services.roles import do_create_role, do_delete_role, do_update_role

    guild = ctx.guild
    wanted = {int(r["id"]): r for r in listed}
    if Role.objects.filter(id__in=list(wanted)).exclude(guild=guild).exists():
        raise ValueError("the state names a role of another guild")
    rank = _ranks([r for rid, r in wanted.items() if rid != guild.id], start=1)
    rank[guild.id] = 0  # @everyone
    for stale in [r for rid, r in ctx.roles.items() if rid not in wanted and not r.is_everyone]:
        do_delete_role(ctx, stale)
    for rid in sorted(wanted, key=lambda i: rank[i]):
        values = _role_values(wanted[rid])
        role = ctx.roles.get(rid)
        if role is None:
            do_create_role(ctx, values, role_id=rid, position=rank[rid])
            continue
        values["position"] = rank[rid]
        changed = {k: v for k, v in values.items() if getattr(role, k) != v}
        if changed:
            do_update_role(ctx, role, changed)


def _parent(c: dict[str, Any], ids: set[int]) -> int | None:
    parent = int(c["parent_id"]) if str(c.get("parent_id") or "").isdigit() else None
    return parent if parent in ids else None


def _channel_values(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": str(c.get("name", ""))[:100],
        "topic": str(c.get("topic") or "")[:1024],
        "nsfw": bool(c.get("nsfw")),
        "rate_limit_per_user": max(0, min(21600, int(c.get("rate_limit_per_user") or 0))),
        "default_message_ttl": max(0, int(c.get("default_message_ttl") or 0)),
    }


def _overwrites(c: dict[str, Any], role_ids: set[int]) -> dict[int, tuple[int, int, int]]:
    """target id -> (type, allow, deny), as the host has them on channel `c`."""
    rows: dict[int, tuple[int, int, int]] = {}
    for o in c.get("overwrites") or []:
        if not isinstance(o, dict):
            continue
        if "role" in o:
            target, kind = int(o["role"]), PermissionOverwrite.ROLE
            if target not in role_ids:
                continue
        else:
            target, kind = user_for_actor(str(o["member"])).id, PermissionOverwrite.MEMBER
        rows[target] = (kind, int(o.get("allow") or 0), int(o.get("deny") or 0))
    return rows


def _apply_channels(ctx: GuildContext, listed: list[dict[str, Any]]) -> None:
    from guilds.services.channels import do_create_channel, do_delete_channel, do_update_channel
    from guilds.services.overwrites import do_delete_overwrite, do_put_overwrite

    guild = ctx.guild
    wanted = {int(c["id"]): c for c in listed}
    listed, ids = list(wanted.values()), set(wanted)
    if Channel.objects.filter(id__in=list(ids)).exclude(guild=guild).exists():
        raise ValueError("the state names a channel of another guild")
    for stale in Channel.objects.filter(guild=guild).exclude(id__in=list(ids)).order_by("id"):
        stale.refresh_from_db()  # a category deleted before it may have been its parent
        do_delete_channel(ctx, stale)
    siblings: dict[int | None, list[dict[str, Any]]] = {}
    for c in listed:
        siblings.setdefault(_parent(c, ids), []).append(c)
    rank: dict[int, int] = {}
    for group in siblings.values():
        rank.update(_ranks(group, start=0))
    role_ids = set(ctx.roles)
    # Categories first, threads last: what a channel sits in exists when it is created.
    order = sorted(
        listed,
        key=lambda c: (
            int(c["type"]) != ChannelType.GUILD_CATEGORY,
            int(c["type"]) in THREAD_TYPES,
            rank[int(c["id"])],
            int(c["id"]),
        ),
    )
    have = set(Channel.objects.filter(guild=guild).values_list("id", flat=True))
    for c in order:
        cid, kind = int(c["id"]), int(c["type"])
        if cid in have:
            continue
        parent = _parent(c, ids)
        if parent not in have:
            parent = None  # a parent made later: the update below moves the channel into it
        if kind in THREAD_TYPES:
            Channel.objects.create(
                id=cid,
                guild=guild,
                type=kind,
                parent_id=parent,
                position=rank[cid],
                permission_synced=bool(c.get("permission_synced")),
                **_channel_values(c),
            )
        else:
            synced = bool(c.get("permission_synced")) and parent is not None
            rows = [
                PermissionOverwrite(target_id=target, type=k, allow=allow, deny=deny)
                for target, (k, allow, deny) in _overwrites(c, role_ids).items()
            ]
            do_create_channel(
                ctx,
                kind,
                {**_channel_values(c), "parent_id": parent},
                position=rank[cid],
                overwrites=None if synced else rows,
                channel_id=cid,
            )
        have.add(cid)
    # Then every channel as the host has it, lowest place first in each sibling group, so
    # each lands on its rank without pushing one already placed.
    for c in sorted(listed, key=lambda c: (rank[int(c["id"])], int(c["id"]))):
        cid = int(c["id"])
        channel = Channel.objects.get(id=cid)
        values = {**_channel_values(c), "parent_id": _parent(c, ids)}
        if int(c["type"]) != channel.type and channel.type not in THREAD_TYPES:
            values["type"] = int(c["type"])
        changed = {k: v for k, v in values.items() if getattr(channel, k) != v}
        synced = bool(c.get("permission_synced"))
        sync = synced and not channel.permission_synced and values["parent_id"] is not None
        # A channel changing parent lands at the end of its new siblings unless told where.
        moved = "parent_id" in changed or channel.position != rank[cid]
        position = rank[cid] if moved else None
        if changed or position is not None or sync:
            do_update_channel(_access(ctx, channel), changed, position, sync)
    for c in listed:
        channel = Channel.objects.get(id=int(c["id"]))
        synced = bool(c.get("permission_synced"))
        if not synced:
            host = _overwrites(c, role_ids)
            own = {r.target_id: r for r in PermissionOverwrite.objects.filter(channel=channel)}
            for target, (kind, allow, deny) in host.items():
                row = own.get(target)
                same = row is not None and (row.allow, row.deny) == (allow, deny)
                if channel.permission_synced or not same:
                    do_put_overwrite(ctx, channel, target, kind, allow, deny)
            for target, row in own.items():
                if target not in host:
                    do_delete_overwrite(ctx, channel, row)
            channel.refresh_from_db()
        if channel.permission_synced != synced and (channel.parent_id or not synced):
            do_update_channel(_access(ctx, channel), {"permission_synced": synced}, None, False)


def _access(ctx: GuildContext, channel: Channel) -> ChannelAccess:
    return ChannelAccess(ctx, channel, ctx.channel_permissions(channel))


def _apply_members(ctx: GuildContext, listed: list[dict[str, Any]]) -> None:
    from guilds.services.members import (
        do_add_member,
        do_change_member_roles,
        do_remove_member,
        do_set_nick,
    )

    guild = ctx.guild
    assignable = {rid for rid, role in ctx.roles.items() if not role.is_everyone}
    wanted: dict[int, tuple[set[int], str | None]] = {}
    for m in listed:
        user = user_for_actor(str(m["actor"]), str(m.get("username") or ""))
        roles = {int(x) for x in m.get("roles") or []} & assignable
        wanted[user.id] = (roles, str(m.get("nick") or "")[:32] or None)
    for member in Member.objects.filter(guild=guild).select_related("user"):
        if member.user_id not in wanted:
            do_remove_member(guild, member.user, actor=None, audit=False)
    users = User.objects.in_bulk(list(wanted))
    for user_id, (roles, nick) in wanted.items():
        member, _ = do_add_member(guild, users[user_id])
        current = member_role_ids(member)
        do_change_member_roles(ctx, member, add=roles - current, remove=current - roles)
        do_set_nick(ctx, member, nick)


def _link_starters(guild: Guild, channels: list[dict[str, Any]]) -> None:
    """Each thread's starter message (the host's `message_id`) points at it here too."""
    for c in channels:
        mid = int(c["message_id"]) if str(c.get("message_id") or "").isdigit() else None
        if mid is None:
            continue
        cid = int(c["id"])
        Message.objects.filter(thread_id=cid).exclude(id=mid).update(thread=None)
        if (
            Message.objects.filter(id=mid, channel__guild=guild)
            .exclude(thread_id=cid)
            .update(thread_id=cid)
        ):
            broadcast_message(mid, "MESSAGE_UPDATE")
