"""Discord-shaped message JSON (ids as strings), plus our `hlc`, `content_html`, `deleted`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from accounts.services import serialize_user
from media.services import serialize_attachment
from messaging.models import Message


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def reaction_summary(message: Message, viewer_id: int | None = None) -> list[dict[str, Any]]:
    rows = list(message.reactions.all())
    counts = Counter(r.emoji for r in rows)
    mine = {r.emoji for r in rows if r.user_id == viewer_id}
    order = list(dict.fromkeys(r.emoji for r in sorted(rows, key=lambda r: r.id)))
    out = []
    for emoji in order:
        item: dict[str, Any] = {"emoji": {"id": None, "name": emoji}, "count": counts[emoji]}
        if viewer_id is not None:
            item["me"] = emoji in mine
        out.append(item)
    return out


def serialize_message(message: Message, viewer_id: int | None = None) -> dict[str, Any]:
    from united.hlc import Stamp

    channel = message.channel
    guild_id = str(channel.guild_id) if channel.guild_id else None
    data: dict[str, Any] = {
        "id": str(message.id),
        "channel_id": str(message.channel_id),
        "guild_id": guild_id,
        "author": serialize_user(message.author) if message.author else None,
        "type": message.type,
        "content": message.content,
        "content_html": message.content_html,
        "timestamp": _iso(message.created_at),
        "edited_timestamp": _iso(message.edited_at),
        "tts": False,
        "mention_everyone": message.mention_everyone,
        "mentions": [serialize_user(u) for u in message.mentions.all()],
        "mention_roles": [str(r.id) for r in message.mention_roles.all()],
        "pinned": message.pinned,
        "nonce": message.nonce,
        "reactions": reaction_summary(message, viewer_id),
        "attachments": [serialize_attachment(a) for a in message.attachments.all()],
        "hlc": Stamp.unpack(message.hlc, message.hlc_node).encode(),
        "deleted": message.deleted,
        "expires_at": _iso(message.expires_at),
    }
    if message.reference_id:
        data["message_reference"] = {
            "message_id": str(message.reference_id),
            "channel_id": str(message.channel_id),
            "guild_id": guild_id,
        }
    if message.thread_id:
        data["thread"] = {"id": str(message.thread_id)}
    if message.deleted:
        data["content"] = data["content_html"] = ""
        data["reactions"] = data["attachments"] = []
    return data


def prefetched(queryset):
    return queryset.select_related("author", "channel").prefetch_related(
        "reactions", "mentions", "mention_roles", "attachments__thumbnails"
    )
