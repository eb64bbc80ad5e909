"""Gateway protocol constants and the services the consumer calls (all synchronous; the
consumer wraps them in database_sync_to_async)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from messaging.gateway_sessions import SessionState
from messaging.models import GatewayEvent
from united import events
from united.ids import snowflake_at, snowflake_time

# Opcodes (Discord's numbering).
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
RESUME = 6
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11
VOICE_STATE_UPDATE = 4  # join / move / leave voice, self mute and deafen (Discord's op)
VOICE_ANSWER = 30  # ours: the client's SDP answer to the voice worker's offer
VOICE_CANDIDATE = 31  # ours: one of the client's ICE candidates, trickled after its answer
SEND_MESSAGE = 40  # ours: a message sent on the socket (messaging/sending.py)
SEND_RESULT = 41  # ours: the answer to SEND_MESSAGE, by nonce: the message or the error

# Close codes (Discord's numbering).
CLOSE_UNKNOWN_ERROR = 4000
CLOSE_UNKNOWN_OPCODE = 4001
CLOSE_DECODE_ERROR = 4002
CLOSE_NOT_AUTHENTICATED = 4003
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_ALREADY_AUTHENTICATED = 4005
CLOSE_INVALID_SEQ = 4007
CLOSE_RATE_LIMITED = 4008
CLOSE_SESSION_TIMED_OUT = 4009
# Ours (Discord leaves these to us):
CLOSE_SESSION_ENDED = 4004  # signed out, password changed, session revoked, account closed
CLOSE_TOKEN_EXPIRED = 4901  # RESUME with a fresh access token
CLOSE_TOO_MANY_SESSIONS = 4902  # this account has too many sockets open on this process
CLOSE_SLOW_CONSUMER = 4903  # the client stopped reading; RESUME

# Limits on what a client may send (docs/gateway.md). Discord allows 4 KiB client payloads;
# ours carry the voice SDP answer (op 30), which reached 29 KB with a candidate for every
# interface of a test host, so 64 KiB.
MAX_FRAME_BYTES = 64 * 1024
FRAMES_PER_MINUTE = 120  # per socket, Discord's figure
IDENTIFIES_PER_MINUTE = 30  # IDENTIFY + RESUME per account per process
MAX_SESSIONS_PER_USER = 50  # open sockets per account per process

# Events are kept this long for RESUME and catch-up, then purged.
EVENT_RETENTION = timedelta(minutes=30)
# An event's id is taken when its row is written, but it is published at commit: a transaction
# slower than this could commit an event older than one already sent. Replays look back this
# far and skip what the session already has.
COMMIT_GRACE = timedelta(seconds=10)
REPLAY_LIMIT = 5000


def authenticate(
    *, token: Any, scope_user: Any, cookie_auth: bool, auth_session_id: Any = None
) -> tuple[Any, str | None, Any]:
    """Who a gateway session acts as: (user, the AuthSession it lives by, when its access
    token expires), or (None, None, None). Tokens win over cookies. The socket closes when that
    AuthSession ends (sign-out, password change, revoke) or the token expires."""
    if isinstance(token, str) and token:
        from accounts.services.tokens import access_token_row

        row = access_token_row(token)
        if row is None or not row.session.user.is_active:
            return None, None, None
        return row.session.user, str(row.session_id), row.expires_at
    if cookie_auth and scope_user is not None and scope_user.is_authenticated:
        if not scope_user.is_active:
            return None, None, None
        if not str(auth_session_id or "").isdigit():
            # Signed in without a UNITED session (the admin's login form): the Django
            # session is the binding; it ends when that session is deleted.
            return scope_user, None, None
        from accounts.models import AuthSession

        alive = AuthSession.objects.filter(
            pk=int(auth_session_id), user_id=scope_user.id, revoked_at__isnull=True
        ).exists()
        return (scope_user, str(auth_session_id), None) if alive else (None, None, None)
    return None, None, None


def store_event(event: events.Published) -> None:
    """The first observer of every published event (messaging.apps): the row is written in the
    change's transaction and published once that commits, with its id, so sessions replay it
    on RESUME and catch up from it after a missed publish, and never hear a rolled-back one."""
    row = GatewayEvent.objects.create(group=event.group, t=event.t, d=event.d)
    # robust: the change is committed whatever happens to its realtime echo (sessions catch
    # up from the stored row); a failure must not become the request's error.
    transaction.on_commit(
        lambda: events.publish(event.group, event.t, event.d, row.id), robust=True
    )


def session_groups(user: Any) -> list[str]:
    """The groups whose events this user's sessions receive: their own and each guild's.
    Guild events are filtered per session by channel visibility (`event_channel`)."""
    from guilds.models import Member

    guild_ids = Member.objects.filter(user=user).values_list("guild_id", flat=True)
    return [events.user_group(user.id), *(events.guild_group(g) for g in guild_ids)]


def ready_state(user: Any, session_id: str) -> tuple[dict[str, Any], list[str]]:
    """Start a session: the READY payload and the groups the session listens to.

    A fixed number of queries whatever the number of guilds and channels: guilds, roles,
    channels, overwrites, read states and presences are each read once for all guilds
    (guilds.services.guilds.guild_payloads, docs/performance.md)."""
    from accounts.services import serialize_user
    from guilds.models import Channel, Member
    from guilds.services.guilds import guild_payloads
    from messaging.presence import LARGE_GUILD, guild_presences
    from messaging.services.dms import DM_TYPES, list_dms
    from messaging.services.readstates import read_states

    guilds: list[dict[str, Any]] = []
    channels: list[Channel] = []
    for payload, visible in guild_payloads(user):
        guilds.append(payload)
        channels.extend(c for c in visible if c.type in (0, 5, 11))
    guild_ids = [int(g["id"]) for g in guilds if g.get("member_count", 0) <= LARGE_GUILD]
    member_ids = list(
        Member.objects.filter(guild_id__in=guild_ids)
        .order_by()
        .values_list("user_id", flat=True)
        .distinct()
    )
    channels.extend(Channel.objects.filter(recipients=user, type__in=DM_TYPES))
    ready = {
        "v": 1,
        "session_id": session_id,
        "user": serialize_user(user),
        "guilds": guilds,
        "private_channels": list_dms(user),
        "read_state": read_states(user, channels),
        "presences": guild_presences(member_ids),
    }
    return ready, session_groups(user)


# Events after which a session must recompute which channels of the guild it may see.
VISIBILITY_EVENTS = frozenset(
    {
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "THREAD_CREATE",
        "GUILD_UPDATE",
        "GUILD_ROLE_CREATE",
        "GUILD_ROLE_UPDATE",
        "GUILD_ROLE_DELETE",
        "GUILD_MEMBER_UPDATE",
        "GUILD_MEMBER_REMOVE",
        "GUILD_CREATE",
        "GUILD_DELETE",
    }
)


def event_guild(d: dict[str, Any]) -> int | None:
    raw = d.get("guild_id") if isinstance(d, dict) else None
    return int(raw) if raw else None


def event_channel(t: str, d: dict[str, Any]) -> int | None:
    """The channel an event is about, if any (its visibility decides who gets it)."""
    if not isinstance(d, dict):
        return None
    raw = (
        d.get("id")
        if t.startswith(("CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE", "THREAD_"))
        else d.get("channel_id")
    )
    return int(raw) if raw else None


def is_member_ids(user_ids: list[int], guild_id: int) -> set[int]:
    from guilds.models import Member

    return set(
        Member.objects.filter(user_id__in=user_ids, guild_id=guild_id).values_list(
            "user_id", flat=True
        )
    )


def stored_events_since(since_id: int) -> list[tuple[int, str, str, Any]]:
    """Every stored event from `since_id` on (the hub's catch-up: one query per process)."""
    rows = GatewayEvent.objects.filter(id__gte=since_id).order_by("id")[:REPLAY_LIMIT]
    return list(rows.values_list("id", "group", "t", "d"))


def missed_events(groups: Iterable[str], since_id: int, exclude: set[int]) -> list[GatewayEvent]:
    """Stored events of `groups` from `since_id` on that the session has not been sent."""
    rows = GatewayEvent.objects.filter(group__in=list(groups), id__gte=since_id).order_by("id")[
        :REPLAY_LIMIT
    ]
    return [row for row in rows if row.id not in exclude]


def stored_ids_since(groups: Iterable[str], since_id: int) -> set[int]:
    """Ids of the stored events of `groups` from `since_id` on, as visible now."""
    rows = GatewayEvent.objects.filter(group__in=list(groups), id__gte=since_id)
    return set(rows.values_list("id", flat=True)[:REPLAY_LIMIT])


def lookback_from(event_id: int | None, fallback_time: Any) -> int:
    moment = snowflake_time(event_id) if event_id else fallback_time
    return snowflake_at(moment - COMMIT_GRACE)


class ResumeRefused(Exception):
    pass


def check_resume(state: SessionState | None, user: Any, seq: Any) -> None:
    if state is None or state.user_id != user.id or not state.resumable():
        raise ResumeRefused("unknown or expired session")
    if state.sent and seq < state.sent[0][0] - 1:
        raise ResumeRefused("the client is further behind than the session remembers")


def resume(user: Any, state: SessionState, seq: int) -> tuple[list[str], int]:
    """Where a resumed session's replay starts: its groups (recomputed now) and the event id
    from which stored events of those groups it has not had are replayed (the hub reads them
    once the socket listens)."""
    have = {e for s, e in state.sent if s <= seq}
    if have:
        # Replay what came after the newest event the client confirms having.
        anchor: int | None = max(have)
    elif state.sent:
        anchor = min(e for _, e in state.sent)  # the client has none of the recorded events
    else:
        anchor = None  # nothing was sent but READY: replay from the session's start
    started = datetime.fromtimestamp(state.started_at, tz=UTC)
    return session_groups(user), lookback_from(anchor, started)


def purge_expired(now: Any = None) -> int:
    now = now or timezone.now()
    events_deleted, _ = GatewayEvent.objects.filter(created_at__lt=now - EVENT_RETENTION).delete()
    return events_deleted
