"""Discord-shaped message JSON (ids as strings), plus our `hlc`, `content_html`, `deleted`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db.models import Prefetch, prefetch_related_objects

from accounts.services import serialize_user
from media.models import Attachment
from media.services import serialize_attachment
from messaging.models import Message


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None


def _related(message: Message, name: str) -> list[Any]:
    """`message.<name>.all()`, from what `prefetched` read for a whole page when it did."""
    rows = getattr(message, f"prefetched_{name}", None)
    return rows if rows is not None else list(getattr(message, name).all())


def reaction_summary(message: Message, viewer_id: int | None = None) -> list[dict[str, Any]]:
    rows = _related(message, "reactions")
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
        "mentions": [serialize_user(u) for u in _related(message, "mentions")],
        "mention_roles": [str(r.id) for r in _related(message, "mention_roles")],
        "pinned": message.pinned,
        "nonce": message.nonce,
        "reactions": reaction_summary(message, viewer_id),
        "attachments": [serialize_attachment(a) for a in _related(message, "attachments")],
        "hlc": Stamp.unpack(message.hlc, message.hlc_node).encode(),
        "deleted": message.deleted,
        "expires_at": _iso(message.expires_at),
        "embeds": message.embeds,
        "components": message.components,
        "flags": message.flags,
    }
    if message.webhook_id:
        data["webhook_id"] = str(message.webhook_id)
        persona = message.persona or {}
        data["author"] = {
            "id": str(message.webhook_id),
            "username": persona.get("username", "Webhook"),
            "global_name": None,
            "avatar": persona.get("avatar_url"),
            "bot": True,
        }
    if message.application_id:
        data["application_id"] = str(message.application_id)
    if message.interaction:
        data["interaction_metadata"] = message.interaction
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
        data["reactions"] = data["attachments"] = data["embeds"] = data["components"] = []
    return data


def _page_prefetches() -> tuple[Prefetch, ...]:
    return (
        Prefetch("reactions", to_attr="prefetched_reactions"),
        Prefetch("mentions", to_attr="prefetched_mentions"),
        Prefetch("mention_roles", to_attr="prefetched_mention_roles"),
        Prefetch(
            "attachments",
            queryset=Attachment.objects.prefetch_related("thumbnails"),
            to_attr="prefetched_attachments",
        ),
    )


def prepare_page(messages: list[Message], channel: Any) -> list[Message]:
    """Make a page of one channel's messages ready for `serialize_message` in six statements.

    Cheaper than `prefetched` for a page: every message shares the one channel row and one
    row per distinct author (a page of 100 messages has a handful of authors), instead of a
    channel and an author object built per row by a join."""
    from accounts.models import User

    authors = User.objects.in_bulk({m.author_id for m in messages if m.author_id})
    for message in messages:
        message.channel = channel
        if message.author_id:
            message.author = authors.get(message.author_id)
    prefetch_related_objects(messages, *_page_prefetches())
    return messages


def prefetched(queryset):
    """What `serialize_message` reads, in five statements for a whole page. Into plain lists
    (`to_attr`): filling each message's related managers instead built a queryset per message
    per relation, 61 % of a 100-message history page's time (docs/performance.md)."""
    return queryset.select_related("author", "channel").prefetch_related(*_page_prefetches())
