"""Voice: who may connect and speak where, voice states, and the calls into the worker.

The gateway (op 4 VOICE_STATE_UPDATE, op 30 VOICE_ANSWER), the REST API and the admin all come
through here, so every permission check and every VOICE_STATE_UPDATE happens in one place.

- CONNECT is needed to join; a full channel (user limit, capped by VOICE_MAX_PARTICIPANTS)
  refuses members without MOVE_MEMBERS.
- Without SPEAK, or while timed out (moderation), a member joins suppressed: they hear
  everyone and the worker forwards nothing of theirs.
- Server mute (MUTE_MEMBERS) and server deafen (DEAFEN_MEMBERS) are enforced by the worker, not
  the client; so is self mute (the client also stops sending).
- MOVE_MEMBERS moves a member to another voice channel or disconnects them.
- STREAM lets a member turn its camera on (self_video) and share its screen (self_stream);
  a timeout takes both away. The worker forwards video only while the node allows it.
- Capacity is decided under a lock: the count of members in the channel and the new voice
  state are one transaction that holds the channel's row (PostgreSQL) or the database's write
  lock (SQLite, whose transactions begin IMMEDIATE), so two members racing for the last place
  cannot both get it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from guilds import permissions as perms
from guilds.models import Channel, ChannelType
from guilds.services.access import access_channel, guild_context, missing_permissions
from united import events
from united.audit import Audit, AuditLogEvent
from united.errors import Forbidden, Invalid, NotFound
from voice import rpc
from voice.models import VoiceState

VOICE_TYPES = (ChannelType.GUILD_VOICE,)
CHANNEL_FULL = 90301


# --- payloads -----------------------------------------------------------------------------


def state_payload(state: VoiceState, *, left: bool = False) -> dict[str, Any]:
    """Discord's voice state object, plus `slot` (which stream of the worker's offer carries
    this member)."""
    return {
        "guild_id": str(state.guild_id),
        "channel_id": None if left else str(state.channel_id),
        "user_id": str(state.user_id),
        "username": state.user.username,
        "display_name": state.user.shown_name,
        "session_id": state.session_id,
        "deaf": state.deaf,
        "mute": state.mute,
        "self_deaf": state.self_deaf,
        "self_mute": state.self_mute,
        "self_stream": state.self_stream,
        "self_video": state.self_video,
        "suppress": state.suppress,
        "request_to_speak_timestamp": None,
        "slot": state.slot,
        "speaking": not left and (state.channel_id, state.user_id) in rpc.subscriber.speaking,
    }


def speaking_event(guild_id: Any, room: Any, user_id: Any, event: dict[str, Any]) -> tuple:
    return "VOICE_SPEAKING", {
        "guild_id": str(guild_id),
        "channel_id": str(room),
        "user_id": str(user_id),
        "speaking": bool(event.get("speaking")),
    }


def offer_event(event: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The worker renegotiated a member's peer connection (someone's video started or
    stopped): the new offer for that member's sessions (the one holding `connection` answers
    it with op 30 and `version`)."""
    return (
        events.user_group(int(event["user"])),
        "VOICE_OFFER",
        {
            "guild_id": str(event["guild"]),
            "channel_id": str(event["room"]),
            "type": "offer",
            "sdp": event["sdp"],
            "version": int(event["version"]),
            "connection": str(event["connection"]),
            "streams": event.get("streams") or {},
        },
    )


def guild_voice_states(guild_id: int) -> list[dict[str, Any]]:
    states = VoiceState.objects.filter(guild_id=guild_id).select_related("user")
    return [state_payload(s) for s in states.order_by("joined_at")]


def _broadcast(
    state: VoiceState, *, left: bool = False, actor: User | None = None, audit: Audit | None = None
) -> None:
    events.broadcast(
        events.guild_group(state.guild_id),
        "VOICE_STATE_UPDATE",
        state_payload(state, left=left),
        actor=actor,
        audit=audit,
    )


# --- TURN ---------------------------------------------------------------------------------


def turn_credentials(user_id: int, *, now: float | None = None) -> list[dict[str, Any]]:
    """ICE servers for a client: coturn's REST-API scheme (use-auth-secret): the username is
    `<expiry unix time>:<user id>`, the credential base64(HMAC-SHA1(secret, username))."""
    urls = list(settings.TURN_URLS)
    if not urls:
        return []
    stun = [u for u in urls if u.startswith("stun:")]
    turn = [u for u in urls if not u.startswith("stun:")]
    servers: list[dict[str, Any]] = [{"urls": stun}] if stun else []
    if turn and settings.TURN_SECRET:
        expiry = int(now if now is not None else time.time()) + settings.TURN_CREDENTIAL_TTL
        username = f"{expiry}:{user_id}"
        digest = hmac.new(settings.TURN_SECRET.encode(), username.encode(), hashlib.sha1)
        credential = base64.b64encode(digest.digest()).decode()
        servers.append({"urls": turn, "username": username, "credential": credential})
    return servers


# --- joining and leaving ------------------------------------------------------------------


def _can_speak(user: User, access: Any) -> bool:
    from moderation.services.timeouts import check_not_timed_out

    if not perms.has(access.permissions, perms.P.SPEAK):
        return False
    try:
        check_not_timed_out(user, access.channel)
    except Forbidden:
        return False
    return True


def _can_video(user: User, access: Any) -> bool:
    from moderation.services.timeouts import check_not_timed_out

    if not perms.has(access.permissions, perms.P.STREAM):
        return False
    try:
        check_not_timed_out(user, access.channel)
    except Forbidden:
        return False
    return True


def room_size(channel: Channel) -> int:
    limit = settings.VOICE_MAX_PARTICIPANTS
    return min(channel.user_limit, limit) if channel.user_limit else limit


def _voice_channel(user: User, guild_id: int, channel_id: Any) -> Any:
    try:
        channel_id = int(channel_id)
    except (TypeError, ValueError):
        raise Invalid(errors={"channel_id": ["A voice channel id."]}) from None
    access = access_channel(user, channel_id)
    if access.channel.guild_id != guild_id or access.channel.type not in VOICE_TYPES:
        raise Invalid(errors={"channel_id": ["Not a voice channel of this guild."]})
    return access


def check_connect(user: User, guild_id: Any, channel_id: Any) -> Any:
    """May `user` connect to this voice channel now? CONNECT, and room unless the member has
    MOVE_MEMBERS. Returns the channel access (also used before minting a federated token)."""
    try:
        guild_id = int(guild_id)
    except (TypeError, ValueError):
        raise Invalid(errors={"guild_id": ["A guild id."]}) from None
    access = _voice_channel(user, guild_id, channel_id)
    access.require(perms.P.CONNECT)
    _check_room(user, access)
    return access


def _check_room(user: User, access: Any) -> None:
    others = VoiceState.objects.filter(channel=access.channel).exclude(user=user).count()
    if others >= room_size(access.channel) and not perms.has(
        access.permissions, perms.P.MOVE_MEMBERS
    ):
        raise Forbidden("This voice channel is full", code=CHANNEL_FULL)


def _lock_channel(channel: Channel) -> None:
    """Inside a transaction: hold the channel's row until it ends, so that counting its
    members and adding one are not interleaved with another join (PostgreSQL; SQLite's
    IMMEDIATE transaction already holds the one write lock, and ignores FOR UPDATE)."""
    list(Channel.objects.select_for_update().filter(id=channel.id).values_list("id"))


def check_join(
    user: User,
    guild_id: Any,
    channel_id: Any,
    *,
    session_id: str = "",
    self_mute: bool = False,
    self_deaf: bool = False,
    video: bool = False,
) -> dict[str, Any]:
    """Join (or rejoin, or switch to) a voice channel. Returns what the client needs to
    connect: the worker's SDP offer, the member's slot and ICE servers with fresh TURN
    credentials (the gateway's VOICE_SERVER_UPDATE). `video`: the client takes renegotiation
    offers (VOICE_OFFER), so it can send and see camera and screen share."""
    access = check_connect(user, guild_id, channel_id)
    guild_id, channel = access.channel.guild_id, access.channel
    previous = VoiceState.objects.filter(guild_id=guild_id, user=user).first()
    if previous is not None and previous.channel_id != channel.id:
        _leave_worker(previous)
    suppress = not _can_speak(user, access)
    mute = previous.mute if previous else False
    deaf = previous.deaf if previous else False
    with transaction.atomic():
        # The check above answers most refusals without a lock; this one is authoritative.
        _lock_channel(channel)
        _check_room(user, access)
        reply = rpc.call(
            "join",
            guild=guild_id,
            room=channel.id,
            user=user.id,
            slots=room_size(channel),
            can_speak=not (suppress or mute or bool(self_mute)),
            deaf=deaf or bool(self_deaf),
            video=video,
        )
        state, _ = VoiceState.objects.update_or_create(
            guild_id=guild_id,
            user=user,
            defaults={
                "channel": channel,
                "session_id": session_id,
                "slot": reply["slot"],
                "self_mute": bool(self_mute),
                "self_deaf": bool(self_deaf),
                "self_video": False,
                "self_stream": False,
                "mute": mute,
                "deaf": deaf,
                "suppress": suppress,
            },
        )
        _broadcast(state)
    return {
        "guild_id": str(guild_id),
        "channel_id": str(channel.id),
        "slot": reply["slot"],
        "slots": room_size(channel),
        "sdp": reply["sdp"],
        "type": "offer",
        "connection": reply.get("connection", ""),
        "version": reply.get("version", 0),
        "publish": reply.get("publish") or {},
        "streams": reply.get("streams") or {},
        "video": video and _can_video(user, access),
        "ice_servers": turn_credentials(user.id),
        "voice_states": guild_voice_states(guild_id),
    }


def check_answer(user: User, guild_id: Any, sdp: Any, version: Any = None) -> None:
    """The client's answer to the worker's offer: the join's (version 0) or a renegotiation's
    (VOICE_OFFER's `version`; an answer to an offer already superseded is refused)."""
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > 100_000:
        raise Invalid(errors={"sdp": ["An SDP answer."]})
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**31
    ):
        raise Invalid(errors={"version": ["The version of the offer this answers."]})
    state = _own_state(user, guild_id)
    rpc.call("answer", room=state.channel_id, user=user.id, sdp=sdp, version=version)


MAX_CANDIDATE = 512


def check_candidate(user: User, guild_id: Any, candidate: Any) -> None:
    """One ICE candidate the client found after answering (trickle ICE); null or "" ends
    them. Only what a browser produces is passed on: `candidate:…` lines of a bounded size."""
    if candidate in (None, ""):
        candidate = None
    elif (
        not isinstance(candidate, str)
        or not candidate.startswith("candidate:")
        or len(candidate) > MAX_CANDIDATE
        or any(c in candidate for c in "\r\n")
    ):
        raise Invalid(errors={"candidate": ["An ICE candidate line (candidate:…)."]})
    state = _own_state(user, guild_id)
    rpc.call("candidate", room=state.channel_id, user=user.id, candidate=candidate)


def _own_state(user: User, guild_id: Any) -> VoiceState:
    try:
        guild_id = int(guild_id)
    except (TypeError, ValueError):
        raise Invalid(errors={"guild_id": ["A guild id."]}) from None
    state = VoiceState.objects.filter(guild_id=guild_id, user=user).first()
    if state is None:
        raise NotFound("Not connected to voice in this guild", code=10065)
    return state


def _push_flags(state: VoiceState) -> None:
    try:
        rpc.call(
            "update",
            room=state.channel_id,
            user=state.user_id,
            can_speak=not state.silenced,
            deaf=state.deafened,
            camera=state.self_video,
            screen=state.self_stream,
        )
    except rpc.WorkerRefused:
        pass  # not (or no longer) in the worker's room: the flags apply at the next join


def check_self_update(
    user: User,
    guild_id: Any,
    *,
    self_mute: Any,
    self_deaf: Any,
    self_video: Any = None,
    self_stream: Any = None,
) -> None:
    """The member's own flags. `self_video` (camera) and `self_stream` (screen share) need
    STREAM; None leaves them as they are (a client that only knows mute and deafen)."""
    state = _own_state(user, guild_id)
    access = access_channel(user, state.channel_id)
    video = state.self_video if self_video is None else bool(self_video)
    stream = state.self_stream if self_stream is None else bool(self_stream)
    if (video and not state.self_video or stream and not state.self_stream) and not _can_video(
        user, access
    ):
        raise missing_permissions("STREAM")
    state.self_mute, state.self_deaf = bool(self_mute), bool(self_deaf)
    state.self_video, state.self_stream = video, stream
    state.suppress = not _can_speak(user, access)
    state.save(update_fields=["self_mute", "self_deaf", "self_video", "self_stream", "suppress"])
    _push_flags(state)
    with transaction.atomic():
        _broadcast(state)


def _leave_worker(state: VoiceState) -> None:
    try:
        rpc.call("leave", room=state.channel_id, user=state.user_id)
    except (rpc.WorkerUnavailable, rpc.WorkerRefused):
        pass  # a dead worker has no room to leave


def do_leave(
    state: VoiceState,
    *,
    worker: bool = True,
    actor: User | None = None,
    audit: Audit | None = None,
) -> None:
    """`actor` and `audit`: a moderator's disconnect, logged only if the member was still
    there to disconnect."""
    if worker:
        _leave_worker(state)
    with transaction.atomic():
        deleted, _ = VoiceState.objects.filter(pk=state.pk, channel_id=state.channel_id).delete()
        if deleted:
            _broadcast(state, left=True, actor=actor, audit=audit)


def check_leave(user: User, guild_id: Any) -> None:
    state = VoiceState.objects.filter(guild_id=int(guild_id), user=user).first()
    if state is not None:
        do_leave(state)


def worker_disconnected(room: int, user_id: int) -> None:
    """The worker saw the member's peer connection fail or close."""
    state = VoiceState.objects.filter(channel_id=room, user_id=user_id).first()
    if state is not None:
        do_leave(state, worker=False)


def worker_restarted() -> None:
    """A new worker has no rooms: ask every connected member's sessions to rejoin."""
    for state in VoiceState.objects.filter(guild__link__isnull=True):
        payload = {
            "guild_id": str(state.guild_id),
            "channel_id": str(state.channel_id),
            "reconnect": True,
        }
        events.broadcast_ephemeral(events.user_group(state.user_id), "VOICE_RECONNECT", payload)


def refresh_member(guild_id: int, user_id: int) -> None:
    """Re-evaluate SPEAK and timeouts (after a timeout starts or ends, a role changes)."""
    from voice import ports

    if ports.hosted_elsewhere(guild_id) is not None:
        # A replica's voice states mirror the host's: the host's worker decides who may speak
        # and its VOICE_STATE_UPDATEs carry the result. Judging here, mid-way through applying
        # the host's guild state, disconnected a member the host still had in the channel.
        return
    state = (
        VoiceState.objects.select_related("user").filter(guild_id=guild_id, user_id=user_id).first()
    )
    if state is None:
        return
    try:
        access = access_channel(state.user, state.channel_id)
    except NotFound:
        do_leave(state)
        return
    suppress = not _can_speak(state.user, access)
    video = _can_video(state.user, access)
    if suppress != state.suppress or (state.self_video or state.self_stream) and not video:
        state.suppress = suppress
        state.self_video = state.self_video and video
        state.self_stream = state.self_stream and video
        state.save(update_fields=["suppress", "self_video", "self_stream"])
        _push_flags(state)
        with transaction.atomic():
            _broadcast(state)


def refresh_member_soon(guild_id: int, user_id: int) -> None:
    """After the surrounding transaction commits (a timeout set or lifted, roles changed)."""

    def run() -> None:
        try:
            refresh_member(guild_id, user_id)
        except rpc.WorkerUnavailable:
            pass  # no worker, no room: the flag is computed again at the next join

    transaction.on_commit(run, robust=True)


# --- moderation ---------------------------------------------------------------------------


def check_moderate(
    actor: User, guild_id: Any, user_id: Any, body: Any, *, operator: bool = False
) -> dict[str, Any]:
    """Discord's `PATCH /guilds/{id}/members/{uid}` voice fields: `mute` (MUTE_MEMBERS),
    `deaf` (DEAFEN_MEMBERS), `channel_id` (MOVE_MEMBERS; null disconnects). `operator` is the
    node operator acting from the admin: no guild permission applies."""
    if not isinstance(body, dict):
        raise Invalid(errors={"_": ["A JSON object."]})
    try:
        guild_id, user_id = int(guild_id), int(user_id)
    except (TypeError, ValueError):
        raise NotFound("Unknown Member", code=10007) from None
    from guilds.models import Guild
    from voice import ports

    if ports.hosted_elsewhere(guild_id) is not None:
        raise Forbidden("Moderate voice on the guild's own node", code=ports.ELSEWHERE)
    state = VoiceState.objects.filter(guild_id=guild_id, user_id=user_id).first()
    if operator:
        guild = Guild.objects.get(id=guild_id)
        granted: int = perms.P.ADMINISTRATOR | perms.P.MUTE_MEMBERS | perms.P.DEAFEN_MEMBERS
        granted |= perms.P.MOVE_MEMBERS
    else:
        ctx = guild_context(actor, guild_id)
        guild = ctx.guild
    if state is None:
        raise NotFound("Target user is not connected to voice", code=40032)
    if not operator:
        granted = ctx.channel_permissions(Channel.objects.get(id=state.channel_id))
    errors: dict[str, list[str]] = {}
    for field in ("mute", "deaf"):
        if field in body and not isinstance(body[field], bool):
            errors[field] = ["true or false."]
    if errors:
        raise Invalid(errors=errors)
    if "mute" in body and not perms.has(granted, perms.P.MUTE_MEMBERS):
        raise missing_permissions("MUTE_MEMBERS")
    if "deaf" in body and not perms.has(granted, perms.P.DEAFEN_MEMBERS):
        raise missing_permissions("DEAFEN_MEMBERS")
    if "channel_id" in body and not perms.has(granted, perms.P.MOVE_MEMBERS):
        raise missing_permissions("MOVE_MEMBERS")
    target = None
    if body.get("channel_id") is not None:
        target = _voice_channel(actor, guild_id, body["channel_id"]).channel
        target_user = User.objects.get(id=user_id)
        target_access = access_channel(target_user, target.id) if target else None
        if target_access is None or not perms.has(target_access.permissions, perms.P.CONNECT):
            raise Forbidden("The member may not connect to that channel")
    audit = _audit(guild.id, user_id, body)
    if "channel_id" in body and target is None:
        do_leave(state, actor=actor, audit=audit)
        return state_payload(state, left=True)
    state.mute = body.get("mute", state.mute)
    state.deaf = body.get("deaf", state.deaf)
    state.save(update_fields=["mute", "deaf"])
    if target is not None and target.id != state.channel_id:
        _leave_worker(state)
        state.channel = target
        state.save(update_fields=["channel"])
        payload = {"guild_id": str(guild_id), "channel_id": str(target.id), "reconnect": True}
        with transaction.atomic():
            events.broadcast_ephemeral(events.user_group(user_id), "VOICE_RECONNECT", payload)
    else:
        _push_flags(state)
    with transaction.atomic():
        _broadcast(state, actor=actor, audit=audit)
    return state_payload(state)


def _audit(guild_id: int, user_id: int, body: dict[str, Any]) -> Audit:
    """The guild's audit log entry (Discord's MEMBER_UPDATE / MEMBER_MOVE / MEMBER_DISCONNECT),
    carried by the VOICE_STATE_UPDATE that announces the change."""
    if "channel_id" in body:
        moved = body["channel_id"] is not None
        action = AuditLogEvent.MEMBER_MOVE if moved else AuditLogEvent.MEMBER_DISCONNECT
    else:
        action = AuditLogEvent.MEMBER_UPDATE
    changes = [
        {"key": k, "new_value": body[k]} for k in ("mute", "deaf", "channel_id") if k in body
    ]
    return Audit(guild_id, action, user_id, changes)


def on_guild_event(event: events.Published) -> None:
    """A member who leaves the guild (or is kicked or banned) leaves its voice channel too,
    once the removal commits; a member whose timeouts or roles change has SPEAK evaluated
    again (united.events observer: moderation and guilds sit below voice and do not call
    it)."""
    group, t, d = event.group, event.t, event.d
    if t not in ("GUILD_MEMBER_REMOVE", "GUILD_MEMBER_UPDATE") or not group.startswith("guild."):
        return
    user = d.get("user") if isinstance(d.get("user"), dict) else {}
    # `user` is a dict: the isinstance check on the line above.
    guild_id, user_id = int(group.split(".", 1)[1]), str(user.get("id") or "")  # type: ignore[union-attr]
    if not user_id.isdigit():
        return
    if t == "GUILD_MEMBER_UPDATE":
        refresh_member_soon(guild_id, int(user_id))
        return

    def run() -> None:
        state = VoiceState.objects.filter(guild_id=guild_id, user_id=int(user_id)).first()
        if state is not None:
            do_leave(state)

    transaction.on_commit(run, robust=True)
