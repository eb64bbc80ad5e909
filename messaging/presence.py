"""Presence: who is online, across every tab and every web process.

Each gateway connection registers itself with an expiry two heartbeats ahead and refreshes it
on every heartbeat. A user is online while any registration is live; a crashed process's
registrations simply expire and the periodic sweep announces those users offline. In
production the registrations live in Redis (one sorted set per user, scored by expiry), so all
web processes agree; the embedded mode keeps them in memory (it has one process).

What others see is the status the user chose (online, idle, dnd) while connected, and
"offline" otherwise or when they chose "invisible". Guilds above LARGE_GUILD members get no
pushed presence changes (clients fetch the presences of members they display). Presence
events are ephemeral: never stored, never replayed (READY carries fresh ones).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.utils import timezone

from messaging.models import Presence
from united import events
from united.errors import Invalid

TTL_SECONDS = settings.GATEWAY_HEARTBEAT_INTERVAL_MS / 1000 * 2 + 5
# Like Discord's large_threshold: in bigger guilds a presence change is not pushed to every
# member (a connect storm would cost members² events); clients ask for the presences of the
# members they show (READY carries them only for small guilds).
LARGE_GUILD = 250
CUSTOM_STATUS_MAX = 128


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, dict[str, float]] = {}

    def _prune(self, user_id: int, now: float) -> dict[str, float]:
        conns = self._live.get(user_id, {})
        for conn, expires in list(conns.items()):
            if expires <= now:
                del conns[conn]
        return conns

    def connect(self, user_id: int, conn: str) -> bool:
        with self._lock:
            now = time.time()
            conns = self._prune(user_id, now)
            first = not conns
            conns[conn] = now + TTL_SECONDS
            self._live[user_id] = conns
            return first

    def touch(self, user_id: int, conn: str) -> None:
        with self._lock:
            self._live.setdefault(user_id, {})[conn] = time.time() + TTL_SECONDS

    def disconnect(self, user_id: int, conn: str) -> bool:
        with self._lock:
            conns = self._prune(user_id, time.time())
            conns.pop(conn, None)
            if not conns:
                self._live.pop(user_id, None)
                return True
            return False

    def online(self, user_ids: list[int]) -> set[int]:
        with self._lock:
            now = time.time()
            return {u for u in user_ids if self._prune(u, now)}

    def live_users(self) -> set[int]:
        """Every user with a live connection to this node (the member list asks which of a
        large guild's members are online: these are far fewer than its members)."""
        with self._lock:
            now = time.time()
            return {u for u in list(self._live) if self._prune(u, now)}

    def expired(self) -> list[int]:
        with self._lock:
            now = time.time()
            gone = [u for u in list(self._live) if not self._prune(u, now)]
            for u in gone:
                self._live.pop(u, None)
            return gone


class RedisStore:
    USERS = "united:presence:users"

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    @staticmethod
    def _key(user_id: int) -> str:
        return f"united:presence:{user_id}"

    def connect(self, user_id: int, conn: str) -> bool:
        now = time.time()
        key = self._key(user_id)
        pipe = self._redis.pipeline()
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        pipe.zadd(key, {conn: now + TTL_SECONDS})
        pipe.expire(key, int(TTL_SECONDS) + 60)
        pipe.sadd(self.USERS, user_id)
        _, before, *_ = pipe.execute()
        return before == 0

    def touch(self, user_id: int, conn: str) -> None:
        pipe = self._redis.pipeline()
        pipe.zadd(self._key(user_id), {conn: time.time() + TTL_SECONDS})
        pipe.expire(self._key(user_id), int(TTL_SECONDS) + 60)
        pipe.sadd(self.USERS, user_id)
        pipe.execute()

    def disconnect(self, user_id: int, conn: str) -> bool:
        key = self._key(user_id)
        pipe = self._redis.pipeline()
        pipe.zrem(key, conn)
        pipe.zremrangebyscore(key, "-inf", time.time())
        pipe.zcard(key)
        *_, left = pipe.execute()
        return left == 0

    def online(self, user_ids: list[int]) -> set[int]:
        now = time.time()
        pipe = self._redis.pipeline()
        for u in user_ids:
            pipe.zcount(self._key(u), now, "+inf")
        return {u for u, n in zip(user_ids, pipe.execute(), strict=True) if n}

    def live_users(self) -> set[int]:
        return self.online([int(raw) for raw in self._redis.smembers(self.USERS)])

    def expired(self) -> list[int]:
        now = time.time()
        gone = []
        for raw in self._redis.smembers(self.USERS):
            user_id = int(raw)
            key = self._key(user_id)
            self._redis.zremrangebyscore(key, "-inf", now)
            if not self._redis.zcard(key):
                # Only the process that removes the user from the set announces it.
                if self._redis.srem(self.USERS, user_id):
                    gone.append(user_id)
        return gone


_store: MemoryStore | RedisStore | None = None


def store() -> MemoryStore | RedisStore:
    global _store
    if _store is None:
        url = settings.CONFIG.redis_url
        _store = RedisStore(url) if url else MemoryStore()
    return _store


def chosen(user) -> Presence:
    return Presence.objects.filter(user=user).first() or Presence(user=user)


def shown_status(presence: Presence, live: bool) -> str:
    if not live or presence.status == "invisible":
        return "offline"
    return presence.status


def payload(user, presence: Presence, live: bool, guild_id: int | None = None) -> dict[str, Any]:
    status = shown_status(presence, live)
    activities = []
    if presence.custom_status and status != "offline":
        activities.append({"type": 4, "name": "Custom Status", "state": presence.custom_status})
    data: dict[str, Any] = {
        "user": {"id": str(user.id)},
        "status": status,
        "activities": activities,
        "client_status": {"web": status} if status != "offline" else {},
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    return data


def announce(user, live: bool) -> None:
    """PRESENCE_UPDATE to every guild the user is in and to their own sessions."""
    from django.db.models import Count

    from guilds.models import Member

    presence = chosen(user)
    guild_ids = Member.objects.filter(user=user).values_list("guild_id", flat=True)
    small = (
        Member.objects.filter(guild_id__in=list(guild_ids))
        .values("guild_id")
        .annotate(n=Count("id"))
        .filter(n__lte=LARGE_GUILD)
        .values_list("guild_id", flat=True)
    )
    for guild_id in small:
        events.broadcast_ephemeral(
            events.guild_group(guild_id), "PRESENCE_UPDATE", payload(user, presence, live, guild_id)
        )
    events.broadcast_ephemeral(
        events.user_group(user.id), "PRESENCE_UPDATE", payload(user, presence, live)
    )


def connected(user, conn: str) -> None:
    if store().connect(user.id, conn):
        announce(user, True)


def heartbeat(user, conn: str) -> None:
    store().touch(user.id, conn)


def disconnected(user, conn: str) -> None:
    if store().disconnect(user.id, conn):
        announce(user, False)


def check_set_presence(user, d: dict[str, Any]) -> None:
    """Gateway op 3 / PATCH: the chosen status and custom status."""
    status = d.get("status", "online")
    if status not in Presence.STATUSES:
        raise Invalid(errors={"status": [f"One of {', '.join(Presence.STATUSES)}."]})
    custom = ""
    for activity in d.get("activities") or []:
        if isinstance(activity, dict) and activity.get("type") == 4:
            custom = str(activity.get("state") or "")[:CUSTOM_STATUS_MAX]
    Presence.objects.update_or_create(
        user=user,
        defaults={"status": status, "custom_status": custom, "updated_at": timezone.now()},
    )
    announce(user, True)


def guild_presences(user_ids: list[int]) -> list[dict[str, Any]]:
    """Presences of the given users who are online (for READY and member lists)."""
    from accounts.models import User

    live = store().online(user_ids)
    chosen_by_user = {p.user_id: p for p in Presence.objects.filter(user_id__in=live)}
    out = []
    for user in User.objects.filter(id__in=live):
        presence = chosen_by_user.get(user.id) or Presence(user=user)
        if shown_status(presence, True) != "offline":
            out.append(payload(user, presence, True))
    return out


def sweep() -> int:
    """Announce users whose every connection expired (their process died)."""
    from accounts.models import User

    gone = store().expired()
    for user in User.objects.filter(id__in=gone):
        announce(user, False)
    return len(gone)
