"""The realtime gateway: one WebSocket per client at /gateway, Discord-shaped frames.

    server → HELLO {heartbeat_interval}
    client → IDENTIFY {token?}              (the session cookie counts when the Origin is ours)
    server → DISPATCH READY {session_id, user}
    client → HEARTBEAT, server → HEARTBEAT_ACK
    server → DISPATCH {t, d, s} for every event of the groups the session joined
    client → RESUME {session_id, seq}       after a reconnect; missed events are replayed

No event is silently lost. Stored events (messaging.events.broadcast) carry their id; the
consumer remembers which ids it sent under which sequence numbers and saves that tail on every
heartbeat and on disconnect. RESUME replays from the store what came after the client's last
sequence; each heartbeat also pulls from the store any event the pub/sub layer failed to
deliver while the socket stayed up. Ids already sent are skipped, so a replay never repeats an
event the session has confirmed; clients should still de-duplicate by object id, because a
server that died between two saves re-sends what it had not yet recorded.

The consumer only parses frames, calls services through database_sync_to_async and forwards
group events; docs/gateway.md is the protocol's reference.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import OrderedDict
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from messaging import gateway, presence

logger = logging.getLogger(__name__)


class GatewayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.user: Any = None
        self.session_id: str | None = None
        self.seq = 0
        self.groups_joined: list[str] = []
        self.sent: OrderedDict[int, int] = OrderedDict()  # event id → seq, oldest first
        self.visible: dict[int, set[int]] = {}  # guild id → channel ids this session may see
        self.revoked: set[int] = set()  # guilds this user was banned or kicked from
        self.catchup_from = gateway.lookback_from(None, timezone.now())
        self._last_heartbeat = asyncio.get_running_loop().time()
        await self.accept()
        interval = settings.GATEWAY_HEARTBEAT_INTERVAL_MS
        await self._send(gateway.HELLO, {"heartbeat_interval": interval})
        self._watchdog = asyncio.create_task(self._watch_heartbeats())

    async def disconnect(self, code: int) -> None:
        if getattr(self, "_watchdog", None):
            self._watchdog.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        if self.session_id:
            await self._save(connected=False)
            await database_sync_to_async(presence.disconnected)(self.user, self.channel_name)

    async def _watch_heartbeats(self) -> None:
        # A client that stops heartbeating (sleeping laptop, dead NAT mapping) is closed, so
        # it reconnects and resumes instead of sitting on a half-open socket.
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
            await self._heartbeat()
        elif op == gateway.IDENTIFY:
            await self._identify(d if isinstance(d, dict) else {})
        elif op == gateway.RESUME:
            await self._resume(d if isinstance(d, dict) else {})
        elif op == gateway.PRESENCE_UPDATE and self.user is not None:
            await self._set_presence(d if isinstance(d, dict) else {})
        elif op in (gateway.VOICE_STATE_UPDATE, gateway.VOICE_ANSWER) and self.user is not None:
            await self._voice(op, d if isinstance(d, dict) else {})
        elif self.user is None:
            await self.close(code=gateway.CLOSE_NOT_AUTHENTICATED)
        else:
            await self.close(code=gateway.CLOSE_UNKNOWN_OPCODE)

    async def _authenticate(self, d: dict[str, Any]) -> Any:
        return await database_sync_to_async(gateway.authenticate)(
            token=d.get("token"),
            scope_user=self.scope.get("user"),
            cookie_auth=self.scope.get("cookie_auth", False),
        )

    async def _identify(self, d: dict[str, Any]) -> None:
        if self.user is not None:
            await self.close(code=gateway.CLOSE_ALREADY_AUTHENTICATED)
            return
        user = await self._authenticate(d)
        if user is None:
            await self.close(code=gateway.CLOSE_AUTHENTICATION_FAILED)
            return
        self.user = user
        self.session_id = uuid.uuid4().hex
        ready, groups = await database_sync_to_async(gateway.ready_state)(user, self.session_id)
        await self._join(groups)
        await self._dispatch("READY", ready)
        await database_sync_to_async(presence.connected)(user, self.channel_name)

    async def _resume(self, d: dict[str, Any]) -> None:
        if self.user is not None:
            await self.close(code=gateway.CLOSE_ALREADY_AUTHENTICATED)
            return
        user = await self._authenticate(d)
        if user is None:
            await self.close(code=gateway.CLOSE_AUTHENTICATION_FAILED)
            return
        try:
            groups, replay, have = await database_sync_to_async(gateway.resume)(
                user, d.get("session_id"), d.get("seq")
            )
        except gateway.ResumeRefused as refused:
            logger.info("resume refused: %s", refused)
            await self._send(gateway.INVALID_SESSION, False)
            return
        self.user, self.session_id, self.seq = user, d["session_id"], d["seq"]
        # What the client has counts as sent at or before its seq (kept for the next RESUME).
        self.sent = OrderedDict((event_id, self.seq) for event_id in sorted(have))
        # Listen first, then replay: anything published meanwhile is de-duplicated by id.
        await self._join(groups)
        for event in replay:
            await self._deliver(event.id, event.t, event.d)
        await self._dispatch("RESUMED", {"replayed": len(replay)})
        await database_sync_to_async(presence.connected)(user, self.channel_name)

    async def _join(self, groups: list[str]) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups

    async def _heartbeat(self) -> None:
        self._last_heartbeat = asyncio.get_running_loop().time()
        await self._send(gateway.HEARTBEAT_ACK, None)
        if self.user is None:
            return
        # Pull whatever the pub/sub layer may have dropped since the last heartbeat.
        since = self.catchup_from
        self.catchup_from = gateway.lookback_from(None, timezone.now())
        missed = await database_sync_to_async(gateway.missed_events)(
            self.groups_joined, since, set(self.sent)
        )
        for event in missed:
            await self._deliver(event.id, event.t, event.d)
        await self._save(connected=True)
        await database_sync_to_async(presence.heartbeat)(self.user, self.channel_name)

    async def _set_presence(self, d: dict[str, Any]) -> None:
        from united.errors import APIError

        try:
            await database_sync_to_async(presence.check_set_presence)(self.user, d)
        except APIError:
            await self.close(code=gateway.CLOSE_DECODE_ERROR)

    async def _voice(self, op: int, d: dict[str, Any]) -> None:
        from voice import gateway as voice_gateway

        voice_gateway.subscriber.ensure()
        t, payload = await database_sync_to_async(voice_gateway.handle)(
            self.user, self.session_id, op, d
        )
        if t is not None:
            await self._dispatch(t, payload)

    async def _save(self, *, connected: bool) -> None:
        pairs = [[seq, event_id] for event_id, seq in self.sent.items() if seq]
        await database_sync_to_async(gateway.save_session)(
            self.session_id, self.seq, pairs, connected=connected
        )

    async def _dispatch(self, t: str, d: Any) -> int:
        self.seq += 1
        await self._send(gateway.DISPATCH, d, t=t, s=self.seq)
        return self.seq

    async def _deliver(self, event_id: int | None, t: str, d: dict[str, Any]) -> None:
        if event_id is not None:
            if event_id in self.sent:
                return
            self.sent[event_id] = 0  # claimed before any await: no double send
        if not await self._allowed(t, d):
            return
        seq = await self._dispatch(t, d)
        if event_id is not None:
            self.sent[event_id] = seq
            while len(self.sent) > gateway.SENT_BUFFER:
                self.sent.popitem(last=False)

    async def _allowed(self, t: str, d: dict[str, Any]) -> bool:
        """Permission filter, evaluated per session when the event leaves, so a role or
        overwrite change takes effect on live connections at once."""
        guild_id = gateway.event_guild(d)
        if t in ("GUILD_CREATE", "GUILD_DELETE") and isinstance(d, dict) and d.get("id"):
            # Joined or left a guild: follow (or stop following) its group.
            guild_id = int(d["id"])
            group = gateway.events.guild_group(guild_id)
            self.visible.pop(guild_id, None)
            if t == "GUILD_CREATE":
                # A replayed (stale) GUILD_CREATE must not re-join a guild the user has
                # since been banned or kicked from.
                if not await database_sync_to_async(gateway.is_member)(self.user, guild_id):
                    return False
                self.revoked.discard(guild_id)
            if t == "GUILD_CREATE" and group not in self.groups_joined:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups_joined.append(group)
            elif t == "GUILD_DELETE" and group in self.groups_joined:
                if not await database_sync_to_async(gateway.is_member)(self.user, guild_id):
                    await self.channel_layer.group_discard(group, self.channel_name)
                    self.groups_joined.remove(group)
            return True
        if guild_id is None:
            return True
        if guild_id in self.revoked:
            return False
        channel_id = gateway.event_channel(t, d)
        was_visible = channel_id in self.visible.get(guild_id, ()) if channel_id else False
        if t in gateway.VISIBILITY_EVENTS:
            self.visible.pop(guild_id, None)
        if guild_id not in self.visible:
            self.visible[guild_id] = await database_sync_to_async(gateway.visible_channels)(
                self.user, guild_id
            )
            if not self.visible[guild_id] and not await database_sync_to_async(gateway.is_member)(
                self.user, guild_id
            ):
                return False  # no longer a member: nothing of this guild
        if channel_id is None:
            return True
        if t in ("CHANNEL_DELETE",):
            return was_visible
        return channel_id in self.visible[guild_id]

    async def gateway_revoke_guild(self, event: dict[str, Any]) -> None:
        """Banned or kicked: drop the guild's group and everything of it still in flight."""
        guild_id = int(event["guild_id"])
        self.revoked.add(guild_id)
        self.visible.pop(guild_id, None)
        group = gateway.events.guild_group(guild_id)
        if group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.remove(group)

    async def gateway_disconnect(self, event: dict[str, Any]) -> None:
        """The account was deactivated: its sessions end now."""
        await self.close(code=gateway.CLOSE_AUTHENTICATION_FAILED)

    async def gateway_dispatch(self, event: dict[str, Any]) -> None:
        if self.user is None:
            return
        await self._deliver(event.get("event_id"), event["t"], event["d"])
