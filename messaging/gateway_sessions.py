"""Where a gateway session's RESUME state lives: which event went out under which sequence
number, and when the session last reported in.

Every web process must reach it (a client that reconnects after its process died resumes on
another one), and it sits on the delivery path, so it is not the database: it is Redis in
production and the process's memory in the embedded mode (one process; a restarted embedded
node answers RESUME with INVALID_SESSION and the client identifies again).

Pairs are recorded before the frames leave (the hub awaits `record` first), so a process killed
mid-delivery has recorded at least what the client received: RESUME replays exactly what came
after the client's sequence number, never an event the client confirms having.

A session has one owner, the socket that identified or last resumed it. Each socket records
into a list of its own, and RESUME copies the confirmed prefix into the new socket's list and
makes it the owner, so a socket of the same session that is not yet known to be dead (its
process overloaded, its close not yet seen) can go on recording without muddling the numbers
the next RESUME reads.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# How many (seq, event id) pairs a session remembers: RESUME works from any of them.
SENT_BUFFER = 2000
# A session can be resumed this long after its socket last reported in.
RESUME_WINDOW_SECONDS = 300


@dataclass
class SessionState:
    session_id: str
    user_id: int
    started_at: float
    owner: str = ""  # the socket (consumer conn_id) whose numbers count
    updated_at: float = field(default_factory=time.time)
    connected: bool = True
    sent: list[tuple[int, int]] = field(default_factory=list)  # (seq, event id), oldest first

    def resumable(self, now: float | None = None) -> bool:
        return self.connected or (now or time.time()) - self.updated_at <= RESUME_WINDOW_SECONDS


class MemoryStore:
    """The embedded mode's store: the live objects themselves."""

    def __init__(self) -> None:
        self._states: dict[str, SessionState] = {}
        self._pruned_at = 0.0

    async def create(self, state: SessionState) -> None:
        if time.time() - self._pruned_at > 60:
            self._prune()
        self._states[state.session_id] = state

    async def record(self, pairs: dict[tuple[str, str], list[tuple[int, int]]]) -> None:
        for (session_id, conn_id), new in pairs.items():
            state = self._states.get(session_id)
            if state is not None and state.owner == conn_id:
                state.sent.extend(new)
                if len(state.sent) > SENT_BUFFER * 2:
                    del state.sent[:-SENT_BUFFER]

    async def take_over(self, session_id: str, conn_id: str, kept: list[tuple[int, int]]) -> None:
        state = self._states.get(session_id)
        if state is not None:
            state.owner, state.sent = conn_id, list(kept)
            state.updated_at, state.connected = time.time(), True

    async def touch(self, session_id: str, *, connected: bool, conn_id: str = "") -> None:
        state = self._states.get(session_id)
        if state is not None and (not conn_id or state.owner == conn_id):
            state.updated_at, state.connected = time.time(), connected

    async def load(self, session_id: str) -> SessionState | None:
        state = self._states.get(session_id)
        if state is not None:
            state.sent = state.sent[-SENT_BUFFER:]
        return state

    def _prune(self) -> None:
        now = self._pruned_at = time.time()
        for session_id in [s for s, state in self._states.items() if not state.resumable(now)]:
            del self._states[session_id]


# Redis connections per web process for the session store, and how long an operation may wait
# for one before it counts as Redis being unreachable (logged, the write dropped).
STORE_CONNECTIONS = 32
STORE_WAIT = 10.0


class RedisStore:
    """Production: one hash and one list per session, expiring with the resume window.

    While Redis is unreachable (a restart, a failover) the gateway keeps delivering: a failed
    write is logged and dropped, and a failed read answers "unknown session". What that costs
    is exactness of a later RESUME (it may replay an event the client had, or the client
    identifies again), never a live socket's events.
    """

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._url = url
        self._clients: dict[int, Any] = {}

        def factory(url: str) -> Any:
            # A connection pool that makes a caller wait for a free connection: redis-py's
            # default pool raises "Too many connections" past 100 at once, which a wave of a
            # thousand IDENTIFYs reached, so their sessions went unrecorded and their RESUMEs
            # were refused (the reconnect storm's "refused" clients, docs/performance.md).
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=STORE_CONNECTIONS, timeout=STORE_WAIT
            )
            return aioredis.Redis(connection_pool=pool)

        self._factory = factory

    @property
    def _redis(self) -> Any:
        # redis.asyncio clients belong to one event loop; tests run several loops in turn.
        import asyncio

        loop = asyncio.get_running_loop()
        client = self._clients.get(id(loop))
        if client is None:
            client = self._clients[id(loop)] = self._factory(self._url)
        return client

    @staticmethod
    def _keys(session_id: str, owner: str = "") -> tuple[str, str]:
        return f"united:gws:{session_id}", f"united:gwp:{session_id}:{owner}"

    async def create(self, state: SessionState) -> None:
        meta, _pairs = self._keys(state.session_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(
            meta,
            mapping={
                "user": state.user_id,
                "started": state.started_at,
                "updated": state.updated_at,
                "connected": 1,
                "owner": state.owner,
            },
        )
        pipe.expire(meta, RESUME_WINDOW_SECONDS * 2)
        await self._execute(pipe)

    async def take_over(self, session_id: str, conn_id: str, kept: list[tuple[int, int]]) -> None:
        meta, key = self._keys(session_id, conn_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(key)
        if kept:
            pipe.rpush(key, *(f"{seq}:{event_id}" for seq, event_id in kept))
        pipe.expire(key, RESUME_WINDOW_SECONDS * 2)
        pipe.hset(meta, mapping={"owner": conn_id, "updated": time.time(), "connected": 1})
        pipe.expire(meta, RESUME_WINDOW_SECONDS * 2)
        await self._execute(pipe)

    async def _execute(self, pipe: Any) -> list[Any] | None:
        try:
            return await pipe.execute()
        except (OSError, ConnectionError, RedisError) as exc:
            logger.warning("gateway session store unreachable: %s", exc)
            return None

    async def record(self, pairs: dict[tuple[str, str], list[tuple[int, int]]]) -> None:
        if not pairs:
            return
        pipe = self._redis.pipeline(transaction=False)
        for (session_id, conn_id), new in pairs.items():
            _meta, key = self._keys(session_id, conn_id)
            pipe.rpush(key, *(f"{seq}:{event_id}" for seq, event_id in new))
            if new[-1][0] % 200 < len(new):  # trim now and then, not on every event
                pipe.ltrim(key, -SENT_BUFFER, -1)
                pipe.expire(key, RESUME_WINDOW_SECONDS * 2)
        await self._execute(pipe)

    async def touch(self, session_id: str, *, connected: bool, conn_id: str = "") -> None:
        meta, key = self._keys(session_id, conn_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(meta, mapping={"updated": time.time(), "connected": int(connected)})
        pipe.expire(meta, RESUME_WINDOW_SECONDS * 2)
        pipe.expire(key, RESUME_WINDOW_SECONDS * 2)
        await self._execute(pipe)

    async def load(self, session_id: str) -> SessionState | None:
        meta, _key = self._keys(session_id)
        result = await self._execute(self._redis.pipeline(transaction=False).hgetall(meta))
        if not result or not result[0]:
            return None
        fields = result[0]
        owner = fields.get(b"owner", b"").decode()
        _meta, key = self._keys(session_id, owner)
        raw = await self._execute(
            self._redis.pipeline(transaction=False).lrange(key, -SENT_BUFFER, -1)
        )
        if raw is None:
            return None
        raw_pairs = raw[0]
        sent = []
        for raw in raw_pairs:
            seq, _, event_id = raw.decode().partition(":")
            sent.append((int(seq), int(event_id)))
        return SessionState(
            session_id=session_id,
            user_id=int(fields[b"user"]),
            started_at=float(fields[b"started"]),
            updated_at=float(fields[b"updated"]),
            connected=fields[b"connected"] == b"1",
            sent=sent,
            owner=owner,
        )


_store: MemoryStore | RedisStore | None = None


def store() -> MemoryStore | RedisStore:
    global _store
    if _store is None:
        url = settings.CONFIG.redis_url
        _store = RedisStore(url) if url else MemoryStore()
    return _store
