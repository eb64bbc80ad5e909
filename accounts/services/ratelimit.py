"""Rate limits and lockout for the authentication endpoints (and the few other doors that take
a secret or create something for a stranger), kept in Django's cache.

Two counters guard every auth action: one per client address and one per account, each a fixed
window, kept by the node's one limiter (united/ratelimit.py). The address is
`united.clientaddr.client_address`: the socket peer, or what a trusted proxy says, never a
header any client can set. An attempt refused by either window
costs nothing in the other, so the announced wait is the real one. Failed sign-ins
additionally feed a per-account lockout with exponential back-off: after `FREE_FAILURES`
misses, each further miss doubles the wait (capped at an hour); a success clears it. The
lockout is checked before the windows, since its wait is the longer one. Cache keys hold a
keyed digest of the address, never the address itself.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from united.clientaddr import client_address
from united.errors import RateLimited
from united.ratelimit import Bucket, consume

# action: (per address, per account, window seconds)
LIMITS: dict[str, tuple[int, int, int]] = {
    "register": (10, 10, 3600),
    "login": (30, 10, 60),
    "second_factor": (30, 10, 60),
    "refresh": (60, 30, 60),
    "challenge": (30, 10, 60),
    "recovery": (10, 5, 3600),
    "password": (10, 5, 600),
    "two_factor_setup": (30, 10, 600),
    "keys": (120, 60, 60),
    "passkey": (30, 20, 60),
    "account": (20, 10, 600),
    # Doors that create something a stranger sees (a membership, a report, a DM request).
    "invite_join": (60, 20, 600),
    "report": (30, 10, 600),
    "dm_request": (60, 30, 600),
}

FREE_FAILURES = 5
BACKOFF_BASE = 30
BACKOFF_CAP = 3600
FAILURE_MEMORY = 24 * 3600


def _digest(value: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, value.lower().encode(), hashlib.sha256).hexdigest()[:32]


def limit(action: str, request: HttpRequest | None, account: str | int | None = None) -> None:
    """Count one attempt at `action`; raise RateLimited (429) when a window is full."""
    per_ip, per_account, window = LIMITS[action]
    buckets = []
    ip = client_address(request)
    if ip:
        key = f"auth:{action}:ip:{_digest(ip)}"
        buckets.append(Bucket(f"auth.{action}.ip", key, per_ip, window, False))
    if account not in (None, ""):
        key = f"auth:{action}:acct:{_digest(str(account))}"
        buckets.append(Bucket(f"auth.{action}.account", key, per_account, window, False))
    consume(buckets)


def _lock_keys(account: str) -> tuple[str, str]:
    d = _digest(account)
    return f"auth:fail:{d}", f"auth:lock:{d}"


def check_lockout(account: str) -> None:
    _, lock_key = _lock_keys(account)
    until = cache.get(lock_key)
    if until is not None and until > time.time():
        raise RateLimited(
            "Too many failed attempts; try again later", retry_after=until - time.time()
        )


def record_failure(account: str) -> None:
    fail_key, lock_key = _lock_keys(account)
    cache.add(fail_key, 0, FAILURE_MEMORY)
    try:
        failures = cache.incr(fail_key)
    except ValueError:
        cache.set(fail_key, 1, FAILURE_MEMORY)
        failures = 1
    if failures >= FREE_FAILURES:
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - FREE_FAILURES))
        cache.set(lock_key, time.time() + delay, delay)


def record_success(account: str) -> None:
    cache.delete_many(list(_lock_keys(account)))
