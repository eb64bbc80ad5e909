"""One fan-out hub per web process: how a published event reaches that process's sockets.

A message in a 1,000-member channel is one event and a thousand sockets. Done per socket (a
channel-layer inbox per consumer, a JSON encoding and a permission query per connection) it
arrived 14 s late (docs/performance.md). The hub does the per-event work once:

- It holds one Redis pub/sub connection (united/bus.py) and subscribes each group
  (`user.<id>`, `guild.<id>`) once, however many local sockets follow it: one message per
  group per process. In the embedded mode publishers hand events to the hub's loop directly.
- It encodes each event's payload once; a socket's frame is that text with its own sequence
  number spliced in.
- It decides visibility from a per-guild snapshot held in memory (user id → channel ids they
  may see), built with a fixed number of queries for all local members of the guild and
  dropped when a role, overwrite, member or channel event of that guild passes through.
- Its database work (snapshots, catch-up) runs on its own small thread pool, never on the
  single thread that `database_sync_to_async` uses for requests, and never per heartbeat.
- Before frames leave, it records (seq, event id) for every receiving session in the session
  store (gateway_sessions), so RESUME on any process replays exactly what a client missed.
- It is also the gateway's send door (op 40, messaging/sending.py): a message sent on a
  member's socket is authorised from the same snapshot (which holds each member's permission
  bits per channel, not only which channels) and the guild's moderation gate held beside it,
  then written by the process's one writer thread through the same `check_send_message` the
  REST API calls. Sends pass through the hub's queue like events, so a send handled after a
  role, overwrite, member or channel event is judged by the state that event announced.

Events are handled one at a time in publish order, so every socket sees them in that order.
A pub/sub message lost in a Redis blip is not lost: every event is stored with its change
(events.broadcast), and the hub pulls stored events it has not seen every few seconds (sooner
when a heartbeat asks), skipping what each session already has.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from django.db import close_old_connections, connection
from django.db.utils import DatabaseError
from django.utils import timezone

from messaging import gateway
from messaging.gateway_sessions import SENT_BUFFER, store
from united import bus, events

logger = logging.getLogger(__name__)

# Pull stored events at least this often, and at most this often when heartbeats ask.
CATCHUP_EVERY = 10.0
CATCHUP_AT_MOST = 1.0
# Attaches this close together share one snapshot query per guild.
WARM_AFTER = 0.2
REPLAY = "gateway.replay"  # internal: stored events for one socket (IDENTIFY, RESUME)
SEND = "gateway.send"  # internal: a message a socket sent (op 40)

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gateway-hub")
# Subscribing is a blocking write on the bus connection: never on the event loop's thread.
_bus_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-bus")
# Messages sent on sockets are written by one thread, one after another in the order they
# came: no two of this process's writes wait on each other's locks, and a nonce retried on
# the same process meets the first write already committed.
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-writer")


def _in_db_thread(fn: Any, *args: Any) -> Any:
    """Run `fn` on the hub's pool with a connection kept open between calls (opening one per
    call was a fifth of the node's CPU under load); a broken connection is reopened once."""
    try:
        return fn(*args)
    except DatabaseError:
        close_old_connections()
        connection.close()
        return fn(*args)


class Conn(Protocol):
    user: Any
    user_id: int
    session_id: str
    conn_id: str
    auth_session_id: str | None
    seq: int
    sent: dict[int, int]
    last_heartbeat: float
    floor: int
    resuming: bool  # attached, its RESUME's replay not yet sent: the hub holds its live events
    in_ready: set[int]  # stored events its READY reflects: never sent to it afterwards

    async def push(self, frame: str) -> None: ...

    async def end(self, code: int) -> None: ...

    async def resumed(self, replayed: int) -> None: ...

    async def follow_guild(self, guild_id: int, joined: bool) -> None: ...


class Hub:
    _hubs: dict[asyncio.AbstractEventLoop, Hub] = {}
    _lock = threading.Lock()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.groups: dict[str, set[Conn]] = defaultdict(set)
        self.by_auth: dict[str, set[Conn]] = defaultdict(set)
        self.conns: set[Conn] = set()
        self.followed: dict[Conn, set[str]] = defaultdict(set)  # a socket's groups
        self.per_user: dict[int, int] = defaultdict(int)
        # guild id → user id → MemberView (the channels they see, with their permission bits)
        # or None for someone who is not a member; beside it the rows it was computed from
        # (GuildView), the guild's moderation gate, and which guild each channel is in.
        self.snapshots: dict[int, dict[int, Any]] = {}
        self.views: dict[int, Any] = {}
        self.gates: dict[int, Any] = {}
        self.channel_guild: dict[int, int] = {}
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # Production: the process's event-bus subscription (a thread of its own).
        self.bus = bus.listener(Hub.hand_over, Hub.catch_up_everywhere) if bus.enabled() else None
        self.seen: dict[int, float] = {}  # event ids handled lately (catch-up skips them)
        self._catchup_from = gateway.lookback_from(None, timezone.now())
        self._catchup_wanted = asyncio.Event()
        self.watched: set[Conn] = set()
        self.held: dict[Conn, list[tuple[str, Any, int | None]]] = {}  # resuming sockets'
        self._to_warm: set[int] = set()  # guilds whose snapshot lacks newly attached members
        self._warming: asyncio.TimerHandle | None = None
        self._tasks = [
            loop.create_task(self._run()),
            loop.create_task(self._catchup_loop()),
            loop.create_task(self._sweep_silent()),
        ]

    # --- which hub -----------------------------------------------------------------------

    @classmethod
    def current(cls) -> Hub:
        loop = asyncio.get_running_loop()
        with cls._lock:
            hub = cls._hubs.get(loop)
            if hub is None:
                for old in [old for old in cls._hubs if old.is_closed()]:
                    del cls._hubs[old]
                hub = cls._hubs[loop] = Hub(loop)
            return hub

    @classmethod
    def hand_over(cls, group: str, message: dict[str, Any]) -> None:
        """Embedded mode: a publisher (any thread) gives an event to every hub of the process."""
        with cls._lock:
            hubs = list(cls._hubs.values())
        for hub in hubs:
            if hub.loop.is_closed():
                continue
            try:
                hub.loop.call_soon_threadsafe(hub.queue.put_nowait, dict(message, group=group))
            except RuntimeError:  # the loop closed meanwhile
                pass

    @classmethod
    def catch_up_everywhere(cls) -> None:
        """The bus reconnected: what passed meanwhile is only in the store."""
        with cls._lock:
            hubs = list(cls._hubs.values())
        for hub in hubs:
            try:
                # What was held may have changed unannounced meanwhile: read it again.
                hub.loop.call_soon_threadsafe(hub.drop_all)
                hub.loop.call_soon_threadsafe(hub.want_catchup)
            except RuntimeError:  # that loop closed
                pass

    # --- sockets come and go -------------------------------------------------------------

    async def attach(self, conn: Conn, groups: list[str]) -> None:
        # The catch-up brings a socket only events from about when it started following:
        # anything older was in its READY (or is its RESUME's to replay).
        conn.floor = gateway.lookback_from(None, timezone.now())
        conn.in_ready = set()
        self.conns.add(conn)
        self.per_user[conn.user_id] += 1
        for group in groups:
            await self.follow(conn, group)
        if conn.auth_session_id:
            self.by_auth[conn.auth_session_id].add(conn)

    async def before_ready(self, conn: Conn, groups: list[str]) -> None:
        """Call after `attach`, right before reading READY: the stored events of its groups
        visible now are in the READY about to be read, so none of them goes to this socket
        afterwards. Without this, the catch-up sent a new session every event of the last
        COMMIT_GRACE seconds in groups this process had not followed before (in production
        each process hears only the groups its sockets follow): a member already listed in
        GUILD_CREATE came again as GUILD_MEMBER_ADD, which discord.js counts twice."""
        conn.in_ready = await self.db(gateway.stored_ids_since, groups, conn.floor)

    def sessions_of(self, user_id: int) -> int:
        return self.per_user.get(user_id, 0)

    def replay(self, conn: Conn, rows: list[Any], *, then_resumed: bool = False) -> None:
        """Queue a RESUME's replay (stored events the socket missed, read once it listened)
        behind what the hub is already delivering."""
        self.queue.put_nowait(
            {"type": REPLAY, "conn": conn, "rows": rows, "then_resumed": then_resumed}
        )

    async def follow(self, conn: Conn, group: str) -> None:
        members = self.groups[group]
        if not members and self.bus is not None:
            try:
                await self.loop.run_in_executor(_bus_executor, self.bus.add, group)
            except Exception:  # the listener reconnects and subscribes every group again
                logger.warning("gateway hub: subscribe %s failed", group, exc_info=True)
        members.add(conn)
        self.followed[conn].add(group)
        if group.startswith("guild."):
            self._warm_soon(int(group.split(".", 1)[1]))

    def _warm_soon(self, guild_id: int) -> None:
        """Fill the guild's permission snapshot for sockets that just started following it, in
        the background: built when the first event arrived instead, a 1,000-member guild's
        snapshot held that event (and everything queued behind it) for ~100 ms after a
        reconnect wave. Batched: one query per guild for all sockets attached meanwhile."""
        self._to_warm.add(guild_id)
        if self._warming is None:
            self._warming = self.loop.call_later(
                WARM_AFTER, lambda: self.loop.create_task(self._warm())
            )

    async def _warm(self) -> None:
        guild_ids, self._to_warm, self._warming = self._to_warm, set(), None
        from guilds.services.access import guild_permissions

        for guild_id in guild_ids:
            snapshot = self.snapshots.setdefault(guild_id, {})
            conns = self.groups.get(f"guild.{guild_id}", ())
            missing = sorted({c.user_id for c in conns} - snapshot.keys())
            if not missing:
                continue
            try:
                view, found = await self.db(guild_permissions, guild_id, missing)
            except Exception:  # the first event builds it then, as without warming
                logger.warning("gateway hub: warming guild %s failed", guild_id, exc_info=True)
                continue
            # A role, overwrite, member or channel event handled meanwhile dropped the snapshot
            # this was read for: its replacement is built from the newer state, not this.
            if self.snapshots.get(guild_id) is snapshot:
                self._hold_view(guild_id, view)
                for user_id in missing:
                    snapshot.setdefault(user_id, found.get(user_id))

    def _hold_view(self, guild_id: int, view: Any) -> None:
        if view is None:
            return
        self.views[guild_id] = view
        for channel_id in view.channels:
            self.channel_guild[channel_id] = guild_id

    def drop(self, guild_id: int) -> None:
        """Forget what is held for a guild: the next event or send reads it again."""
        self.snapshots.pop(guild_id, None)
        self.views.pop(guild_id, None)
        self.gates.pop(guild_id, None)

    def drop_all(self) -> None:
        self.snapshots.clear()
        self.views.clear()
        self.gates.clear()

    async def unfollow(self, conn: Conn, group: str) -> None:
        self.followed.get(conn, set()).discard(group)
        members = self.groups.get(group)
        if members is None:
            return
        members.discard(conn)
        if not members:
            del self.groups[group]
            if self.bus is not None:
                try:
                    await self.loop.run_in_executor(_bus_executor, self.bus.discard, group)
                except Exception:
                    logger.warning("gateway hub: unsubscribe %s failed", group, exc_info=True)

    async def detach(self, conn: Conn) -> None:
        self.held.pop(conn, None)
        if conn in self.conns:
            self.conns.discard(conn)
            self.per_user[conn.user_id] -= 1
            if self.per_user[conn.user_id] <= 0:
                del self.per_user[conn.user_id]
        for group in list(self.followed.pop(conn, ())):
            await self.unfollow(conn, group)
        if conn.auth_session_id:
            self.by_auth.get(conn.auth_session_id, set()).discard(conn)
            if not self.by_auth.get(conn.auth_session_id):
                self.by_auth.pop(conn.auth_session_id, None)

    def watch(self, conn: Conn) -> None:
        self.watched.add(conn)

    def unwatch(self, conn: Conn) -> None:
        self.watched.discard(conn)

    async def _sweep_silent(self) -> None:
        """Close sockets that stopped heartbeating (a sleeping laptop, a dead NAT mapping),
        so their clients reconnect and resume instead of sitting on a half-open socket."""
        from django.conf import settings

        interval = settings.GATEWAY_HEARTBEAT_INTERVAL_MS / 1000
        while True:
            await asyncio.sleep(min(interval / 2, 10))
            cutoff = time.monotonic() - interval * 1.5
            for conn in [c for c in self.watched if c.last_heartbeat < cutoff]:
                self.watched.discard(conn)
                await conn.end(gateway.CLOSE_SESSION_TIMED_OUT)

    def want_catchup(self) -> None:
        self._catchup_wanted.set()

    # --- events in ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            message = await self.queue.get()
            try:
                await self.handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("gateway hub: event %s not delivered", message.get("t"))

    async def _catchup_loop(self) -> None:
        last = 0.0
        while True:
            try:
                await asyncio.wait_for(self._catchup_wanted.wait(), CATCHUP_EVERY)
            except TimeoutError:
                pass
            wait = CATCHUP_AT_MOST - (time.monotonic() - last)
            if wait > 0:
                await asyncio.sleep(wait)
            self._catchup_wanted.clear()
            last = time.monotonic()
            if not self.groups:
                continue
            since = self._catchup_from
            self._catchup_from = gateway.lookback_from(None, timezone.now())
            try:
                rows = await self.db(gateway.stored_events_since, since)
            except Exception:
                logger.warning("gateway hub: catch-up failed", exc_info=True)
                continue
            for event_id, group, t, d in rows:
                if group in self.groups and event_id not in self.seen:
                    self.queue.put_nowait(
                        {
                            "type": events.DISPATCH,
                            "group": group,
                            "t": t,
                            "d": d,
                            "event_id": event_id,
                            "catchup": True,
                        }
                    )
            horizon = time.monotonic() - 120
            self.seen = {e: at for e, at in self.seen.items() if at > horizon}

    async def db(self, fn: Any, *args: Any) -> Any:
        return await self.loop.run_in_executor(_executor, _in_db_thread, fn, *args)

    # --- events out ---------------------------------------------------------------------

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        group = message.get("group", "")
        if kind == REPLAY:
            await self._replay(message)
            return
        if kind == events.END_AUTH_SESSION:
            for conn in list(self.by_auth.get(str(message["auth_session"]), ())):
                await conn.end(gateway.CLOSE_SESSION_ENDED)
            return
        conns = list(self.groups.get(group, ()))
        if kind == events.DISCONNECT:
            for conn in conns:
                await conn.end(gateway.CLOSE_SESSION_ENDED)
            return
        if kind == events.REVOKE_GUILD:
            guild_id = int(message["guild_id"])
            for conn in conns:
                await conn.follow_guild(guild_id, False)
            self.drop(guild_id)
            return
        if kind == events.GUILD_CHANGED:
            self.drop(int(message["guild_id"]))
            return
        if kind == SEND:
            await self._accept(message["conn"], message["d"])
            return
        if kind != events.DISPATCH:
            return
        event_id = message.get("event_id")
        if event_id is not None:
            self.seen[event_id] = time.monotonic()
            if message.get("catchup"):
                conns = [c for c in conns if event_id >= c.floor]
        await self.deliver(conns, message["t"], message["d"], event_id)

    async def _replay(self, message: dict[str, Any]) -> None:
        conn: Conn = message["conn"]
        if conn not in self.conns:
            return  # closed meanwhile
        # The replay was read from the store after the socket started listening; what the hub
        # held for it meanwhile follows, less what the replay already had (by event id).
        conn.resuming = False
        sent = 0
        for row in message["rows"]:
            sent += await self.deliver([conn], row.t, row.d, row.id)
        for t, d, event_id in self.held.pop(conn, []):
            sent += await self.deliver([conn], t, d, event_id)
        if message["then_resumed"]:
            await conn.resumed(sent)

    async def deliver(self, conns: list[Conn], t: str, d: Any, event_id: int | None) -> int:
        """Send one event to those of `conns` who may see it, each under its next seq."""
        guild_id = gateway.event_guild(d)
        before = self.snapshots.get(guild_id) if guild_id is not None else None
        audience = await self.audience(conns, t, d)
        sent = await self.send(audience, t, d, event_id)
        if t == "CHANNEL_UPDATE" and before:
            sent += await self.lost_sight(conns, audience, d, before)
        return sent

    async def lost_sight(
        self, conns: list[Conn], audience: list[Conn], d: Any, before: dict[int, Any]
    ) -> int:
        """Those who saw the channel before this update and no longer may (an overwrite or a
        move took VIEW_CHANNEL away) hear that it is gone for them: a CHANNEL_DELETE carrying
        only what they knew (id, guild, type, parent), never the channel's new state. It is
        not stored, like a delete would be for them: a session that resumes past it redraws
        its channel list from READY or the page."""
        channel_id = gateway.event_channel("CHANNEL_UPDATE", d)
        kept = set(audience)
        lost = [c for c in conns if c not in kept and channel_id in (before.get(c.user_id) or ())]
        if not lost:
            return 0
        gone = {k: d.get(k) for k in ("id", "guild_id", "type", "parent_id") if k in d}
        return await self.send(lost, "CHANNEL_DELETE", gone, None)

    async def send(self, audience: list[Conn], t: str, d: Any, event_id: int | None) -> int:
        if not audience:
            return 0
        payload = json.dumps(d, separators=(",", ":"))
        head = '{"op":0,"t":' + json.dumps(t) + ',"s":'
        tail = ',"d":' + payload + "}"
        frames: list[tuple[Conn, str]] = []
        pairs: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for conn in audience:
            if conn.resuming:
                # Held until its replay is out; sent after it unless the replay had it.
                self.held.setdefault(conn, []).append((t, d, event_id))
                continue
            if event_id is not None:
                if event_id in conn.sent or event_id in conn.in_ready:
                    continue
                conn.sent[event_id] = conn.seq + 1
                if len(conn.sent) > SENT_BUFFER:
                    del conn.sent[next(iter(conn.sent))]
            conn.seq += 1
            if event_id is not None:
                pairs[(conn.session_id, conn.conn_id)] = [(conn.seq, event_id)]
            frames.append((conn, head + str(conn.seq) + tail))
        if pairs:
            await store().record(pairs)
        for conn, frame in frames:
            try:
                await conn.push(frame)
            except Exception:  # that socket closed under us: the others still get theirs
                logger.debug("gateway hub: push to a closed socket", exc_info=True)
        return len(frames)

    async def audience(self, conns: list[Conn], t: str, d: Any) -> list[Conn]:
        guild_id = gateway.event_guild(d)
        if t in ("GUILD_CREATE", "GUILD_DELETE") and isinstance(d, dict) and d.get("id"):
            # Joined or left a guild: the user's sessions follow (or stop following) its group.
            guild_id = int(d["id"])
            self.drop(guild_id)
            member = await self.db(gateway.is_member_ids, [c.user_id for c in conns], guild_id)
            kept = []
            for conn in conns:
                joined = conn.user_id in member
                if t == "GUILD_CREATE" and not joined:
                    continue  # a stale replay must not re-join a guild the user has left
                await conn.follow_guild(guild_id, joined)
                kept.append(conn)
            return kept
        if guild_id is None:
            return conns
        channel_id = gateway.event_channel(t, d)
        before = self.snapshots.get(guild_id)
        if t in gateway.VISIBILITY_EVENTS:
            self.drop(guild_id)
        snapshot = await self.snapshot(guild_id, {c.user_id for c in conns})
        if t == "CHANNEL_DELETE":
            # The channel is gone from the new snapshot: those who could see it hear of it.
            old = before or {}
            return [c for c in conns if channel_id in (old.get(c.user_id) or ())]
        if channel_id is None:
            return [c for c in conns if snapshot.get(c.user_id) is not None]
        return [c for c in conns if channel_id in (snapshot.get(c.user_id) or ())]

    async def snapshot(
        self, guild_id: int, user_ids: set[int], *, with_view: bool = False
    ) -> dict[int, Any]:
        """user id → MemberView (`in` asks whether they see a channel), or None for someone
        who is not a member. `with_view`: the guild's rows (GuildView) are needed too."""
        from guilds.services.access import guild_permissions

        snapshot = self.snapshots.setdefault(guild_id, {})
        missing = user_ids - snapshot.keys()
        if with_view and guild_id not in self.views:
            missing = set(user_ids)  # the rows the send door decides from must be current
        if missing:
            view, found = await self.db(guild_permissions, guild_id, sorted(missing))
            if self.snapshots.get(guild_id) is not snapshot:
                # Dropped by an event while this was read (only a send reads outside the
                # queue's order): build from the newer state instead.
                return await self.snapshot(guild_id, user_ids, with_view=with_view)
            self._hold_view(guild_id, view)
            for user_id in missing:
                snapshot[user_id] = found.get(user_id)
        return snapshot

    # --- the send door (op 40) ----------------------------------------------------------

    def submit(self, conn: Conn, d: Any) -> None:
        """A message sent on `conn`: judged in the queue's order, among the events."""
        self.queue.put_nowait({"type": SEND, "conn": conn, "d": d})

    async def _accept(self, conn: Conn, d: Any) -> None:
        from messaging import sending
        from united.errors import APIError

        if conn not in self.conns:
            return  # closed meanwhile
        try:
            request = sending.parse(d)
            access, gate = await self._send_context(conn, request.channel_id)
        except APIError as refused:
            await conn.push(sending.refused(d, refused))
            return
        # Not awaited: the queue goes on delivering while the writer writes.
        self.loop.create_task(self._write(conn, request, access, gate))

    async def _send_context(self, conn: Conn, channel_id: int) -> tuple[Any, Any]:
        """The member's ChannelAccess and the guild's gate, from memory (a snapshot is read
        once when missing), or (None, None) when this process holds nothing for the channel
        (a DM, a guild the socket does not follow, a channel not yet seen): then the service
        reads them itself, exactly as for REST."""
        guild_id = self.channel_guild.get(channel_id)
        if guild_id is None or f"guild.{guild_id}" not in self.followed.get(conn, ()):
            return None, None
        snapshot = await self.snapshot(guild_id, {conn.user_id}, with_view=True)
        member, view = snapshot.get(conn.user_id), self.views.get(guild_id)
        if member is None or view is None:
            return None, None
        access = view.channel_access(conn.user, member, channel_id)
        gate = self.gates.get(guild_id)
        if gate is None or not gate.fresh():
            from messaging import ports

            snapshot_then = self.snapshots.get(guild_id)
            gate = await self.db(ports.guild_gate, guild_id)
            if gate is not None and self.snapshots.get(guild_id) is snapshot_then:
                self.gates[guild_id] = gate
        return access, gate

    async def _write(self, conn: Conn, request: Any, access: Any, gate: Any) -> None:
        from messaging import sending

        try:
            frame = await self.loop.run_in_executor(
                _writer, _in_db_thread, sending.write, conn.user, request, access, gate
            )
        except Exception:
            logger.exception("gateway hub: a socket's message could not be written")
            frame = sending.unavailable(request)
        if conn in self.conns:
            await conn.push(frame)
