"""The messages section of a member's account export (accounts.hooks.on_export).

Only what the member wrote: content, channel and time of each message they authored that is
not deleted. Other members' messages (replies to theirs included) stay out, and end-to-end
encrypted DMs are not messages here at all (e2e/ holds their ciphertext only).
"""

from __future__ import annotations

from typing import Any

from accounts.models import User
from messaging.models import Message


def export_messages(user: User) -> list[dict[str, Any]]:
    rows = (
        Message.objects.filter(author=user, deleted_at__isnull=True)
        .select_related("channel", "channel__guild")
        .order_by("hlc", "id")
    )
    return [
        {
            "id": str(m.id),
            "channel": {
                "id": str(m.channel_id),
                "name": m.channel.name,
                "type": m.channel.type,
                "guild": (
                    {"id": str(m.channel.guild_id), "name": m.channel.guild.name}
                    if m.channel.guild is not None
                    else None
                ),
            },
            "content": m.content,
            "created_at": m.created_at.isoformat(),
            "edited_at": m.edited_at.isoformat() if m.edited_at else None,
            "reply_to": str(m.reference_id) if m.reference_id else None,
        }
        for m in rows.iterator(chunk_size=2000)
    ]
