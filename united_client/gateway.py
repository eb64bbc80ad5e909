"""A gateway client for programs: IDENTIFY, heartbeats, and on a dropped socket a reconnect
with exponential backoff and full jitter that RESUMEs where it was, so a node's restart (or a
thousand clients losing their web process at once) neither loses events nor stampedes.

    async with GatewayClient("ws://127.0.0.1:8000/gateway", token) as gw:
        async for t, d in gw.events():
            ...

Close codes that mean "do not come back with these credentials" (4004: the session ended or
the token is refused) end `events()` with `SessionEnded`; 4901 (token expired) asks the
`refresh` callback, when given, for a fresh token and resumes with it. docs/gateway.md has the
protocol.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

HEARTBEAT, IDENTIFY, RESUME, INVALID_SESSION, HELLO = 1, 2, 6, 9, 10
FATAL = {4004: "session ended or token refused", 4003: "not authenticated"}
TOKEN_EXPIRED = 4901


class SessionEnded(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"gateway closed the session ({code}: {reason})")
        self.code = code


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Full jitter (AWS's "exponential backoff and jitter"): spreads a crowd's retries evenly
    over the window instead of bunching them at its end."""
    return random.uniform(0, min(cap, base * 2**attempt))


class GatewayClient:
    def __init__(
        self,
        url: str | list[str],
        token: str,
        *,
        refresh: Callable[[], Awaitable[str]] | None = None,
        max_attempts: int = 12,
    ) -> None:
        # Several URLs stand for a node's processes without a proxy in front: each reconnect
        # tries the next one.
        self.urls = [url] if isinstance(url, str) else list(url)
        self.token, self.refresh = token, refresh
        self._attempts = 0
        self._closed = False
        self.max_attempts = max_attempts
        self.session_id: str | None = None
        self.seq = 0
        self.ws: ClientConnection | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self.ws is not None:
            await self.ws.close()

    async def _open(self) -> None:
        url = self.urls[self._attempts % len(self.urls)]
        self._attempts += 1
        self.ws = await connect(url, compression=None, max_size=None, open_timeout=30)
        hello = json.loads(await self.ws.recv())
        if hello.get("op") != HELLO:
            raise ConnectionError(f"expected HELLO, got {hello}")
        interval = hello["d"]["heartbeat_interval"] / 1000
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._heartbeat = asyncio.create_task(self._beat(self.ws, interval))
        if self.session_id:
            d = {"token": self.token, "session_id": self.session_id, "seq": self.seq}
            await self.ws.send(json.dumps({"op": RESUME, "d": d}))
        else:
            await self.ws.send(json.dumps({"op": IDENTIFY, "d": {"token": self.token}}))

    async def _beat(self, ws: ClientConnection, interval: float) -> None:
        await asyncio.sleep(interval * random.random())  # not all at once after a storm
        while True:
            try:
                await ws.send(json.dumps({"op": HEARTBEAT, "d": self.seq or None}))
            except ConnectionClosed:
                return
            await asyncio.sleep(interval)

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        """Every DISPATCH as (t, d), across reconnects, until `close()` or a fatal close."""
        attempt = 0
        while True:
            try:
                if self.ws is None:
                    await self._open()
                assert self.ws is not None
                async for raw in self.ws:
                    frame = json.loads(raw)
                    if frame.get("s"):
                        self.seq = frame["s"]
                    if frame.get("op") == INVALID_SESSION:
                        self.session_id, self.seq = None, 0
                        await self.ws.send(json.dumps({"op": IDENTIFY, "d": {"token": self.token}}))
                        continue
                    if frame.get("op") != 0:
                        continue
                    if frame["t"] == "READY":
                        self.session_id = frame["d"]["session_id"]
                    if frame["t"] in ("READY", "RESUMED"):
                        attempt = 0
                    yield frame["t"], frame["d"]
                code = self.ws.close_code
            except (ConnectionClosed, OSError) as closed:
                code = getattr(getattr(closed, "rcvd", None), "code", None)
            if self._closed:
                return
            if code in FATAL:
                raise SessionEnded(code, FATAL[code])
            if code == TOKEN_EXPIRED and self.refresh is not None:
                self.token = await self.refresh()
            attempt += 1
            if attempt > self.max_attempts:
                raise ConnectionError(f"gateway unreachable after {self.max_attempts} attempts")
            self.ws = None
            await asyncio.sleep(backoff(attempt))
