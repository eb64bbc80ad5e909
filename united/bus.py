"""The event bus between a production node's processes: Redis pub/sub, one Redis channel per
gateway group (`user.<id>`, `guild.<id>`).

Publishers (a request thread after commit, a job, the voice worker) send with one PUBLISH on a
pooled synchronous connection: no event loop is started per event. Each web process's gateway
hub (messaging/hub.py) holds one subscriber connection and subscribes a group while at least
one of its sockets follows it. The payload is JSON; events carry nothing JSON cannot hold.

The embedded mode has one process and no bus: publishers hand events to the hub directly.
Redis pub/sub ignores the database number, so the channel names carry a prefix
(settings.EVENT_BUS_PREFIX) that does: two nodes sharing one Redis server never hear each other.

A message lost on the bus (Redis restarting, a subscriber reconnecting) is not lost to clients:
every stored event is also in the database, and the hub's catch-up and RESUME replay it.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_client: tuple[str, redis.Redis] | None = None


def enabled() -> bool:
    """True when events cross processes (production); False in the embedded mode."""
    return bool(getattr(settings, "EVENT_BUS_URL", None))


def _url() -> str:
    """The bus's Redis URL; callers reach the bus only when `enabled()`, so an unset URL here is a
    wiring mistake, said plainly rather than as redis-py's error about a None URL."""
    url: str | None = settings.EVENT_BUS_URL
    if not url:
        raise ImproperlyConfigured("the event bus is used but EVENT_BUS_URL is unset")
    return url


def channel(group: str) -> str:
    return f"{settings.EVENT_BUS_PREFIX}:gw:{group}"


def group_of(channel_name: str | bytes) -> str:
    if isinstance(channel_name, bytes):
        channel_name = channel_name.decode()
    return channel_name.split(":gw:", 1)[1]


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, cls=DjangoJSONEncoder, separators=(",", ":"))


def _sync_client() -> redis.Redis:
    global _client
    url = _url()
    with _lock:
        if _client is None or _client[0] != url:
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
            _client = (url, client)
        return _client[1]


def publish(group: str, message: dict[str, Any]) -> int:
    """PUBLISH one event; returns how many subscriber connections (web processes) heard it."""
    return int(_sync_client().publish(channel(group), encode(dict(message, group=group))))


async def apublish(group: str, message: dict[str, Any]) -> None:
    """`publish` from an event loop: a short-lived connection of that loop (rare events only:
    the voice worker's speaking flags)."""
    client = aioredis.Redis.from_url(_url(), socket_connect_timeout=2)
    try:
        await client.publish(channel(group), encode(dict(message, group=group)))
    finally:
        await client.aclose()


def subscriber() -> aioredis.client.PubSub:
    """A pub/sub connection for the running loop (the readiness probe's round trip)."""
    client = aioredis.Redis.from_url(_url(), socket_connect_timeout=2)
    return client.pubsub(ignore_subscribe_messages=True)


class Listener(threading.Thread):
    """The process's one subscription: a thread of its own that reads the bus and hands each
    event to every gateway hub of the process (`deliver`), as publishers do in the embedded
    mode. A thread rather than a task: a redis.asyncio read cancelled while the loop shuts
    down was seen to swallow the cancellation and hang the shutdown.

    Hubs `add` a group when their first socket follows it and `discard` it when the last
    leaves; the Redis subscription follows the union. `add` returns once SUBSCRIBE is on the
    wire, so Redis delivers every later PUBLISH of the group. A broken connection is
    re-established and every group subscribed again; `reconnected` then asks the hubs to catch
    up from the store."""

    def __init__(self, url: str, deliver: Any, reconnected: Any) -> None:
        super().__init__(name="event-bus", daemon=True)
        self.url = url
        self.deliver = deliver
        self.reconnected = reconnected
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.own = channel(f"listener.{os.getpid()}.{time.monotonic_ns()}")
        self.pubsub: redis.client.PubSub | None = None  # connected by the thread
        self.stopping = threading.Event()
        atexit.register(self.stopping.set)  # quiet at exit, whatever stops before us

    def _connect(self) -> redis.client.PubSub:
        client = redis.Redis.from_url(
            self.url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30
        )
        pubsub: redis.client.PubSub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.own)  # subscribed even while no group is followed
        return pubsub

    def add(self, group: str) -> None:
        with self.lock:
            self.counts[group] = self.counts.get(group, 0) + 1
            if self.counts[group] == 1 and self.pubsub is not None:
                self.pubsub.subscribe(channel(group))

    def discard(self, group: str) -> None:
        with self.lock:
            left = self.counts.get(group, 0) - 1
            if left > 0:
                self.counts[group] = left
                return
            self.counts.pop(group, None)
            if self.pubsub is not None:
                self.pubsub.unsubscribe(channel(group))

    def run(self) -> None:
        self._reconnect(wait=0)
        while not self.stopping.is_set():
            try:
                assert self.pubsub is not None
                item = self.pubsub.get_message(timeout=1.0)
            except Exception:
                if self.stopping.is_set():
                    return
                logger.warning("event bus: connection lost; reconnecting", exc_info=True)
                self._reconnect()
                continue
            if item is None or item.get("type") != "message":
                continue
            try:
                message = decode(item["data"])
                group = message.get("group") or group_of(item["channel"])
            except (ValueError, IndexError):
                logger.warning("event bus: an undecodable message was dropped")
                continue
            try:
                self.deliver(group, message)
            except Exception:  # one bad event must not stop the process's subscription
                logger.exception("event bus: delivering %s failed", message.get("t"))

    def _reconnect(self, wait: float = 0.5) -> None:
        tries = 0
        while not self.stopping.wait(wait):
            wait, tries = 0.5, tries + 1
            try:
                with self.lock:
                    old, self.pubsub = self.pubsub, self._connect()
                    if self.counts:
                        self.pubsub.subscribe(*[channel(g) for g in self.counts])
            except Exception:
                if tries % 60 == 1:  # once every half minute of an outage
                    logger.warning("event bus: unreachable; retrying", exc_info=True)
                continue
            try:
                if old is not None:
                    old.close()
            except Exception:
                pass
            self.reconnected()
            return


_listener: Listener | None = None


def listener(deliver: Any, reconnected: Any) -> Listener:
    """The process's listener, started on first use."""
    global _listener
    with _lock:
        url = _url()
        if _listener is None or _listener.url != url:
            _listener = Listener(url, deliver, reconnected)
            _listener.start()
        return _listener


def decode(data: bytes | str) -> dict[str, Any]:
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError("an event on the bus is a JSON object")
    return message
