"""Unicode emoji reactions."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.services import serialize_user
from guilds.permissions import Permissions as P
from messaging.models import Message, Reaction
from messaging.ports import check_not_timed_out
from messaging.services.dms import broadcast_to_channel
from messaging.services.messages import access_message, unknown_message
from united import ratelimit
from united.errors import APIError, Invalid

UNKNOWN_EMOJI = 10014
MAX_EMOJI_CHARS = 32
_KEYCAP_BASES = set("0123456789#*")


def validate_emoji(raw: Any) -> str:
    """One Unicode emoji (sequences with skin tones, ZWJ, flags and keycaps included)."""
    if not isinstance(raw, str) or not 0 < len(raw) <= MAX_EMOJI_CHARS:
        raise APIError("Unknown emoji", code=UNKNOWN_EMOJI)
    emoji = unicodedata.normalize("NFC", raw)
    has_symbol = False
    for ch in emoji:
        category = unicodedata.category(ch)
        if category == "So":
            has_symbol = True
        elif ch in _KEYCAP_BASES and emoji.endswith("\u20e3"):
            has_symbol = True
        elif category not in {"Sk", "Mn", "Me", "Cf"}:
            raise APIError("Unknown emoji", code=UNKNOWN_EMOJI)
    if not has_symbol:
        raise APIError("Unknown emoji", code=UNKNOWN_EMOJI)
    return emoji


def _payload(message: Message, user_id: int, emoji: str) -> dict[str, Any]:
    return {
        "user_id": str(user_id),
        "message_id": str(message.id),
        "channel_id": str(message.channel_id),
        "guild_id": str(message.channel.guild_id) if message.channel.guild_id else None,
        "emoji": {"id": None, "name": emoji},
    }


def check_add_reaction(user, channel_id: int, message_id: int, emoji: Any) -> bool:
    emoji = validate_emoji(emoji)
    with transaction.atomic():
        access, message = access_message(user, channel_id, message_id)
        if message.deleted:
            raise unknown_message()
        check_not_timed_out(user, access.channel)
        exists = Reaction.objects.filter(message=message, emoji=emoji).exists()
        # Adding to an existing reaction only needs to read; a new emoji needs ADD_REACTIONS.
        if not exists:
            access.require(P.ADD_REACTIONS)
        if Reaction.objects.filter(message=message, user=user, emoji=emoji).exists():
            return False  # already reacted: PUT is idempotent, and spends nothing
        ratelimit.limit_user("reaction", user.id, channel_id=access.channel.id)
        return do_add_reaction(message, user, emoji, actor=user)


def do_add_reaction(message: Message, user: User, emoji: str, *, actor: User | None) -> bool:
    """`user` reacts with `emoji` (already validated); False if they already had. `actor` is
    who made the change: the user themselves, or None when another node's guild did (a
    mirrored reaction), so the event is the same either way and only its origin differs."""
    try:
        with transaction.atomic():
            Reaction.objects.create(message=message, user=user, emoji=emoji)
    except IntegrityError:
        return False  # already reacted: PUT is idempotent
    payload = _payload(message, user.id, emoji)
    payload["member"] = {"user": serialize_user(user)}
    broadcast_to_channel(message.channel, "MESSAGE_REACTION_ADD", payload, actor=actor)
    return True


def check_remove_reaction(
    user, channel_id: int, message_id: int, emoji: Any, target_user_id: int | None = None
) -> bool:
    emoji = validate_emoji(emoji)
    with transaction.atomic():
        access, message = access_message(user, channel_id, message_id)
        target = user.id if target_user_id is None else int(target_user_id)
        if target != user.id:
            access.require(P.MANAGE_MESSAGES)
        return do_remove_reaction(message, target, emoji, actor=user)


def do_remove_reaction(message: Message, user_id: int, emoji: str, *, actor: User | None) -> bool:
    """Remove `user_id`'s `emoji` reaction; False if there was none. `actor` as in
    do_add_reaction (a moderator removing someone else's, or None for a mirrored change)."""
    deleted, _ = Reaction.objects.filter(message=message, user_id=user_id, emoji=emoji).delete()
    if not deleted:
        return False
    broadcast_to_channel(
        message.channel, "MESSAGE_REACTION_REMOVE", _payload(message, user_id, emoji), actor=actor
    )
    return True


def reactors(
    user, channel_id: int, message_id: int, emoji: Any, limit: Any = 25
) -> list[dict[str, Any]]:
    emoji = validate_emoji(emoji)
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise Invalid(errors={"limit": ["Must be a number."]}) from None
    if not 1 <= limit <= 100:
        raise Invalid(errors={"limit": ["From 1 to 100."]})
    _, message = access_message(user, channel_id, message_id)
    rows = Reaction.objects.filter(message=message, emoji=emoji).select_related("user")
    return [serialize_user(r.user) for r in rows.order_by("id")[:limit]]
