"""The gateway's send door: a message sent as a frame on the member's socket.

    client → {"op": 40, "d": {"channel_id", "content", "nonce", "message_reference"?, "ttl"?}}
    server → {"op": 41, "d": {"nonce", "channel_id", "message": {...}}}          accepted
    server → {"op": 41, "d": {"nonce", "channel_id", "status": 403, "error": {code, message,
              errors}}}                                                            refused

A POST to /channels/{id}/messages spends most of its time before our code runs (Django's
request cycle, middleware, DRF, reading the token, the member, the guild and its roles:
docs/performance.md). The socket is already authenticated, and the process's hub already holds
every connected member's permission bits per channel and the guild's moderation gate, so this
door asks the same `check_send_message` with those in hand: what is checked is the same, only
where it is read from differs. The write itself runs on the hub's one writer thread.

The nonce is required here (1 to 64 characters): it is how the answer finds its message, and
it makes a retry safe: a client that lost its socket before the answer sends again (here or
over REST) with the same nonce and gets the first message back, never a second one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from messaging import gateway
from messaging.services.messages import MAX_NONCE, check_send_message
from messaging.services.serialize import serialize_message
from united import errors
from united.errors import APIError, Invalid
from united.ids import parse_snowflake

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendRequest:
    channel_id: int
    nonce: str
    content: Any
    reply_to: Any
    ttl: Any


def _nonce_of(d: Any) -> Any:
    nonce = d.get("nonce") if isinstance(d, dict) else None
    return nonce if isinstance(nonce, str | int) and not isinstance(nonce, bool) else None


def parse(d: Any) -> SendRequest:
    """The frame's payload, or Invalid (answered, the socket stays open)."""
    if not isinstance(d, dict):
        raise Invalid(errors={"d": ["An object."]})
    problems: dict[str, list[str]] = {}
    channel_id = parse_snowflake(d.get("channel_id"))
    if channel_id is None:
        problems["channel_id"] = ["A channel id."]
    nonce = d.get("nonce")
    if not isinstance(nonce, str) or not 1 <= len(nonce) <= MAX_NONCE:
        problems["nonce"] = [f"Required here: 1 to {MAX_NONCE} characters."]
    reference = d.get("message_reference")
    reply_to = reference.get("message_id") if isinstance(reference, dict) else None
    if reference is not None and reply_to is None:
        problems["message_reference"] = ["An object with a message_id."]
    if problems:
        raise Invalid(errors=problems)
    assert channel_id is not None and isinstance(nonce, str)
    return SendRequest(channel_id, nonce, d.get("content"), reply_to, d.get("ttl"))


def _frame(d: dict[str, Any]) -> str:
    return json.dumps({"op": gateway.SEND_RESULT, "d": d, "s": None, "t": None})


def refused(d: Any, error: APIError) -> str:
    """The answer to a send that was refused: the API's error shape and its HTTP status."""
    nonce = _nonce_of(d)
    raw_channel = d.get("channel_id") if isinstance(d, dict) else None
    channel_id = str(raw_channel) if isinstance(raw_channel, str | int) else None
    return _frame(
        {
            "nonce": nonce,
            "channel_id": channel_id,
            "status": error.status,
            "error": error.body(),
        }
    )


def unavailable(request: SendRequest) -> str:
    """A failure that is not the client's: it may send again with the same nonce."""
    error = errors.ServiceUnavailable("The message could not be stored now; send it again")
    return refused({"nonce": request.nonce, "channel_id": str(request.channel_id)}, error)


def write(user: Any, request: SendRequest, access: Any = None, gate: Any = None) -> str:
    """On the hub's writer thread: send through the service, answer with the frame.

    `access` and `gate` come from the hub's memory; None makes the service read them (a DM,
    whose plaintext it refuses, or a channel this process holds nothing about)."""
    from django.db import DatabaseError

    try:
        message, _created = check_send_message(
            user,
            request.channel_id,
            content=request.content,
            nonce=request.nonce,
            reply_to=request.reply_to,
            ttl_seconds=request.ttl,
            access=access,
            gate=gate,
        )
    except APIError as error:
        return refused({"nonce": request.nonce, "channel_id": str(request.channel_id)}, error)
    except DatabaseError as error:
        if not errors.is_outage(error):
            raise  # the hub reopens the connection and tries once more
        return unavailable(request)
    return _frame(
        {
            "nonce": request.nonce,
            "channel_id": str(request.channel_id),
            "message": serialize_message(message),
        }
    )
