"""Rate limits on what a member does, kept in Django's cache.

The cache is in-process in embedded mode (one process) and Redis in production, so every web
process, the gateway and the federation inbox of a node count into the same buckets. The
domain services call `limit_user()` from their `check_*` functions: a message sent over REST,
over the gateway or applied from a member's own node (keyed on that member's account here)
spends the same allowance.

Each action has up to two buckets, both fixed windows aligned on the clock: one per user per
channel (`<action>.channel`) and one per user across the whole node (`<action>.user`, reported
as `global`). An attempt is counted only when every bucket has room, so an attempt that was
refused spends nothing, and the announced wait is exact: at `Retry-After` the window that
refused has ended and no other bucket of the user has moved since. Counts and windows come from
`settings.UNITED_RATE_LIMITS` (UNITED_RATE_LIMITS, see united/config.py).

With Redis out of reach the cache raises (redis ConnectionError or TimeoutError, after at most
2 s): the `check_*` functions call `limit_user()` before they write, inside their transaction,
so the request answers 503 (united.errors.is_outage) and nothing is stored. Never spend an
allowance after a commit, where a Redis failure would turn a stored change into an error.

The authentication limits (per address and per account, with lockout) are
`accounts.services.ratelimit`; they count through `consume()` below.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from united.errors import RateLimited


def _system_time() -> float:
    return time.time()  # looked up at each call, so a test that freezes time.time is obeyed


# The limiter's clock; a test may replace it to step time exactly (the windows follow it).
clock: Callable[[], float] = _system_time

RATE_LIMITED_MESSAGE = "You are being rate limited."


@dataclass(frozen=True)
class Bucket:
    name: str  # the configured limit, e.g. "message.channel"
    key: str  # what is counted: the limit plus the user (and channel)
    limit: int
    window: float
    is_global: bool

    def slot(self, now: float) -> tuple[str, float]:
        """The cache key of the current window and the time that window ends."""
        index = math.floor(now / self.window)
        return f"rl:{self.key}:{index}", (index + 1) * self.window

    @property
    def public_id(self) -> str:
        # Discord's X-RateLimit-Bucket: an opaque name for the bucket, never the user id.
        return hashlib.sha256(self.name.encode()).hexdigest()[:16]


def _configured(name: str) -> tuple[int, float] | None:
    spec = getattr(settings, "UNITED_RATE_LIMITS", {}).get(name)
    return (int(spec[0]), float(spec[1])) if spec else None


def buckets_for(action: str, user_id: int, channel_id: int | None = None) -> list[Bucket]:
    found: list[Bucket] = []
    if channel_id is not None and (spec := _configured(f"{action}.channel")):
        found.append(
            Bucket(f"{action}.channel", f"{action}.c:{user_id}:{channel_id}", *spec, False)
        )
    if spec := _configured(f"{action}.user"):
        found.append(Bucket(f"{action}.user", f"{action}.u:{user_id}", *spec, True))
    if spec := _configured(action):
        found.append(Bucket(action, f"{action}:{user_id}", *spec, False))
    return found


def limit_user(action: str, user_id: int, *, channel_id: int | None = None) -> None:
    """Spend one `action` of `user_id` (in `channel_id`), or raise RateLimited (429)."""
    consume(buckets_for(action, user_id, channel_id))


def consume(buckets: list[Bucket]) -> None:
    if not buckets:
        return
    now = clock()
    slots = [b.slot(now) for b in buckets]
    counts = cache.get_many([key for key, _ in slots])
    full = [
        (b, end)
        for b, (key, end) in zip(buckets, slots, strict=True)
        if counts.get(key, 0) >= b.limit
    ]
    if full:
        raise _refusal(full, now)
    spent: list[tuple[Bucket, str, float]] = []
    for bucket, (key, end) in zip(buckets, slots, strict=True):
        spent.append((bucket, key, end))
        if count(key, bucket.window) > bucket.limit:
            # Another request took the last place between our read and our write: give back
            # what this refused attempt took, so it costs nothing, as promised above.
            for _, taken, _ in spent:
                _give_back(taken)
            raise _refusal([(bucket, end)], now)


def count(key: str, window: float) -> int:
    """Add one to the counter `key`, which outlives its window by a margin (the key names its
    window, so a later window never reads it; a counter expiring early would reopen one)."""
    ttl = int(math.ceil(max(2 * window, window + 60)))
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, ttl)
        return 1


def _give_back(key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:
        pass


def _refusal(full: list[tuple[Bucket, float]], now: float) -> RateLimited:
    # When several buckets are full the caller must wait for the last of them to reopen.
    bucket, end = max(full, key=lambda item: item[1])
    return RateLimited(
        RATE_LIMITED_MESSAGE,
        retry_after=end - now,
        is_global=bucket.is_global,
        limit=bucket.limit,
        reset_at=end,
        bucket=bucket.public_id,
    )


@dataclass(frozen=True)
class Standing:
    """Where a user stands in the tightest bucket of an action: Discord's X-RateLimit-*
    headers on a successful response (the Discord-compatible bot API sends them)."""

    limit: int
    remaining: int
    reset_at: float
    reset_after: float
    bucket: str

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": f"{self.reset_at:.3f}",
            "X-RateLimit-Reset-After": f"{max(0.0, self.reset_after):.3f}",
            "X-RateLimit-Bucket": self.bucket,
        }


def standing(action: str, user_id: int, *, channel_id: int | None = None) -> Standing | None:
    """Read-only: spends nothing. None when the action has no configured limit."""
    return standing_of(buckets_for(action, user_id, channel_id))


def standing_of(buckets: list[Bucket]) -> Standing | None:
    """`standing` for buckets a caller built itself (a webhook's, bots/webhooks.py)."""
    if not buckets:
        return None
    now = clock()
    slots = [b.slot(now) for b in buckets]
    counts = cache.get_many([key for key, _ in slots])
    rows = [
        (max(0, b.limit - counts.get(key, 0)), end, b)
        for b, (key, end) in zip(buckets, slots, strict=True)
    ]
    remaining, end, bucket = min(rows, key=lambda row: (row[0], -row[1]))
    return Standing(bucket.limit, remaining, end, end - now, bucket.public_id)
