"""Signed attachment links, as Discord's CDN hands them to bots: an absolute URL that reads
the file without an account, for a day (`ex`: expiry, `is`: issued, both hex Unix seconds;
`hm`: HMAC-SHA256 over the attachment id and both times, keyed from the node's secret).

A bot library fetches `attachment.url` with no Authorization header (discord.py's
`Attachment.read()`, discord.js's `fetch(attachment.url)`), so what the bot API answers carries
links signed here; the web client and the native API keep their plain, session-checked paths.
Whoever holds a link reads that one file until it expires, as on Discord; a deleted
attachment is gone at once (its row is).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac

TTL_SECONDS = 24 * 3600
SALT = "media.links.signed-attachment"


def _mac(attachment_id: int, ex: str, issued: str, what: str) -> str:
    return salted_hmac(
        SALT, f"{attachment_id}:{what}:{ex}:{issued}", algorithm="sha256"
    ).hexdigest()


def signed_path(attachment_id: int, what: str = "content", now: float | None = None) -> str:
    """`what`: "content", or "thumbnails/<size>"."""
    issued = int(time.time() if now is None else now)
    ex, at = format(issued + TTL_SECONDS, "x"), format(issued, "x")
    mac = _mac(attachment_id, ex, at, what)
    return f"/api/v1/attachments/{attachment_id}/{what}?ex={ex}&is={at}&hm={mac}"


def signed_url(
    attachment_id: int, what: str = "content", *, base: str | None = None, now: float | None = None
) -> str:
    """`base`: the origin the caller reached the node at (a request's); the node's public
    origin (FEDERATION_SCHEME://FEDERATION_DOMAIN) when there is none, as for the gateway."""
    origin = base or f"{settings.FEDERATION_SCHEME}://{settings.FEDERATION_DOMAIN}"
    return origin.rstrip("/") + signed_path(attachment_id, what, now)


def valid(
    attachment_id: int, what: str, query: Mapping[str, Any], now: float | None = None
) -> bool:
    """True for an unexpired link signed for this attachment and `what`."""
    ex, at, mac = (str(query.get(k, "")) for k in ("ex", "is", "hm"))
    if not (ex and at and mac) or len(ex) > 16 or len(at) > 16:
        return False
    try:
        expires = int(ex, 16)
    except ValueError:
        return False
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(mac, _mac(attachment_id, ex, at, what))
