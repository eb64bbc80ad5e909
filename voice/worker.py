"""The voice worker process: the SFU behind a small JSON-lines socket.

The node (daphne) and the worker are separate processes in both run modes, so one design serves
both: the node sends one JSON object per line over TCP to VOICE_WORKER_ADDR and reads one reply
line. Requests: `join`, `answer`, `candidate`, `update`, `leave`, `stats`, `ping`,
`subscribe`. The worker is
private (bind it to loopback or a private network; it has no authentication of its own — the
node checks every permission before it asks).

Events the SFU raises (`speaking`, `disconnected`, `offer`) reach members this way:
- `offer` (a renegotiation: someone's camera or screen share started or stopped) is pushed to
  the node's subscribers, which hand it to the member's gateway sessions (VOICE_OFFER).
- `disconnected` (the peer connection failed or closed) is pushed to the node's subscribers,
  which delete the voice state and broadcast VOICE_STATE_UPDATE from a web process (so the
  embedded mode's in-memory channel layer carries it at once). With no subscriber connected,
  the worker calls the voice service itself; the event still reaches sessions from the
  durable event store at their next heartbeat.
- `speaking` is ephemeral. The worker pushes it on every `subscribe` connection; the node holds
  one per process (voice.rpc.Subscriber) and publishes it to the guild's gateway group there.

A restarted worker has no rooms: the node notices (its subscriber reconnects and sees a new
`boot` id) and tells clients to rejoin (VOICE_SERVER_UPDATE with `reconnect: true`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

from voice.guard import Budget
from voice.sfu import SFU, Refused

logger = logging.getLogger(__name__)

MAX_LINE = 256 * 1024


class Worker:
    def __init__(self, on_disconnect: Any = None, budgets: dict[str, Budget] | None = None) -> None:
        self.boot = uuid.uuid4().hex
        self.sfu = SFU(self._event, budgets)
        self.guild_of: dict[int, int] = {}  # room → guild, for the events
        self.subscribers: set[asyncio.StreamWriter] = set()
        self.on_disconnect = on_disconnect
        self.server: asyncio.AbstractServer | None = None

    def _event(self, event: dict[str, Any]) -> None:
        event["guild"] = self.guild_of.get(event["room"])
        line = (json.dumps(event) + "\n").encode()
        for writer in list(self.subscribers):
            if writer.is_closing():
                self.subscribers.discard(writer)
                continue
            writer.write(line)
        # The node's subscribers record a disconnect themselves (voice.rpc.Subscriber); the
        # worker does it only when no node is listening, so the state never outlives the peer.
        if (
            event["event"] == "disconnected"
            and self.on_disconnect is not None
            and not (self.subscribers)
        ):
            asyncio.get_running_loop().run_in_executor(
                None, self.on_disconnect, event["room"], event["user"]
            )

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(self._serve, host, port, limit=MAX_LINE)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    reply = await self.handle(request, writer)
                except Refused as refused:
                    reply = {"ok": False, "error": str(refused)}
                except (ValueError, KeyError, TypeError) as exc:
                    reply = {"ok": False, "error": f"bad request: {exc}"}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self.subscribers.discard(writer)
            writer.close()

    async def handle(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> dict[str, Any]:
        op = request["op"]
        if op == "ping":
            return {"ok": True, "boot": self.boot}
        if op == "subscribe":
            self.subscribers.add(writer)
            speaking = [
                [room.room_id, p.user_id, self.guild_of.get(room.room_id)]
                for room in self.sfu.rooms.values()
                for p in room.participants.values()
                if p.speaking
            ]
            return {"ok": True, "boot": self.boot, "speaking": speaking}
        if op == "stats":
            return {"ok": True, "boot": self.boot, **self.sfu.stats()}
        room, user = int(request["room"]), int(request["user"])
        if op == "join":
            self.guild_of[room] = int(request["guild"])
            offer = await self.sfu.join(
                room,
                user,
                slots=int(request["slots"]),
                can_speak=bool(request.get("can_speak", True)),
                deaf=bool(request.get("deaf", False)),
                video=bool(request.get("video", False)),
                camera=bool(request.get("camera", False)),
                screen=bool(request.get("screen", False)),
            )
            return {"ok": True, "boot": self.boot, **offer}
        if op == "answer":
            version = request.get("version")
            await self.sfu.answer(
                room, user, str(request["sdp"]), None if version is None else int(version)
            )
            return {"ok": True}
        if op == "candidate":
            candidate = request.get("candidate")
            await self.sfu.candidate(room, user, None if candidate is None else str(candidate))
            return {"ok": True}
        if op == "update":
            self.sfu.update(
                room,
                user,
                can_speak=request.get("can_speak"),
                deaf=request.get("deaf"),
                camera=request.get("camera"),
                screen=request.get("screen"),
            )
            return {"ok": True}
        if op == "leave":
            return {"ok": True, "left": await self.sfu.leave(room, user)}
        raise ValueError(f"unknown op {op!r}")

    async def close(self) -> None:
        if self.server:
            self.server.close()
        await self.sfu.close()
