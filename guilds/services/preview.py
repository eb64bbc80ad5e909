""" "View as role": what a member holding only one role (besides @everyone) would see and may do,
channel by channel, computed with the same pure algorithm as real members' permissions.

Only channels the asking manager can see are listed: previewing must not become a way to
learn of private channels. Member overwrites are left out (the preview is of a role, not of
a person), and the owner's and ADMINISTRATOR's everything is what the algorithm says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accounts.models import User
from guilds import permission_labels as labels
from guilds import permissions as perms
from guilds.models import TEXT_TYPES, Channel, ChannelType, Role
from guilds.services.access import (
    guild_context,
    unknown_role,
    visible_channels,
)

# A role preview answers for a hypothetical member: no user has this id.
NOBODY = 0


@dataclass
class ChannelPreview:
    channel: Channel
    visible: bool
    permissions: int
    # Human names of the granted permissions that mean something in this kind of channel.
    allowed: list[str] = field(default_factory=list)


@dataclass
class RolePreview:
    role: Role
    guild_wide: list[str]
    channels: list[ChannelPreview]


def channel_kind(channel: Channel) -> str:
    if channel.type == ChannelType.GUILD_CATEGORY:
        return "category"
    return "text" if channel.type in TEXT_TYPES else "voice"


def check_view_as_role(user: User, guild_id: int, role_id: int) -> RolePreview:
    ctx = guild_context(user, guild_id)
    ctx.require(perms.P.MANAGE_ROLES)
    role = ctx.roles.get(role_id)
    if role is None:
        raise unknown_role()
    role_permissions = {r.id: r.permissions for r in ctx.roles.values()}
    member_roles = [] if role.is_everyone else [role.id]
    base = perms.compute_permissions(
        guild_id=guild_id,
        owner_id=ctx.guild.owner_id,
        member_id=NOBODY,
        member_role_ids=member_roles,
        role_permissions=role_permissions,
    )
    rows = []
    for channel, overwrites in visible_channels(ctx):
        granted = perms.compute_permissions(
            guild_id=guild_id,
            owner_id=ctx.guild.owner_id,
            member_id=NOBODY,
            member_role_ids=member_roles,
            role_permissions=role_permissions,
            overwrites=[o for o in overwrites if o.type == perms.OVERWRITE_ROLE],
            text_channel=channel.type in TEXT_TYPES,
        )
        kind = channel_kind(channel)
        rows.append(
            ChannelPreview(
                channel,
                visible=perms.has(granted, perms.P.VIEW_CHANNEL),
                permissions=granted,
                allowed=[
                    label.name
                    for label in labels.LABELS
                    if label.flag != perms.P.VIEW_CHANNEL
                    and labels.applies_to_channel(label, kind)
                    and perms.has(granted, label.flag)
                ],
            )
        )
    guild_wide = [
        label.name
        for label in labels.LABELS
        if label.scope == labels.GUILD and perms.has(base, label.flag)
    ]
    return RolePreview(role, guild_wide, rows)
