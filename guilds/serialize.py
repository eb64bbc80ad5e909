"""Discord-shaped JSON for guild objects: ids and bitfields as decimal strings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings

from accounts.services import serialize_user
from guilds.models import Channel, Guild, Invite, Member, PermissionOverwrite, Role
from guilds.permissions import Overwrite


def sid(value: int | None) -> str | None:
    return None if value is None else str(value)


def iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def serialize_role(role: Role) -> dict[str, Any]:
    return {
        "id": str(role.id),
        "name": role.name,
        "color": role.color,
        "hoist": role.hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": False,
        "mentionable": role.mentionable,
        "flags": 0,
    }


def serialize_overwrite(overwrite: PermissionOverwrite | Overwrite) -> dict[str, Any]:
    target = overwrite.target_id if isinstance(overwrite, PermissionOverwrite) else overwrite.id
    return {
        "id": str(target),
        "type": overwrite.type,
        "allow": str(overwrite.allow),
        "deny": str(overwrite.deny),
    }


def serialize_channel(
    channel: Channel, overwrites: Iterable[PermissionOverwrite | Overwrite] = ()
) -> dict[str, Any]:
    return {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "topic": channel.topic or None,
        "position": channel.position,
        "parent_id": sid(channel.parent_id),
        "nsfw": channel.nsfw,
        "rate_limit_per_user": channel.rate_limit_per_user,
        "default_message_ttl": channel.default_message_ttl,
        "user_limit": channel.user_limit,
        "bitrate": channel.bitrate,
        "permission_synced": channel.permission_synced,
        "permission_overwrites": [serialize_overwrite(o) for o in overwrites],
    }


def serialize_guild(guild: Guild, roles: Iterable[Role] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(guild.id),
        "name": guild.name,
        "icon": guild.icon,
        "description": guild.description or None,
        "owner_id": str(guild.owner_id),
        "default_channel_id": sid(guild.default_channel_id),
        "system_channel_id": sid(guild.system_channel_id),
        "verification_level": guild.verification_level,
        "settings": guild.settings,
        "features": ["DISCOVERABLE"] if guild.discoverable else [],
        "search_hides_banned": guild.search_hides_banned,
        "show_ban_reasons": guild.show_ban_reasons,
        "tags": sorted(t.tag for t in guild.tags.all()),
        "created_at": iso(guild.created_at),
    }
    if roles is not None:
        data["roles"] = [serialize_role(r) for r in roles]
    return data


def serialize_partial_guild(guild: Guild, member_count: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(guild.id),
        "name": guild.name,
        "icon": guild.icon,
        "description": guild.description or None,
        "features": ["DISCOVERABLE"] if guild.discoverable else [],
        "verification_level": guild.verification_level,
    }
    if member_count is not None:
        data["approximate_member_count"] = member_count
    return data


def serialize_member(member: Member, role_ids: Iterable[int] | None = None) -> dict[str, Any]:
    if role_ids is None:
        role_ids = [r.id for r in member.roles.all()]
    return {
        "user": serialize_user(member.user),
        "nick": member.nick,
        "avatar": None,
        "roles": [str(r) for r in role_ids if r != member.guild_id],
        "joined_at": iso(member.joined_at),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "temporary": member.temporary,
    }


def invite_urls(code: str) -> dict[str, str]:
    domain = settings.FEDERATION_DOMAIN or "localhost"
    return {
        "url": f"https://{domain}/invite/{code}",
        "uri": f"web+united://invite/{domain}/{code}",
    }


def serialize_invite(
    invite: Invite, *, member_count: int | None = None, metadata: bool = False
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": 0,
        "code": invite.code,
        "guild": serialize_partial_guild(invite.guild),
        "channel": {
            "id": str(invite.channel_id),
            "name": invite.channel.name,
            "type": invite.channel.type,
        },
        "inviter": serialize_user(invite.inviter) if invite.inviter else None,
        "expires_at": iso(invite.expires_at),
        **invite_urls(invite.code),
    }
    if member_count is not None:
        data["approximate_member_count"] = member_count
    if metadata:
        data.update(
            uses=invite.uses,
            max_uses=invite.max_uses,
            max_age=invite.max_age,
            temporary=invite.temporary,
            created_at=iso(invite.created_at),
            revoked=invite.revoked_at is not None,
        )
    return data
