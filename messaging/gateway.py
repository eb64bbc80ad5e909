"""Gateway protocol constants and the services the consumer calls (all synchronous; the
consumer wraps them in database_sync_to_async)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.utils import timezone

from messaging import events
from messaging.models import GatewayEvent, GatewaySession
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

# How many (seq, event id) pairs a session remembers having sent: RESUME works from any of them.
SENT_BUFFER = 2000
# A session can be resumed this long after its socket last reported in.
RESUME_WINDOW = timedelta(minutes=5)
# Events are kept this long for RESUME and catch-up, then purged.
EVENT_RETENTION = timedelta(minutes=30)
# An event's id is taken when its row is written, but it is published at commit: a transaction
# slower than this could commit an event older than one already sent. Replays look back this
# far and skip what the session already has.
COMMIT_GRACE = timedelta(seconds=10)
REPLAY_LIMIT = 5000


def authenticate(*, token: Any, scope_user: Any, cookie_auth: bool) -> Any:
    """The user a gateway session acts as, or None. Tokens win over cookies."""
    if isinstance(token, str) and token:
        from accounts.services import authenticate_access_token

        user = authenticate_access_token(token)
        return user if user is not None and user.is_active else None
    if cookie_auth and scope_user is not None and scope_user.is_authenticated:
        return scope_user if scope_user.is_active else None
    return None


def session_groups(user: Any) -> list[str]:
    """The groups whose events this user's sessions receive: their own and each guild's.
    Guild events are filtered per session by channel visibility (`event_channel`)."""
    from guilds.models import Member

    guild_ids = Member.objects.filter(user=user).values_list("guild_id", flat=True)
    return [events.user_group(user.id), *(events.guild_group(g) for g in guild_ids)]


def ready_state(user: Any, session_id: str) -> tuple[dict[str, Any], list[str]]:
    """Start a session: the READY payload and the groups the session listens to."""
    from accounts.services import serialize_user
    from guilds.models import Channel, Member
    from guilds.services.access import guild_context
    from guilds.services.guilds import guild_payload
    from messaging.services.readstates import read_states
    from united.errors import NotFound

    GatewaySession.objects.create(id=session_id, user=user)
    guilds, channels = [], []
    for guild_id in Member.objects.filter(user=user).values_list("guild_id", flat=True):
        try:
            ctx = guild_context(user, guild_id)
        except NotFound:  # suspended by the operator
            continue
        payload = guild_payload(ctx)
        guilds.append(payload)
        ids = [int(c["id"]) for c in payload.get("channels", [])]
        channels.extend(Channel.objects.filter(id__in=ids, type__in=(0, 5, 11)))
    from messaging.presence import LARGE_GUILD, guild_presences

    guild_ids = [int(g["id"]) for g in guilds if g.get("member_count", 0) <= LARGE_GUILD]
    member_ids = list(
        Member.objects.filter(guild_id__in=guild_ids).values_list("user_id", flat=True).distinct()
    )
    from messaging.services.dms import DM_TYPES, list_dms

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


def visible_channels(user: Any, guild_id: int) -> set[int]:
    from guilds.models import Guild
    from guilds.services.access import visible_channel_ids

    guild = Guild.objects.filter(id=guild_id).first()
    return visible_channel_ids(user, guild) if guild else set()


def is_member(user: Any, guild_id: int) -> bool:
    from guilds.models import Member

    return Member.objects.filter(user=user, guild_id=guild_id).exists()


def save_session(session_id: str, seq: int, sent: list[list[int]], *, connected: bool) -> None:
    GatewaySession.objects.filter(id=session_id).update(
        seq=seq, sent=sent[-SENT_BUFFER:], updated_at=timezone.now(), connected=connected
    )


def missed_events(groups: Iterable[str], since_id: int, exclude: set[int]) -> list[GatewayEvent]:
    """Stored events of `groups` from `since_id` on that the session has not been sent."""
    rows = GatewayEvent.objects.filter(group__in=list(groups), id__gte=since_id).order_by("id")[
        :REPLAY_LIMIT
    ]
    return [row for row in rows if row.id not in exclude]


def lookback_from(event_id: int | None, fallback_time: Any) -> int:
    moment = snowflake_time(event_id) if event_id else fallback_time
    return snowflake_at(moment - COMMIT_GRACE)


class ResumeRefused(Exception):
    pass


def resume(user: Any, session_id: Any, seq: Any) -> tuple[list[str], list[GatewayEvent], set[int]]:
    """Check a RESUME and find what the session missed after `seq`.

    Returns the session's groups (recomputed now), the events to replay in order, and the
    event ids the client already has. Raises ResumeRefused when the client must IDENTIFY.
    """
    if not isinstance(session_id, str) or not isinstance(seq, int) or seq < 0:
        raise ResumeRefused("malformed resume")
    session = GatewaySession.objects.filter(id=session_id, user=user).first()
    if session is None or not session.resumable(RESUME_WINDOW):
        raise ResumeRefused("unknown or expired session")
    sent = sorted((int(s), int(e)) for s, e in session.sent)
    if sent and seq < sent[0][0] - 1:
        raise ResumeRefused("the client is further behind than the session remembers")
    have = {e for s, e in sent if s <= seq}
    if have:
        # Replay what came after the newest event the client confirms having. If the client is
        # ahead of what was saved (the server died before saving), that is the newest saved.
        anchor: int | None = max(have)
    elif sent:
        anchor = min(e for _, e in sent)  # the client has none of the saved events
    else:
        anchor = None  # nothing was sent but READY: replay from the session's start
    groups = session_groups(user)
    replay = missed_events(groups, lookback_from(anchor, session.started_at), have)
    GatewaySession.objects.filter(id=session_id).update(connected=True, updated_at=timezone.now())
    return groups, replay, have


def purge_expired(now: Any = None) -> tuple[int, int]:
    now = now or timezone.now()
    events_deleted, _ = GatewayEvent.objects.filter(created_at__lt=now - EVENT_RETENTION).delete()
    sessions_deleted, _ = GatewaySession.objects.filter(
        updated_at__lt=now - max(RESUME_WINDOW, EVENT_RETENTION)
    ).delete()
    return events_deleted, sessions_deleted
