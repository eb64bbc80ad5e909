"""Gateway events: group names and the one way services publish them.

Every event a service publishes is `(group, t, d)`: `t` is a Discord-style event name
(`USER_UPDATE`, `MESSAGE_CREATE`, …) and `d` its documented payload (docs/gateway.md).
`broadcast()` defers the publish until the surrounding transaction commits, so a client never
hears of a change that was rolled back, and a consumer that reacts by reading the database
finds the row.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

DISPATCH = "gateway.dispatch"


def user_group(user_id: int) -> str:
    """Every gateway session of one user."""
    return f"user.{user_id}"


def guild_group(guild_id: int) -> str:
    """Every gateway session of a guild's members (events carry `guild_id`/`channel_id`;
    the consumer drops what the session may not see)."""
    return f"guild.{guild_id}"


def publish(group: str, t: str, d: dict[str, Any]) -> None:
    """Send now. Services call `broadcast()`; this is for code running after commit."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": DISPATCH, "t": t, "d": d})
    except Exception:
        # A realtime hiccup must not undo a committed write; RESUME replays what was missed.
        logger.warning("could not publish %s to %s", t, group, exc_info=True)


def broadcast(group: str, t: str, d: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish(group, t, d))
