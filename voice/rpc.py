"""The node's side of the worker's control socket (voice.worker describes the protocol)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from typing import Any

from django.conf import settings

from united.errors import APIError

logger = logging.getLogger(__name__)

TIMEOUT = 10.0
VOICE_UNAVAILABLE = 90302


class WorkerUnavailable(APIError):
    status = 503
    code = VOICE_UNAVAILABLE
    message = "The voice server is unavailable; try again shortly"


class WorkerRefused(APIError):
    status = 409
    code = VOICE_UNAVAILABLE
    message = "The voice server refused the request"


def call(op: str, *, timeout: float = TIMEOUT, **params: Any) -> dict[str, Any]:
    """One request, one reply, on a fresh loopback/private connection (cheap, and a restarted
    worker needs no reconnect logic)."""
    host, port = settings.VOICE_WORKER_ADDR
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall((json.dumps({"op": op, **params}) + "\n").encode())
            reader = sock.makefile("rb")
            line = reader.readline()
    except OSError as exc:
        raise WorkerUnavailable() from exc
    if not line:
        raise WorkerUnavailable()
    reply = json.loads(line)
    if not reply.get("ok"):
        raise WorkerRefused(f"The voice server refused: {reply.get('error', 'unknown')}")
    return reply


class Subscriber:
    """One per node process: follows the worker's event stream, publishes `speaking` to the
    guild's gateway group and renegotiation offers to the member's sessions, and notices a
    restarted worker (new boot id) so members rejoin."""

    def __init__(self) -> None:
        self.boot: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.speaking: set[tuple[int, int]] = set()  # (room, user) speaking now

    def ensure(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        delay = 0.2
        while True:
            host, port = settings.VOICE_WORKER_ADDR
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.2
            try:
                writer.write(b'{"op": "subscribe"}\n')
                await writer.drain()
                hello = json.loads(await reader.readline() or b"{}")
                boot = hello.get("boot")
                previous, self.boot = self.boot, boot  # known before anyone is told
                if previous is not None and boot != previous:
                    await self._restarted()
                self.speaking = {(int(r), int(u)) for r, u, _ in hello.get("speaking", [])}
                while line := await reader.readline():
                    await self._event(json.loads(line))
            except (OSError, ValueError):
                pass
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            await asyncio.sleep(delay)

    async def _event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "disconnected":
            await self._disconnected(event)
            return
        if event.get("event") == "offer" and event.get("guild"):
            from united import events
            from voice import services

            # Every node process hears it; the client answers only the newest version once.
            await events.apublish(*services.offer_event(event))
            return
        if event.get("event") != "speaking" or not event.get("guild"):
            return
        key = (int(event["room"]), int(event["user"]))
        if event.get("speaking"):
            self.speaking.add(key)
        else:
            self.speaking.discard(key)
        from united import events
        from voice import services

        t, d = services.speaking_event(event["guild"], event["room"], event["user"], event)
        await events.apublish(events.guild_group(int(event["guild"])), t, d)

    async def _disconnected(self, event: dict[str, Any]) -> None:
        """A member's peer connection closed or failed: record the leave here, in a web
        process, so the VOICE_STATE_UPDATE is published on this process's channel layer (the
        embedded mode's layer is in memory: a publish from the worker's process reaches no
        one until the sessions' next heartbeat). Several web processes may all hear it; the
        first deletes the state and broadcasts, the others find nothing to do."""
        from asgiref.sync import sync_to_async

        from voice import services

        try:
            room, user = int(event["room"]), int(event["user"])
            await sync_to_async(services.worker_disconnected, thread_sensitive=False)(room, user)
        except Exception:  # logged: the subscriber keeps listening
            logger.exception("could not record a voice disconnect: %s", event)

    async def _restarted(self) -> None:
        from asgiref.sync import sync_to_async

        from voice import services

        logger.warning("voice worker restarted: asking connected members to rejoin")
        await sync_to_async(services.worker_restarted, thread_sensitive=False)()


subscriber = Subscriber()
