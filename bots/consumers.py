"""The gateway as Discord's v10 speaks it to a bot, at /bot-gateway (docs/bots.md).

It is the node's own gateway consumer (messaging/consumers.py: the hub, RESUME from the event
store, heartbeats, limits) with four differences:

- IDENTIFY carries a bot token and `intents` (Discord's bits). Asking for MESSAGE_CONTENT
  without the application's grant closes with 4014, as Discord does; the bot then gets
  messages with empty content unless they mention it.
- READY is Discord's (guilds unavailable, `resume_gateway_url`, `application`), followed by a
  GUILD_CREATE per guild with its channels, roles and members (discord.py waits for those
  before `on_ready`). Their sequence numbers are reserved before the socket starts to listen,
  so they never collide with events the hub numbers meanwhile.
- Each event the hub hands over is filtered by the intents and reshaped (bots/shapes.py) on
  the hub's loop, without the database: per bot connection a parse and an encode, which the
  few bot sockets of a node can afford. Events a bot has no business with (E2E envelopes,
  device messages, read states, voice signalling) never leave.
- `compress=zlib-stream` in the URL gets Discord's transport compression: one zlib stream per
  connection, each frame flushed with Z_SYNC_FLUSH and sent as a binary message. Other values
  (zstd-stream) get plain text frames, which every Discord library also reads.

The session id carries the intents (`<hex>.<intents>`), so a RESUME on any web process
filters as the IDENTIFY asked without a store of its own.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
import zlib
from typing import Any
from urllib.parse import parse_qs

from bots import gateway as bot_gateway
from bots import services, shapes
from bots.models import Application
from messaging import gateway, presence
from messaging.consumers import GatewayConsumer, _db, _presence
from messaging.gateway_sessions import SessionState, store

logger = logging.getLogger(__name__)

REQUEST_GUILD_MEMBERS = 8
CLOSE_INVALID_API_VERSION = 4012
CLOSE_INVALID_INTENTS = 4013
CLOSE_DISALLOWED_INTENTS = 4014

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MODERATION = 1 << 2
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
GUILD_MESSAGE_TYPING = 1 << 11
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
DIRECT_MESSAGE_TYPING = 1 << 14
MESSAGE_CONTENT = 1 << 15
ALL_INTENTS = (1 << 26) - 1

# event → the intent it needs (guild one, DM one); events not listed never reach a bot.
INTENT_OF: dict[str, tuple[int, int]] = {
    "GUILD_CREATE": (GUILDS, GUILDS),
    "GUILD_UPDATE": (GUILDS, GUILDS),
    "GUILD_DELETE": (GUILDS, GUILDS),
    "GUILD_ROLE_CREATE": (GUILDS, GUILDS),
    "GUILD_ROLE_UPDATE": (GUILDS, GUILDS),
    "GUILD_ROLE_DELETE": (GUILDS, GUILDS),
    "CHANNEL_CREATE": (GUILDS, GUILDS),
    "CHANNEL_UPDATE": (GUILDS, GUILDS),
    "CHANNEL_DELETE": (GUILDS, GUILDS),
    "CHANNEL_PINS_UPDATE": (GUILDS, DIRECT_MESSAGES),
    "GUILD_MEMBER_ADD": (GUILD_MEMBERS, GUILD_MEMBERS),
    "GUILD_MEMBER_UPDATE": (GUILD_MEMBERS, GUILD_MEMBERS),
    "GUILD_MEMBER_REMOVE": (GUILD_MEMBERS, GUILD_MEMBERS),
    "GUILD_BAN_ADD": (GUILD_MODERATION, GUILD_MODERATION),
    "GUILD_BAN_REMOVE": (GUILD_MODERATION, GUILD_MODERATION),
    "MESSAGE_CREATE": (GUILD_MESSAGES, DIRECT_MESSAGES),
    "MESSAGE_UPDATE": (GUILD_MESSAGES, DIRECT_MESSAGES),
    "MESSAGE_DELETE": (GUILD_MESSAGES, DIRECT_MESSAGES),
    "MESSAGE_REACTION_ADD": (GUILD_MESSAGE_REACTIONS, DIRECT_MESSAGE_REACTIONS),
    "MESSAGE_REACTION_REMOVE": (GUILD_MESSAGE_REACTIONS, DIRECT_MESSAGE_REACTIONS),
    "TYPING_START": (GUILD_MESSAGE_TYPING, DIRECT_MESSAGE_TYPING),
    "USER_UPDATE": (0, 0),
    "INTERACTION_CREATE": (0, 0),  # sent to the bot's own user group (bots/interactions/)
}


def session_intents(session_id: str) -> int | None:
    _, _, tail = session_id.rpartition(".")
    return int(tail) if tail.isdigit() else None


class BotGatewayConsumer(GatewayConsumer):
    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        version = (query.get("v") or ["10"])[0]
        encoding = (query.get("encoding") or ["json"])[0]
        self.zlib: Any = (
            zlib.compressobj() if (query.get("compress") or [""])[0] == "zlib-stream" else None
        )
        self.app: Application | None = None
        self.intents = 0
        # guild id → user id → member (Discord's member JSON): the `member` of each message.
        self.members: dict[int, dict[int, dict[str, Any]]] = {}
        await super().connect()
        if version not in ("9", "10"):
            await self.end(CLOSE_INVALID_API_VERSION)
        elif encoding != "json":
            await self.end(gateway.CLOSE_DECODE_ERROR)  # etf is not spoken here

    async def _write(self, frame: str) -> None:
        if self.zlib is None:
            await super()._write(frame)
            return
        if self.closed:
            return
        data = self.zlib.compress(frame.encode()) + self.zlib.flush(zlib.Z_SYNC_FLUSH)
        await self.send(bytes_data=data)

    async def _credentials(self, d: dict[str, Any]) -> tuple[Any, str | None, Any]:
        app = await _db(services.authenticate_token)(d.get("token"))
        if app is None:
            return None, None, None
        if self.intents & MESSAGE_CONTENT and not app.message_content:
            # A RESUME of a session that had the intent, which was withdrawn since.
            return None, None, None
        self.app = app
        return app.bot, None, None

    async def _other_op(self, op: int, d: Any) -> bool:
        if op != REQUEST_GUILD_MEMBERS:
            return False
        await self._request_members(d)
        return True

    async def _set_presence(self, d: dict[str, Any]) -> None:
        # Discord's presence update carries `since`, `afk` and activity types the node's
        # presence does not know; a bot shows online while it is connected, and that is all.
        return

    async def _identify(self, d: dict[str, Any]) -> None:
        intents = d.get("intents")
        if (
            not isinstance(intents, int)
            or isinstance(intents, bool)
            or not 0 <= intents <= ALL_INTENTS
        ):
            await self.end(CLOSE_INVALID_INTENTS)
            return
        user = await self._authenticate(d)
        if user is None:
            return
        app = self.app
        assert app is not None
        if intents & MESSAGE_CONTENT and not app.message_content:
            await self.end(CLOSE_DISALLOWED_INTENTS)
            return
        self.intents = intents
        threshold = d.get("large_threshold")
        if not isinstance(threshold, int) or not 50 <= threshold <= bot_gateway.LARGE_THRESHOLD_MAX:
            threshold = bot_gateway.LARGE_THRESHOLD_DEFAULT
        shard = d.get("shard")
        if not (
            isinstance(shard, list) and len(shard) == 2 and all(isinstance(x, int) for x in shard)
        ):
            shard = [0, 1]
        self.user, self.user_id = user, user.id
        self.session_id = f"{uuid.uuid4().hex}.{intents}"
        await store().create(
            SessionState(
                session_id=self.session_id,
                user_id=user.id,
                started_at=time.time(),
                owner=self.conn_id,
            )
        )
        groups = await _db(gateway.session_groups)(user)
        guild_ids = [int(g.rpartition(".")[2]) for g in groups if g.startswith("guild.")]
        # READY is 1 and each guild's GUILD_CREATE the next: the hub numbers from after them.
        self.seq, self._held = 1 + len(guild_ids), []
        await self.hub.attach(self, groups)
        await self.hub.before_ready(self, groups)
        ready, creates = await _db(bot_gateway.ready)(
            app,
            self.session_id,
            guild_ids,
            resume_url=self._resume_url(),
            shard=shard,
            large_threshold=threshold,
        )
        await self._send(gateway.DISPATCH, ready, t="READY", s=1)
        for seq, payload in enumerate(creates, start=2):
            self._remember_members(payload)
            await self._send(gateway.DISPATCH, payload, t="GUILD_CREATE", s=seq)
        held, self._held = self._held, None
        for frame in held:
            await self.push(frame)
        await _presence(presence.connected, user, self.conn_id)

    async def _resume(self, d: dict[str, Any]) -> None:
        session_id = d.get("session_id")
        intents = session_intents(session_id) if isinstance(session_id, str) else None
        if intents is None:
            await self._send(gateway.INVALID_SESSION, False)
            return
        self.intents = intents
        await super()._resume(d)

    def _resume_url(self) -> str:
        host = ""
        for key, value in self.scope.get("headers", []):
            if key == b"host":
                host = value.decode("latin1")
        scheme = "wss" if self.scope.get("scheme") == "wss" else "ws"
        return f"{scheme}://{host}{self.scope.get('path', '/bot-gateway')}"

    async def _request_members(self, d: Any) -> None:
        if not isinstance(d, dict) or self.app is None:
            await self.end(gateway.CLOSE_DECODE_ERROR)
            return
        chunk = await _db(bot_gateway.member_chunk)(self.app, d)
        if chunk is not None:
            await self._dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _remember_members(self, guild: dict[str, Any]) -> None:
        self.members[int(guild["id"])] = {
            int(m["user"]["id"]): m for m in guild.get("members", []) if m.get("user")
        }

    # --- what the hub hands over --------------------------------------------------------

    async def push(self, frame: str) -> None:
        if self._held is not None:
            self._held.append(frame)
            return
        try:
            message = json.loads(frame)
        except ValueError:
            return
        out = self.translate(message.get("t") or "", message.get("d"))
        if out is None:
            return
        message["d"] = out
        await self._write(json.dumps(message, separators=(",", ":")))

    def translate(self, t: str, d: Any) -> Any:
        """The event as this bot receives it, or None when its intents leave it out."""
        needs = INTENT_OF.get(t)
        if needs is None or not isinstance(d, dict):
            return None
        in_guild = bool(d.get("guild_id") or (t.startswith("GUILD_") and d.get("id")))
        intent = needs[0] if in_guild else needs[1]
        if intent and not self.intents & intent:
            return None
        guild_id = int(d["guild_id"]) if d.get("guild_id") else None
        if t in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            if d.get("deleted"):
                return None
            out = shapes.message(d, self.members.get(guild_id) if guild_id else None)
            if not self.intents & MESSAGE_CONTENT:
                out = shapes.blank_content(out, self.user_id)
            return out
        if t in ("MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"):
            out = {**d, "burst": False, "type": 0}
            if t == "MESSAGE_REACTION_ADD" and guild_id:
                member = self.members.get(guild_id, {}).get(int(d["user_id"]))
                if member is not None:
                    out["member"] = member
            return out
        if t == "GUILD_CREATE":
            out = shapes.guild(d, d.get("members", []))
            self._remember_members(out)
            return out
        if t == "GUILD_UPDATE":
            out = shapes.guild(d, [])
            for key in ("members", "channels", "threads", "presences", "voice_states"):
                out.pop(key, None)
            return out
        if t == "GUILD_DELETE":
            self.members.pop(int(d["id"]), None)
            return {"id": d["id"], "unavailable": bool(d.get("unavailable", False))}
        if t in ("GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE") and isinstance(d.get("role"), dict):
            return {**d, "role": shapes.role(d["role"])}
        if t.startswith("CHANNEL_") and t != "CHANNEL_PINS_UPDATE":
            return shapes.channel(d)
        if t in ("GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE") and d.get("user"):
            member = shapes.member(d)
            if guild_id:
                self.members.setdefault(guild_id, {})[int(d["user"]["id"])] = member
            return {**member, "guild_id": d.get("guild_id")}
        if t in ("GUILD_MEMBER_REMOVE", "GUILD_BAN_ADD", "GUILD_BAN_REMOVE") and d.get("user"):
            if t == "GUILD_MEMBER_REMOVE" and guild_id:
                self.members.get(guild_id, {}).pop(int(d["user"]["id"]), None)
            return {**d, "user": shapes.user(d["user"])}
        if t == "USER_UPDATE":
            return {**shapes.user(d), "verified": True, "mfa_enabled": False}
        return d
