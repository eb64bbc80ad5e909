"""What every part of interactions shares: Discord's type numbers and limits, the token's
form, and the bot-facing shape of a message."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from bots import shapes
from messaging.models import Message
from messaging.services.serialize import serialize_message
from united.errors import Invalid, NotFound

PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# Callback types.
PONG = 1
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8
MODAL = 9
ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
    },
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {
        CHANNEL_MESSAGE,
        DEFERRED_CHANNEL_MESSAGE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
    },
}
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
SENDABLE_FLAGS = EPHEMERAL | SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS

RESPOND_WITHIN = 3.0  # seconds, Discord's
TOKEN_TTL = timedelta(minutes=15)  # Discord's
MAX_FOLLOWUPS = 25
MAX_OPTION_TEXT = 6000
# What an application's interactions endpoint may answer: a callback body, not a page.
MAX_ENDPOINT_ANSWER = 64 * 1024
ATTACHMENT_SIZE_LIMIT = 25 * 1024 * 1024
# Discord's interaction tokens begin with base64("interaction:"); so do ours, which keeps
# the follow-up routes (/webhooks/{app}/{token}) apart from incoming webhooks' tokens.
TOKEN_PREFIX = "aW50ZXJhY3Rpb246"

logger = logging.getLogger(__name__)

UNKNOWN_INTERACTION = 10062
ALREADY_ACKNOWLEDGED = 40060


def unknown_interaction() -> NotFound:
    return NotFound("Unknown interaction", code=UNKNOWN_INTERACTION)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _snowflake(value: Any, field: str) -> int:
    try:
        number = int(value)
        if not 0 < number < 2**63:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise Invalid(errors={field: ["Must be an id."]}) from None
    return number


def _plain(text: str, name: str) -> str:
    # PostgreSQL stores neither NUL nor a lone surrogate in JSON: refused, never a 500.
    if "\x00" in text or any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise Invalid(errors={name: ["Must be valid text without NUL."]})
    return text


def _bot_message(message: Message) -> dict[str, Any]:
    return shapes.message(
        serialize_message(Message.objects.select_related("author", "channel").get(id=message.id))
    )
