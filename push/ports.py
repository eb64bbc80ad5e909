"""What push needs from an adapter: an outbound HTTP POST that refuses private addresses.

A push endpoint is a URL a browser handed us, so sending to it is a request the member chose
the target of. The node already has one guarded client for such URLs (federation's: every
address checked, the connection pinned to it, redirects re-checked, deadline and size caps);
federation registers it here in `FederationConfig.ready()` rather than push importing an
adapter. With none registered nothing is sent (the job fails and retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class TransportError(Exception):
    """The request was refused (private address, bad URL) or failed (network, timeout)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class SafePost(Protocol):
    def __call__(
        self, url: str, *, headers: dict[str, str], content: bytes, allow_private: Sequence[str]
    ) -> Answer:
        """POST without following redirects; `allow_private`: CIDRs reachable although not
        public. Raises TransportError."""


_post: SafePost | None = None


def register_safe_post(impl: SafePost | None) -> None:
    global _post
    _post = impl


def safe_post(
    url: str, *, headers: dict[str, str], content: bytes, allow_private: Sequence[str]
) -> Answer:
    if _post is None:
        raise TransportError("no_transport", "no outbound HTTP client is registered")
    return _post(url, headers=headers, content=content, allow_private=allow_private)
