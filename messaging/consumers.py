"""The realtime gateway: one WebSocket per client at /gateway, Discord-shaped frames.

    server → HELLO {heartbeat_interval}
    client → IDENTIFY {token?}        (the session cookie counts when the Origin is ours)
    server → DISPATCH READY {session_id, user}
    client → HEARTBEAT, server → HEARTBEAT_ACK
    server → DISPATCH {t, d, s} for every event of the groups the session joined

The consumer only parses frames, calls services (through database_sync_to_async) and
forwards group events; what a session may receive is decided by the services that choose
its groups. docs/gateway.md is the protocol's reference.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from messaging import gateway

logger = logging.getLogger(__name__)


class GatewayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.user: Any = None
        self.session_id: str | None = None
        self.seq = 0
        self.groups_joined: list[str] = []
        self._last_heartbeat = asyncio.get_running_loop().time()
        await self.accept()
        await self._send(
            gateway.HELLO, {"heartbeat_interval": settings.GATEWAY_HEARTBEAT_INTERVAL_MS}
        )
        self._watchdog = asyncio.create_task(self._watch_heartbeats())

    async def disconnect(self, code: int) -> None:
        if getattr(self, "_watchdog", None):
            self._watchdog.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _watch_heartbeats(self) -> None:
        # A client that stops heartbeating (sleeping laptop, dead NAT mapping) is closed, so
        # it reconnects instead of sitting on a half-open socket that receives nothing.
        interval = settings.GATEWAY_HEARTBEAT_INTERVAL_MS / 1000
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval / 2)
            if loop.time() - self._last_heartbeat > interval * 1.5:
                await self.close(code=gateway.CLOSE_SESSION_TIMED_OUT)
                return

    async def _send(self, op: int, d: Any, t: str | None = None, s: int | None = None) -> None:
        await self.send(text_data=json.dumps({"op": op, "d": d, "s": s, "t": t}))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = json.loads(text_data if text_data is not None else bytes_data or b"")
        except (ValueError, UnicodeDecodeError):
            await self.close(code=gateway.CLOSE_DECODE_ERROR)
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("op"), int):
            await self.close(code=gateway.CLOSE_DECODE_ERROR)
            return
        op, d = frame["op"], frame.get("d")
        if op == gateway.HEARTBEAT:
            self._last_heartbeat = asyncio.get_running_loop().time()
            await self._send(gateway.HEARTBEAT_ACK, None)
        elif op == gateway.IDENTIFY:
            await self._identify(d if isinstance(d, dict) else {})
        elif op == gateway.RESUME:
            # Sessions are not yet kept after a disconnect: the client must identify anew.
            await self._send(gateway.INVALID_SESSION, False)
        elif self.user is None:
            await self.close(code=gateway.CLOSE_NOT_AUTHENTICATED)
        else:
            await self.close(code=gateway.CLOSE_UNKNOWN_OPCODE)

    async def _identify(self, d: dict[str, Any]) -> None:
        if self.user is not None:
            await self.close(code=gateway.CLOSE_ALREADY_AUTHENTICATED)
            return
        user = await database_sync_to_async(gateway.authenticate)(
            token=d.get("token"),
            scope_user=self.scope.get("user"),
            cookie_auth=self.scope.get("cookie_auth", False),
        )
        if user is None:
            await self.close(code=gateway.CLOSE_AUTHENTICATION_FAILED)
            return
        self.user = user
        self.session_id = uuid.uuid4().hex
        ready, groups = await database_sync_to_async(gateway.ready_state)(user, self.session_id)
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups
        await self._dispatch("READY", ready)

    async def _dispatch(self, t: str, d: Any) -> None:
        self.seq += 1
        await self._send(gateway.DISPATCH, d, t=t, s=self.seq)

    async def gateway_dispatch(self, event: dict[str, Any]) -> None:
        if self.user is None:
            return
        await self._dispatch(event["t"], event["d"])
