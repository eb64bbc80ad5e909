"""What inbox work may cost the node: rate limits per peer and a share of the process's time.

Two limits guard the inbox doors (UNITED_RATE_LIMITS, counted by the node's one limiter,
united/ratelimit.py): `inbox.address` per client address, checked before anything else so a
flood of forged requests costs one cache lookup each once its budget is spent; `inbox.domain`
per verified signing domain, checked after the signature, so a forger cannot spend an honest
peer's budget. A refused request answers 429 with `Retry-After` (the end of the window that
refused, rounded up) and is stored nowhere, not even as an InboxRejection: recording each one
would be the very write a flood wants from us.

Members share the process with inbox work: the web process checks and stores every delivery,
and in embedded mode the job runner's thread applies them too. Python runs one thread at a
time, so a flood handled by many threads at once leaves a member's request a thin slice of
the interpreter (measured before this gate: a member's p99 went from 13 ms to 436 ms under 600
Follows in 43 s). `share()` lets one piece of inbox work run at a time in a process and keeps
the next one waiting until the slot has been idle for `(1 - share) / share` times as long as
the last piece took, so inbox work takes at most that share of the process's time whatever
the flood (UNITED_INBOX_SHARE, 25 % by default). Waiting threads sleep on a lock and cost no
interpreter time. A request that cannot get the slot within WAIT seconds answers 503 with
`Retry-After`, which a peer's delivery retries.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

from united.errors import RateLimited
from united.ratelimit import Bucket, consume


def share_of_time() -> float:
    """The fraction of the process's time inbox work may take (UNITED_INBOX_SHARE, percent).
    25 % by default: at 50 % a member's p99 during a 600-Follow flood was 3.4× its p99 at rest,
    at 25 % 1.8–1.9× (bench/inbox_flood.py, docs/performance.md), for about 20 instead of 30
    activities a second per process while the flood lasts."""
    return max(5, min(100, int(getattr(settings, "UNITED_INBOX_SHARE", 25)))) / 100


# How long a request waits for the slot before it is told to come back.
WAIT = 10.0
BUSY_RETRY_AFTER = 5

_slot = threading.Lock()
_next_start = 0.0


class Busy(Exception):
    """The inbox slot stayed taken for WAIT seconds."""


def _digest(value: str) -> str:
    # Cache keys never hold an address (docs/security.md, "IP addresses kept").
    return hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def _bucket(name: str, subject: str) -> list[Bucket]:
    spec = getattr(settings, "UNITED_RATE_LIMITS", {}).get(name)
    if not spec:
        return []
    count, window = int(spec[0]), float(spec[1])
    return [Bucket(name, f"{name}:{_digest(subject.lower())}", count, window, False)]


def limit_address(address: str | None) -> None:
    """Spend one inbox request of this client address, or raise RateLimited."""
    if address:
        consume(_bucket("inbox.address", address))


def limit_domain(domain: str) -> None:
    """Spend one verified delivery of this signing domain, or raise RateLimited."""
    consume(_bucket("inbox.domain", domain))


def rate_limit_headers(exc: RateLimited) -> dict[str, str]:
    # A peer's budget is shared by all its actors: Discord's name for that scope is "shared".
    return {**exc.headers(), "X-RateLimit-Scope": "shared"}


def in_use() -> bool:
    """True while some inbox work holds the slot."""
    return _slot.locked()


@contextmanager
def share(*, patient: bool = False) -> Iterator[None]:
    """Run the block as inbox work: one at a time, at most its share of the process's time.

    A request raises Busy after WAIT seconds; the job runner (`patient`) waits its turn.
    """
    global _next_start
    if not _slot.acquire(timeout=-1 if patient else WAIT):
        raise Busy()
    try:
        idle = _next_start - time.monotonic()
        if idle > 0:
            time.sleep(idle)
        started = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - started
            share = share_of_time()
            _next_start = time.monotonic() + took * (1 - share) / share
    finally:
        _slot.release()
