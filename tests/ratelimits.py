"""Forget the rate-limit counters (accounts/services/ratelimit.py) between tests."""

from __future__ import annotations


def reset() -> None:
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    cache = caches["default"]
    if isinstance(cache, LocMemCache):
        cache.clear()
        return
    client = cache._cache.get_client(write=True)  # RedisCache: only the counters, not jobs
    # Lockouts are `auth:*`; every window (united/ratelimit.py) is `rl:*`.
    keys = [*client.scan_iter(cache.make_key("auth:*")), *client.scan_iter(cache.make_key("rl:*"))]
    if keys:
        client.delete(*keys)
