"""Who may see and do what: loads rows, then asks the pure `guilds.permissions`.

Visibility rule (403 vs 404): what a user may not *see* answers 404, what they may see but
not *change* answers 403. A guild you are not a member of is "Unknown Guild" (10004) and
everything in it "Unknown Channel/Role/Member"; a channel you lack VIEW_CHANNEL for is
"Unknown Channel" (10003) even to members. A 403 would confirm to a member that a private
channel exists, which a privacy-first node does not leak. Inside a visible object a missing
permission or a role-hierarchy violation is 403 "Missing Permissions" (50013).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from django.db.models import Exists, OuterRef

from accounts.models import User
from guilds import permissions as perms
from guilds import ports
from guilds.models import (
    TEXT_TYPES,
    Channel,
    ChannelType,
    Guild,
    Member,
    PermissionOverwrite,
    Role,
)
from guilds.permissions import Overwrite
from united import errors
from united.errors import Forbidden, NotFound

OWNER_RANK = 1 << 62


def unknown_guild() -> NotFound:
    return NotFound("Unknown Guild", code=errors.UNKNOWN_GUILD)


def unknown_channel() -> NotFound:
    return NotFound("Unknown Channel", code=errors.UNKNOWN_CHANNEL)


def unknown_role() -> NotFound:
    return NotFound("Unknown Role", code=errors.UNKNOWN_ROLE)


def unknown_member() -> NotFound:
    return NotFound("Unknown Member", code=errors.UNKNOWN_MEMBER)


def missing_permissions(what: str = "") -> Forbidden:
    return Forbidden(f"Missing Permissions{': ' + what if what else ''}")


def _as_overwrite(row: PermissionOverwrite) -> Overwrite:
    return Overwrite(id=row.target_id, type=row.type, allow=row.allow, deny=row.deny)


def overwrites_by_channel(guild_id: int) -> dict[int, list[Overwrite]]:
    table: dict[int, list[Overwrite]] = defaultdict(list)
    for row in PermissionOverwrite.objects.filter(channel__guild_id=guild_id):
        table[row.channel_id].append(_as_overwrite(row))
    return table


def own_overwrites(channel: Channel) -> list[Overwrite]:
    return [_as_overwrite(r) for r in PermissionOverwrite.objects.filter(channel=channel)]


def effective_overwrites(
    channel: Channel, table: dict[int, list[Overwrite]] | None = None
) -> list[Overwrite]:
    if table is None:
        ids = [channel.id] + ([channel.parent_id] if channel.parent_id else [])
        table = defaultdict(list)
        for row in PermissionOverwrite.objects.filter(channel_id__in=ids):
            table[row.channel_id].append(_as_overwrite(row))
    parent = table.get(channel.parent_id, []) if channel.parent_id else None
    return perms.effective_overwrites(
        table.get(channel.id, []), parent, synced=channel.permission_synced
    )


@dataclass
class GuildContext:
    """One member's standing in one guild, loaded once per request.

    `user` None is the node itself acting for the guild's host (`node_context`): a replica
    applying the host's GuildState. No member stands behind it and no local permission
    concerns it (the host's signature authorised the change), so it holds every permission
    and outranks every role; its changes name no actor in events or the audit log."""

    guild: Guild
    user: User | None
    member: Member | None
    roles: dict[int, Role]
    role_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_owner(self) -> bool:
        return self.user is not None and self.guild.owner_id == self.user.id

    @cached_property
    def base(self) -> int:
        if self.user is None:
            return perms.ALL
        return perms.compute_permissions(
            guild_id=self.guild.id,
            owner_id=self.guild.owner_id,
            member_id=self.user.id,
            member_role_ids=self.role_ids,
            role_permissions={r.id: r.permissions for r in self.roles.values()},
        )

    @property
    def is_admin(self) -> bool:
        return perms.has(self.base, perms.P.ADMINISTRATOR)

    @cached_property
    def top_position(self) -> int:
        """Rank in the role hierarchy: the owner outranks every role."""
        if self.is_owner or self.user is None:
            return OWNER_RANK
        return max((self.roles[r].position for r in self.role_ids if r in self.roles), default=0)

    def channel_permissions(
        self, channel: Channel, table: dict[int, list[Overwrite]] | None = None
    ) -> int:
        if self.user is None:
            return perms.ALL
        return perms.compute_permissions(
            guild_id=self.guild.id,
            owner_id=self.guild.owner_id,
            member_id=self.user.id,
            member_role_ids=self.role_ids,
            role_permissions={r.id: r.permissions for r in self.roles.values()},
            overwrites=effective_overwrites(channel, table),
            text_channel=channel.type in TEXT_TYPES,
        )

    def require(self, flag: int, channel: Channel | None = None) -> None:
        granted = self.base if channel is None else self.channel_permissions(channel)
        if not perms.has(granted, flag):
            raise missing_permissions(perms.Permissions(flag).name or "")

    def require_above(self, position: int, what: str = "role") -> None:
        """Members act only on what sits strictly below their highest role."""
        if not self.top_position > position:
            raise missing_permissions(f"that {what} is not below your highest role")

    def member_rank(self, member: Member) -> int:
        if member.user_id == self.guild.owner_id:
            return OWNER_RANK
        return max(
            (self.roles[r].position for r in member_role_ids(member) if r in self.roles),
            default=0,
        )


def member_role_ids(member: Member) -> frozenset[int]:
    cached = getattr(member, "_prefetched_objects_cache", {}).get("roles")
    if cached is not None:
        return frozenset(r.id for r in cached)
    return frozenset(member.roles.values_list("id", flat=True))


def guild_context(user: User, guild_id: int, *, lock: bool = False) -> GuildContext:
    """`lock` takes the guild row's lock (call inside a transaction): every change that
    renumbers positions or depends on the hierarchy serialises on it."""
    if not user.is_authenticated:
        raise unknown_guild()
    try:
        if lock:
            guild = Guild.objects.select_for_update().get(id=guild_id)
            member = Member.objects.select_related("user").get(guild=guild, user_id=user.id)
        else:
            # Every guild request starts here: the guild comes with the member row.
            member = Member.objects.select_related("guild", "user").get(
                guild_id=guild_id, user_id=user.id
            )
            guild = member.guild
    except (Guild.DoesNotExist, Member.DoesNotExist):
        raise unknown_guild() from None
    if ports.is_suspended(guild.id):
        # Suspended by the node operator: nobody reads or writes it until it is lifted.
        raise unknown_guild()
    # The guild's roles, each marked if this member holds it: one statement for both.
    held = Member.roles.through.objects.filter(member_id=member.id, role_id=OuterRef("id"))
    roles: dict[int, Role] = {}
    mine = set()
    for role in Role.objects.filter(guild=guild).annotate(held=Exists(held)):
        roles[role.id] = role
        if role.held:
            mine.add(role.id)
    return GuildContext(guild, user, member, roles, frozenset(mine))


def member_contexts(user: User) -> list[GuildContext]:
    """Every guild context of `user` (READY), with a fixed number of queries whatever the
    number of guilds: the memberships with their guilds, the guilds' roles and the member's
    roles, each read once for all guilds. Suspended guilds are left out, as guild_context
    refuses them."""
    members = list(
        Member.objects.filter(user_id=user.id)
        .select_related("guild")
        .prefetch_related("guild__tags")
        .order_by("joined_at", "id")
    )
    suspended = ports.suspended_ids([m.guild_id for m in members])
    members = [m for m in members if m.guild_id not in suspended]
    if not members:
        return []
    guild_ids = [m.guild_id for m in members]
    roles: dict[int, dict[int, Role]] = defaultdict(dict)
    for role in Role.objects.filter(guild_id__in=guild_ids):
        roles[role.guild_id][role.id] = role
    held: dict[int, set[int]] = defaultdict(set)
    through = Member.roles.through.objects.filter(member_id__in=[m.id for m in members])
    for member_id, role_id in through.values_list("member_id", "role_id"):
        held[member_id].add(role_id)
    contexts = []
    for member in members:
        member.user = user
        contexts.append(
            GuildContext(
                member.guild, user, member, roles[member.guild_id], frozenset(held[member.id])
            )
        )
    return contexts


def guild_channels(
    guild_ids: list[int],
) -> tuple[dict[int, list[Channel]], dict[int, list[Overwrite]]]:
    """The channels of these guilds in display order, and every channel's own overwrites:
    two queries for any number of guilds, for `visible_channels(..., rows=...)`."""
    channels: dict[int, list[Channel]] = defaultdict(list)
    for channel in Channel.objects.filter(guild_id__in=guild_ids).order_by("position", "id"):
        channels[channel.guild_id].append(channel)  # type: ignore[index]
    table: dict[int, list[Overwrite]] = defaultdict(list)
    for row in PermissionOverwrite.objects.filter(channel__guild_id__in=guild_ids):
        table[row.channel_id].append(_as_overwrite(row))
    return channels, table


def node_context(guild: Guild) -> GuildContext:
    """The node acting in `guild` for its host: what a replica hands the `do_*` services
    when it applies the host's state (federation.mirror), never a member's request."""
    return GuildContext(guild, None, None, {r.id: r for r in Role.objects.filter(guild=guild)})


def access_guild(user: User, guild_id: int) -> Guild:
    return guild_context(user, guild_id).guild


@dataclass
class ChannelAccess:
    ctx: GuildContext
    channel: Channel
    permissions: int

    def require(self, flag: int) -> None:
        if not perms.has(self.permissions, flag):
            raise missing_permissions(perms.Permissions(flag).name or "")


def access_channel(
    user: User, channel_id: int, *, lock: bool = False, channel: Channel | None = None
) -> ChannelAccess:
    """The channel if the user can see it (VIEW_CHANNEL), else 404 Unknown Channel.

    `channel` is the row when the caller has just read it (the send path reads it once)."""
    if channel is None or channel.id != channel_id:
        channel = Channel.objects.filter(id=channel_id).first()
    if channel is None:
        raise unknown_channel()
    try:
        # A guild channel here: guild_id is null on DM channels only.
        ctx = guild_context(user, channel.guild_id, lock=lock)  # type: ignore[arg-type]
    except NotFound:
        raise unknown_channel() from None
    if lock:
        # Re-read under the guild lock: a concurrent move or delete may have committed.
        channel = Channel.objects.filter(id=channel_id).first()
        if channel is None:
            raise unknown_channel()
    granted = ctx.channel_permissions(channel)
    if not perms.has(granted, perms.P.VIEW_CHANNEL):
        raise unknown_channel()
    return ChannelAccess(ctx, channel, granted)


def visible_channels(
    ctx: GuildContext,
    rows: tuple[list[Channel], dict[int, list[Overwrite]]] | None = None,
) -> list[tuple[Channel, list[Overwrite]]]:
    """The guild's channels this member can see, each with its effective overwrites.

    `rows`: the guild's channels in display order and the overwrite table, when the caller
    read them for many guilds at once (`guild_channels`)."""
    if rows is None:
        table = overwrites_by_channel(ctx.guild.id)
        channels = list(Channel.objects.filter(guild=ctx.guild).order_by("position", "id"))
    else:
        channels, table = rows
    visible = []
    for channel in channels:
        if perms.has(ctx.channel_permissions(channel, table), perms.P.VIEW_CHANNEL):
            visible.append((channel, effective_overwrites(channel, table)))
    return visible


def visible_channel_ids(user: User, guild: Guild) -> set[int]:
    """Channel ids of `guild` that `user` may see; empty if not a member. The gateway uses
    this to drop events about channels a session may not see."""
    try:
        ctx = guild_context(user, guild.id)
    except NotFound:
        return set()
    return {channel.id for channel, _ in visible_channels(ctx)}


@dataclass(eq=False)
class MemberView:
    """One member's standing in a guild as the gateway holds it in memory: their roles and,
    for every channel they may see (VIEW_CHANNEL), their permission bits there. `in` asks
    whether they see a channel."""

    role_ids: frozenset[int]
    channels: dict[int, int]

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self.channels


@dataclass(eq=False)
class GuildView:
    """The rows a guild's permissions are computed from, read once with its members' views:
    enough to decide a send without reading them again (`channel_access`)."""

    guild: Guild
    roles: dict[int, Role]
    channels: dict[int, Channel]

    def channel_access(self, user: User, view: MemberView, channel_id: int) -> ChannelAccess:
        """What `access_channel` answers for this member, from memory: 404 Unknown Channel
        for a channel they may not see (a thread also needs its parent, whose permissions it
        has), else the channel with their permission bits."""
        channel = self.channels.get(channel_id)
        if channel is None or channel_id not in view.channels:
            raise unknown_channel()
        granted = view.channels[channel_id]
        if channel.type == ChannelType.PUBLIC_THREAD and channel.parent_id:  # by its parent
            if channel.parent_id not in view.channels:
                raise unknown_channel()
            granted = view.channels[channel.parent_id]
        ctx = GuildContext(self.guild, user, None, self.roles, view.role_ids)
        return ChannelAccess(ctx, channel, granted)


def guild_permissions(
    guild_id: int, user_ids: Iterable[int] | None = None
) -> tuple[GuildView | None, dict[int, MemberView]]:
    """For every member of the guild (or those of `user_ids`): their roles and their
    permission bits in each channel they may see; (None, {}) when the guild is gone or
    suspended.

    The gateway keeps this as its in-memory snapshot of who may see and do what, so it is
    built with a fixed number of queries whatever the guild's size, and members with the same
    roles and no member overwrite share one computation (most of a large guild).
    """
    guild = Guild.objects.filter(id=guild_id).first()
    if guild is None or ports.is_suspended(guild_id):
        return None, {}
    members = Member.objects.filter(guild_id=guild_id)
    if user_ids is not None:
        members = members.filter(user_id__in=list(user_ids))
    member_users = dict(members.values_list("id", "user_id"))
    roles_of: dict[int, set[int]] = defaultdict(set)
    through = Member.roles.through.objects.filter(member_id__in=list(member_users))
    for member_id, role_id in through.values_list("member_id", "role_id"):
        roles_of[member_id].add(role_id)
    roles = {role.id: role for role in Role.objects.filter(guild_id=guild_id)}
    role_permissions = {role.id: role.permissions for role in roles.values()}
    table = overwrites_by_channel(guild_id)
    rows = {channel.id: channel for channel in Channel.objects.filter(guild_id=guild_id)}
    channels = [
        (channel.id, effective_overwrites(channel, table), channel.type in TEXT_TYPES)
        for channel in rows.values()
    ]
    member_targets = {
        o.id for rows in table.values() for o in rows if o.type != perms.OVERWRITE_ROLE
    }
    shared: dict[frozenset[int], dict[int, int]] = {}

    def granted(user_id: int, role_ids: frozenset[int]) -> dict[int, int]:
        out = {}
        for channel_id, overwrites, text in channels:
            bits = perms.compute_permissions(
                guild_id=guild_id,
                owner_id=guild.owner_id,
                member_id=user_id,
                member_role_ids=role_ids,
                role_permissions=role_permissions,
                overwrites=overwrites,
                text_channel=text,
            )
            if perms.has(bits, perms.P.VIEW_CHANNEL):
                out[channel_id] = bits
        return out

    result: dict[int, MemberView] = {}
    for member_id, user_id in member_users.items():
        role_ids = frozenset(roles_of.get(member_id, ()))
        if user_id == guild.owner_id or user_id in member_targets:
            result[user_id] = MemberView(role_ids, granted(user_id, role_ids))
        else:
            if role_ids not in shared:
                shared[role_ids] = granted(user_id, role_ids)
            result[user_id] = MemberView(role_ids, shared[role_ids])
    return GuildView(guild, roles, rows), result


def guild_visibility(
    guild_id: int, user_ids: Iterable[int] | None = None
) -> dict[int, frozenset[int]]:
    """For every member of the guild (or those of `user_ids`): the ids of the channels they may
    see. Empty when the guild is gone or suspended (`guild_permissions`, less the bits)."""
    _, views = guild_permissions(guild_id, user_ids)
    return {user_id: frozenset(view.channels) for user_id, view in views.items()}
