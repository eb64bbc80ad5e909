"""The realtime gateway: one WebSocket per client at /gateway, Discord-shaped frames.

    server → HELLO {heartbeat_interval}
    client → IDENTIFY {token?}              (the session cookie counts when the Origin is ours)
    server → DISPATCH READY {session_id, user}
    client → HEARTBEAT, server → HEARTBEAT_ACK
    server → DISPATCH {t, d, s} for every event of the groups the session follows
    client → RESUME {session_id, seq}       after a reconnect; missed events are replayed

Events reach the socket through the process's hub (messaging/hub.py), which encodes each event
once, filters it by an in-memory permission snapshot and records what went out under which
sequence number before it leaves (messaging/gateway_sessions.py). RESUME, on any process,
replays from the stored events what came after the client's last sequence. The socket closes
when the session it was opened with ends (sign-out, password change, revoke, account closed)
and when its access token expires; docs/gateway.md lists the close codes and the limits on
what a client may send.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from accounts.services.tokens import SESSION_ID_KEY
from messaging import gateway, ports, presence
from messaging.gateway_sessions import SessionState, store
from messaging.hub import Hub
from united.jsonbody import JSONBodyError, loads_client_json
from united.wsframes import SlowConsumer

logger = logging.getLogger(__name__)
# user id → times of recent IDENTIFY/RESUMEs (a list, not a deque: a deque is ~0.7 KiB each)
_identifies: dict[int, list[float]] = {}


def _db(fn: Any) -> Any:
    # Off the single thread that database_sync_to_async uses by default: a reconnect storm's
    # thousand IDENTIFYs must not queue behind each other and every request of the process.
    return database_sync_to_async(fn, thread_sensitive=False)


async def _presence(action: Any, user: Any, conn_id: str) -> None:
    # Presence lives in Redis in production: while Redis restarts, a heartbeat must not take
    # the socket down with it (the member shows offline for a moment, then online again).
    try:
        await _db(action)(user, conn_id)
    except Exception:
        logger.warning("gateway: presence %s failed", action.__name__, exc_info=True)


class GatewayConsumer(AsyncWebsocketConsumer):
    # No channel-layer inbox per socket: the process's hub delivers to it (messaging/hub.py).
    channel_layer_alias = "gateway-sockets-use-the-hub"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' own loop, less what an idle socket paid for with nothing in return: a
        task and an `asyncio.wait` per socket to read one source (there is no channel-layer
        inbox), and `close_old_connections` on the request thread for every frame (the
        gateway's database work runs on worker threads, which manage their own
        connections)."""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                message = await receive()
                handler = getattr(self, get_handler_name(message), None)
                if handler is None:
                    raise ValueError(f"No handler for message type {message['type']}")
                await handler(message)
        except StopConsumer:
            pass

    async def connect(self) -> None:
        self.user: Any = None
        self.user_id = 0
        self.session_id = ""
        self.auth_session_id: str | None = None
        self.conn_id = uuid.uuid4().hex
        self.seq = 0
        self.sent: dict[int, int] = {}  # event id → seq, oldest first
        self.resuming = False
        self.in_ready: set[int] = set()  # set by the hub (attach, before_ready)
        self.hub = Hub.current()
        self.closed = False
        self._held: list[str] | None = None  # frames that wait for READY
        self._send_text = self.scope.get("united.send_text")
        self._window = (0.0, 0)  # (start, frames) of the current rate window
        self._expiry: asyncio.TimerHandle | None = None
        self.last_heartbeat = time.monotonic()
        await self.accept()
        interval = settings.GATEWAY_HEARTBEAT_INTERVAL_MS
        await self._send(gateway.HELLO, {"heartbeat_interval": interval})
        # The hub closes sockets that stop heartbeating (one sweep for all, not a task each).
        self.hub.watch(self)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        self.hub.unwatch(self)
        if self._expiry is not None:
            self._expiry.cancel()
        await self.hub.detach(self)
        if self.session_id:
            await store().touch(self.session_id, connected=False, conn_id=self.conn_id)
            await _presence(presence.disconnected, self.user, self.conn_id)

    # --- what the hub calls -------------------------------------------------------------

    async def push(self, frame: str) -> None:
        if self._held is not None:
            self._held.append(frame)
        else:
            await self._write(frame)

    async def _write(self, frame: str) -> None:
        if self.closed:
            return
        if self._send_text is not None:
            try:
                self._send_text(frame)  # straight to the socket (united/wsframes.py)
            except SlowConsumer:
                logger.info("gateway: closing a socket that stopped reading")
                await self.end(gateway.CLOSE_SLOW_CONSUMER)
        else:
            await self.send(text_data=frame)

    async def end(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            await self.hub.detach(self)
            await self.close(code=code)

    async def follow_guild(self, guild_id: int, joined: bool) -> None:
        group = gateway.events.guild_group(guild_id)
        if joined:
            await self.hub.follow(self, group)
        else:
            await self.hub.unfollow(self, group)

    async def resumed(self, replayed: int) -> None:
        await self._dispatch("RESUMED", {"replayed": replayed})

    # --- what the client sends ----------------------------------------------------------

    async def _send(self, op: int, d: Any, t: str | None = None, s: int | None = None) -> None:
        await self._write(json.dumps({"op": op, "d": d, "s": s, "t": t}))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data or b""
        size = len(raw.encode()) if isinstance(raw, str) else len(raw)
        if size > gateway.MAX_FRAME_BYTES:
            logger.info("gateway: closing a socket that sent a %d-byte frame", size)
            await self.end(gateway.CLOSE_DECODE_ERROR)
            return
        # A fixed 60 s window: two words per socket instead of a timestamp per frame.
        now = time.monotonic()
        start, count = self._window
        self._window = (start, count + 1) if now - start < 60 else (now, 1)
        if self._window[1] > gateway.FRAMES_PER_MINUTE:
            await self.end(gateway.CLOSE_RATE_LIMITED)
            return
        try:
            frame = loads_client_json(raw)
        except (JSONBodyError, ValueError, UnicodeDecodeError) as refused:
            logger.info("gateway: closing a socket that sent a frame that is not JSON: %s", refused)
            await self.end(gateway.CLOSE_DECODE_ERROR)
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("op"), int):
            logger.info("gateway: closing a socket that sent a frame without an integer op")
            await self.end(gateway.CLOSE_DECODE_ERROR)
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
        elif op == gateway.SEND_MESSAGE and self.user is not None:
            # Judged and written by the hub; the answer (op 41) comes when it is stored.
            self.hub.submit(self, d)
        elif (
            op in (gateway.VOICE_STATE_UPDATE, gateway.VOICE_ANSWER, gateway.VOICE_CANDIDATE)
            and self.user is not None
            and (voice := ports.voice_ops()) is not None
        ):
            await self._voice(voice, op, d if isinstance(d, dict) else {})
        elif self.user is None:
            await self.end(gateway.CLOSE_NOT_AUTHENTICATED)
        elif not await self._other_op(op, d):
            await self.end(gateway.CLOSE_UNKNOWN_OPCODE)

    async def _authenticate(self, d: dict[str, Any]) -> Any:
        """The user, or None after closing the socket with the reason."""
        if self.user is not None:
            await self.end(gateway.CLOSE_ALREADY_AUTHENTICATED)
            return None
        user, auth_session_id, expires_at = await self._credentials(d)
        if user is None:
            await self.end(gateway.CLOSE_AUTHENTICATION_FAILED)
            return None
        now = time.monotonic()
        recent = _identifies[user.id] = [t for t in _identifies.get(user.id, ()) if t >= now - 60]
        if len(recent) >= gateway.IDENTIFIES_PER_MINUTE:
            await self.end(gateway.CLOSE_RATE_LIMITED)
            return None
        if self.hub.sessions_of(user.id) >= gateway.MAX_SESSIONS_PER_USER:
            await self.end(gateway.CLOSE_TOO_MANY_SESSIONS)
            return None
        recent.append(now)
        self.auth_session_id = auth_session_id
        if expires_at is not None:
            delay = max(0.0, (expires_at - timezone.now()).total_seconds())
            self._expiry = asyncio.get_running_loop().call_later(
                delay, lambda: asyncio.ensure_future(self.end(gateway.CLOSE_TOKEN_EXPIRED))
            )
        return user

    async def _other_op(self, op: int, d: Any) -> bool:
        """An opcode only a subclass speaks (the bot gateway's REQUEST_GUILD_MEMBERS)."""
        return False

    async def _credentials(self, d: dict[str, Any]) -> tuple[Any, str | None, Any]:
        """(user, the AuthSession the socket lives by, when its token expires), or Nones.
        The Discord-compatible bot gateway (bots/consumers.py) reads a bot token instead."""
        session = self.scope.get("session")
        return await _db(gateway.authenticate)(
            token=d.get("token"),
            scope_user=self.scope.get("user"),
            cookie_auth=self.scope.get("cookie_auth", False),
            auth_session_id=session.get(SESSION_ID_KEY) if session is not None else None,
        )

    async def _identify(self, d: dict[str, Any]) -> None:
        user = await self._authenticate(d)
        if user is None:
            return
        self.user, self.user_id, self.session_id = user, user.id, uuid.uuid4().hex
        await store().create(
            SessionState(
                session_id=self.session_id,
                user_id=user.id,
                started_at=time.time(),
                owner=self.conn_id,
            )
        )
        # Follow first, then read: an event committed after this reaches the socket (held
        # until READY has gone out as seq 1), one committed before is in READY.
        self.seq, self._held = 1, []
        groups = await _db(gateway.session_groups)(user)
        await self.hub.attach(self, groups)
        await self.hub.before_ready(self, groups)
        ready, _groups = await _db(gateway.ready_state)(user, self.session_id)
        await self._send(gateway.DISPATCH, ready, t="READY", s=1)
        held, self._held = self._held, None
        for frame in held:
            await self.push(frame)
        await _presence(presence.connected, user, self.conn_id)

    async def _resume(self, d: dict[str, Any]) -> None:
        session_id, seq = d.get("session_id"), d.get("seq")
        if not isinstance(session_id, str) or not isinstance(seq, int) or seq < 0:
            await self._send(gateway.INVALID_SESSION, False)
            return
        user = await self._authenticate(d)
        if user is None:
            return
        state = await store().load(session_id)
        try:
            gateway.check_resume(state, user, seq)
            assert state is not None
            groups, since = await _db(gateway.resume)(user, state, seq)
        except gateway.ResumeRefused as refused:
            logger.info("resume refused: %s", refused)
            self.auth_session_id = None
            await self._send(gateway.INVALID_SESSION, False)
            return
        self.user, self.user_id, self.session_id, self.seq = user, user.id, session_id, seq
        # What the client has counts as sent at or before its seq (kept for the next RESUME).
        kept = [(s, event_id) for s, event_id in state.sent if s <= seq]
        self.sent = {event_id: s for s, event_id in kept}
        # This socket owns the session now; another socket of it still alive somewhere (its
        # process overloaded, its close not yet seen) records where nobody reads.
        await store().take_over(session_id, self.conn_id, kept)
        # Listen first, then read what was missed: the hub holds this socket's live events
        # until the replay, read from the store after the subscription, has been sent (so an
        # event published between the two is neither lost nor out of order), and drops by id
        # what the replay already sent.
        self.resuming = True
        await self.hub.attach(self, groups)
        # Read on the request threads, not the hub's: a thousand RESUMEs at once must not
        # hold every other socket's delivery behind their queries.
        rows = await _db(gateway.missed_events)(groups, since, set(self.sent))
        self.hub.replay(self, rows, then_resumed=True)
        await _presence(presence.connected, user, self.conn_id)

    async def _heartbeat(self) -> None:
        self.last_heartbeat = time.monotonic()
        await self._send(gateway.HEARTBEAT_ACK, None)
        if self.user is None:
            return
        # No database here: the hub pulls stored events it may have missed, once for all.
        self.hub.want_catchup()
        await store().touch(self.session_id, connected=True, conn_id=self.conn_id)
        await _presence(presence.heartbeat, self.user, self.conn_id)

    async def _set_presence(self, d: dict[str, Any]) -> None:
        from united.errors import APIError

        try:
            await _db(presence.check_set_presence)(self.user, d)
        except APIError as refused:
            logger.info("gateway: closing a socket that sent a bad presence: %s", refused)
            await self.end(gateway.CLOSE_DECODE_ERROR)

    async def _voice(self, voice: ports.VoiceOps, op: int, d: dict[str, Any]) -> None:
        voice.prepare()
        t, payload = await database_sync_to_async(voice.handle)(self.user, self.session_id, op, d)
        if t is not None:
            await self._dispatch(t, payload)

    async def _dispatch(self, t: str, d: Any) -> int:
        self.seq += 1
        await self._send(gateway.DISPATCH, d, t=t, s=self.seq)
        return self.seq
