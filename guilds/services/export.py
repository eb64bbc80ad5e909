"""The guilds section of a member's account export (accounts.hooks.on_export)."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from guilds.models import Member


def export_memberships(user: User) -> list[dict[str, Any]]:
    """Every guild the member is in, with their nickname and roles (not other members')."""
    members = (
        Member.objects.filter(user=user)
        .select_related("guild")
        .prefetch_related("roles")
        .order_by("joined_at")
    )
    return [
        {
            "guild": {"id": str(m.guild_id), "name": m.guild.name},
            "owner": m.guild.owner_id == user.id,
            "nick": m.nick,
            "joined_at": m.joined_at.isoformat(),
            "temporary": m.temporary,
            "roles": [
                {"id": str(r.id), "name": r.name}
                for r in sorted(m.roles.all(), key=lambda r: (-r.position, r.id))
            ],
        }
        for m in members
    ]
