"""Voice for members of other nodes (docs/voice.md "Federated members"), the adapter behind
voice.ports.RemoteVoice (registered in FederationConfig.ready()).

A member of node B joins a voice channel of a guild hosted on node A:

1. B's gateway gets op 4 for a replica guild and asks A for a **voice token**:
   `POST <group>/voice/token {channel_id}`, HTTP-signed under the member's actor id. A checks
   the member exactly as a local one (membership, so bans; VIEW_CHANNEL, CONNECT, capacity)
   and mints a random token, stored only as its SHA-256 (VoiceGrant), bound to
   (guild, channel, member) and valid for TOKEN_TTL seconds for one join.
2. B signals with A's voice endpoint (`POST /voice/signal {token, op}`): `join` spends the
   token and returns the SFU's offer (SPEAK and timeouts decide `suppress` as for locals);
   `answer`, `update` (self flags) and `leave` present the same token, accepted only while
   the voice session it opened lasts. The member's client answers the offer; **media goes
   straight to A's voice worker** (or A's TURN), never through B.
3. A's voice states of the guild (VOICE_STATE_UPDATE) are announced to member nodes as
   `Update(VoiceState)` inside the Group's `Announce`; B mirrors them into its replica, so its
   UI shows who is in which channel; a moderator's move on A makes B tell its member's client
   to reconnect there; server mute/deafen and disconnect are enforced by A's worker.

Both sides live here: the hosting node's (check_mint, check_signal, announce_state) and the
member's node's (check_join & co., with the same signatures as voice.services, and apply).
Voice itself never imports this module: its gateway asks voice.ports for the adapter.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from guilds.models import Channel
from united import events
from united.errors import APIError, Invalid, NotFound, RateLimited
from voice import rpc, services
from voice.models import RemoteVoiceSession, VoiceGrant, VoiceState

TOKEN_TTL = 60  # seconds between minting and the join
TOKEN_UNKNOWN = 90303
TOKEN_EXPIRED = 90304
TOKEN_USED = 90305
SESSION_ENDED = 90306
MAX_BODY = 110_000
MAX_OPEN_GRANTS = 5  # unused, unexpired tokens per member


class TokenRefused(APIError):
    status = 401
    code = TOKEN_UNKNOWN
    message = "Unknown voice token"


def hosted_elsewhere(guild_id: Any) -> bool:
    from federation.models import GuildLink

    try:
        return GuildLink.objects.filter(guild_id=int(guild_id)).exists()
    except (TypeError, ValueError):
        return False


# --- the hosting node ------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def wire_state(state: VoiceState, *, left: bool = False) -> dict[str, Any]:
    """A voice state as it crosses federation: the member's actor id, no names or levels."""
    from federation.people import actor_uri

    return {
        "type": "VoiceState",
        "actor": actor_uri(state.user),
        "channelId": None if left else str(state.channel_id),
        "sessionId": state.session_id,
        "slot": state.slot,
        "mute": state.mute,
        "deaf": state.deaf,
        "selfMute": state.self_mute,
        "selfDeaf": state.self_deaf,
        "suppress": state.suppress,
    }


def check_mint(requester: str, guild_id: int, body: Any) -> dict[str, Any]:
    """A signed request from a member's node, under the member's actor id."""
    from federation import actors
    from federation.guildwire import hosted_guild
    from federation.models import RemoteUser

    guild = hosted_guild(guild_id)
    if guild is None:
        raise NotFound("Unknown Guild", code=10004)
    identity = RemoteUser.objects.select_related("user").filter(actor_uri=requester).first()
    if identity is None:
        raise NotFound("Unknown Member", code=10007)
    if not isinstance(body, dict):
        raise Invalid(errors={"_": ["A JSON object."]})
    access = services.check_connect(identity.user, guild.id, body.get("channel_id"))
    live = VoiceGrant.objects.filter(
        user=identity.user, used_at__isnull=True, expires_at__gt=timezone.now()
    )
    if live.count() >= MAX_OPEN_GRANTS:
        raise RateLimited("Too many voice tokens waiting to be used", retry_after=TOKEN_TTL)
    token = secrets.token_urlsafe(32)
    expires = timezone.now() + timedelta(seconds=TOKEN_TTL)
    VoiceGrant.objects.filter(expires_at__lt=timezone.now() - timedelta(days=1)).delete()
    VoiceGrant.objects.create(
        digest=_digest(token),
        guild=guild,
        channel=access.channel,
        user=identity.user,
        expires_at=expires,
    )
    return {
        "token": token,
        "expires_at": expires.isoformat(),
        "endpoint": f"{actors.base_url()}/voice/signal",
        "guild_id": str(guild.id),
        "channel_id": str(access.channel.id),
    }


def _grant(token: Any) -> VoiceGrant:
    if not isinstance(token, str) or not 20 <= len(token) <= 200:
        raise TokenRefused()
    grant = VoiceGrant.objects.select_related("user").filter(digest=_digest(token)).first()
    if grant is None:
        raise TokenRefused()
    return grant


def check_signal(body: Any) -> dict[str, Any]:
    """`{token, op: join|answer|update|leave, …}` from a member's node (or any client that
    holds the token)."""
    if not isinstance(body, dict):
        raise Invalid(errors={"_": ["A JSON object."]})
    op = body.get("op")
    if op not in {"join", "answer", "update", "leave"}:
        raise Invalid(errors={"op": ["One of join, answer, update, leave."]})
    grant = _grant(body.get("token"))
    user, guild_id = grant.user, grant.guild_id
    if op == "join":
        now = timezone.now()
        if grant.used_at is not None:
            raise TokenRefused("This voice token was already used", code=TOKEN_USED)
        if grant.expires_at <= now:
            raise TokenRefused("This voice token has expired", code=TOKEN_EXPIRED)
        spent = VoiceGrant.objects.filter(id=grant.id, used_at__isnull=True).update(used_at=now)
        if not spent:  # a concurrent replay won the race
            raise TokenRefused("This voice token was already used", code=TOKEN_USED)
        offer = services.check_join(
            user,
            guild_id,
            grant.channel_id,
            session_id=grant.session_id,
            self_mute=bool(body.get("self_mute")),
            self_deaf=bool(body.get("self_deaf")),
        )
        states = VoiceState.objects.filter(guild_id=guild_id).select_related("user")
        offer["voice_states"] = [wire_state(s) for s in states.order_by("joined_at")]
        offer["session_id"] = grant.session_id
        return offer
    state = VoiceState.objects.filter(guild_id=guild_id, user=user).first()
    if grant.used_at is None or state is None or state.session_id != grant.session_id:
        raise TokenRefused("This voice session has ended", code=SESSION_ENDED)
    if op == "answer":
        services.check_answer(user, guild_id, body.get("sdp"))
    elif op == "update":
        services.check_self_update(
            user,
            guild_id,
            self_mute=bool(body.get("self_mute")),
            self_deaf=bool(body.get("self_deaf")),
        )
    else:
        services.do_leave(state)
    return {"ok": True}


def announce_state(guild_id: int, d: dict[str, Any]) -> None:
    """A VOICE_STATE_UPDATE of a hosted guild, for the nodes of its remote members (called
    by federation.hosting inside the change's transaction)."""
    from federation import activities, hosting
    from federation.guildwire import group_uri

    user = User.objects.filter(id=int(d["user_id"])).first()
    if user is None:
        return
    left = d.get("channel_id") is None
    # Never saved: only rendered onto the wire, where a leave has no channel.
    state = VoiceState(  # type: ignore[misc]
        guild_id=guild_id,
        channel_id=None if left else int(d["channel_id"]),
        user=user,
        session_id=str(d.get("session_id") or ""),
        slot=int(d.get("slot") or 0),
        mute=bool(d.get("mute")),
        deaf=bool(d.get("deaf")),
        self_mute=bool(d.get("self_mute")),
        self_deaf=bool(d.get("self_deaf")),
        suppress=bool(d.get("suppress")),
    )
    group = group_uri(guild_id)
    update = activities.build("Update", group, wire_state(state, left=left), to=[group])
    hosting.announce(guild_id, update)


# --- the member's node -------------------------------------------------------------------------


def _link(guild_id: Any) -> Any:
    from federation.models import GuildLink

    try:
        link = GuildLink.objects.select_related("guild").filter(guild_id=int(guild_id)).first()
    except (TypeError, ValueError):
        link = None
    if link is None:
        raise NotFound("Unknown Guild", code=10004)
    return link


def _post(url: str, payload: dict[str, Any], *, sign_as: str | None = None) -> dict[str, Any]:
    """POST JSON to the hosting node; its Discord-shaped refusal becomes ours."""
    from federation import http

    try:
        response = http.request(
            "POST",
            url,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            content=json.dumps(payload).encode(),
            sign=sign_as is not None,
            sign_as=sign_as,
            follow_redirects=False,
        )
    except http.FetchError as exc:
        raise rpc.WorkerUnavailable(
            f"The guild's node could not be reached for voice ({exc.reason})"
        ) from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status != 200:
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            errors = data.get("errors") if isinstance(data.get("errors"), dict) else None
            status = response.status if 400 <= response.status < 600 else 502
            code = data.get("code") if isinstance(data.get("code"), int) else 0
            raise APIError(data["message"][:300], code=code, status=status, errors=errors)
        raise rpc.WorkerUnavailable(f"The guild's node answered {response.status} for voice")
    if not isinstance(data, dict):
        raise rpc.WorkerUnavailable("The guild's node answered no voice offer")
    return data


def check_join(
    user: User,
    guild_id: Any,
    channel_id: Any,
    *,
    session_id: str = "",
    self_mute: bool = False,
    self_deaf: bool = False,
) -> dict[str, Any]:
    """voice.services.check_join for a guild hosted elsewhere: token, then join, on the host."""
    from federation import actors, remote

    link = _link(guild_id)
    try:
        channel_id = int(channel_id)
    except (TypeError, ValueError):
        raise Invalid(errors={"channel_id": ["A voice channel id."]}) from None
    me = actors.user_uri(user.username)
    grant = _post(f"{link.group_uri}/voice/token", {"channel_id": str(channel_id)}, sign_as=me)
    endpoint = str(grant.get("endpoint") or "")
    if remote.origin(endpoint) != remote.origin(link.group_uri):
        raise rpc.WorkerUnavailable("The guild's node named a voice endpoint on another node")
    token = str(grant.get("token") or "")
    offer = _post(
        endpoint, {"token": token, "op": "join", "self_mute": self_mute, "self_deaf": self_deaf}
    )
    if not isinstance(offer.get("sdp"), str) or not isinstance(offer.get("slot"), int):
        raise rpc.WorkerUnavailable("The guild's node answered no voice offer")
    with transaction.atomic():
        RemoteVoiceSession.objects.update_or_create(
            guild_id=link.guild_id,
            user=user,
            defaults={
                "channel_id": channel_id,
                "session_id": str(offer.get("session_id") or "")[:64],
                "token": token,
                "endpoint": endpoint,
            },
        )
        listed = offer.get("voice_states") if isinstance(offer.get("voice_states"), list) else []
        # `listed` is a list: the isinstance check on the same line.
        seen = {apply_state(link, s) for s in listed if isinstance(s, dict)} - {None}  # type: ignore[union-attr]
        # None was taken out of `seen` on the line above.
        for stale in VoiceState.objects.filter(guild_id=link.guild_id).exclude(user_id__in=seen):  # type: ignore[misc]
            stale.delete()
            _broadcast(stale, left=True)
    servers = offer.get("ice_servers")  # the host's TURN credentials: media goes there
    return {
        "guild_id": str(link.guild_id),
        "channel_id": str(channel_id),
        "slot": offer["slot"],
        "slots": offer.get("slots"),
        "sdp": offer["sdp"],
        "type": "offer",
        "ice_servers": servers if isinstance(servers, list) else [],
        "voice_states": services.guild_voice_states(link.guild_id),
        "hosted_by": link.domain,
    }


def _session(user: User, guild_id: Any) -> RemoteVoiceSession:
    link = _link(guild_id)
    found = RemoteVoiceSession.objects.filter(guild_id=link.guild_id, user=user).first()
    if found is None:
        raise NotFound("Not connected to voice in this guild", code=10065)
    return found


def check_answer(user: User, guild_id: Any, sdp: Any) -> None:
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or len(sdp) > 100_000:
        raise Invalid(errors={"sdp": ["An SDP answer."]})
    session = _session(user, guild_id)
    _post(session.endpoint, {"token": session.token, "op": "answer", "sdp": sdp})


def check_self_update(user: User, guild_id: Any, *, self_mute: Any, self_deaf: Any) -> None:
    session = _session(user, guild_id)
    payload = {"token": session.token, "op": "update"}
    _post(session.endpoint, {**payload, "self_mute": bool(self_mute), "self_deaf": bool(self_deaf)})


def check_leave(user: User, guild_id: Any) -> None:
    link = _link(guild_id)
    session = RemoteVoiceSession.objects.filter(guild_id=link.guild_id, user=user).first()
    if session is not None:
        try:
            _post(session.endpoint, {"token": session.token, "op": "leave"})
        except APIError:
            pass  # the host ended it already (or is unreachable): we are out either way
        session.delete()
    with transaction.atomic():
        for state in VoiceState.objects.filter(guild_id=link.guild_id, user=user):
            state.delete()
            _broadcast(state, left=True)


def _broadcast(state: VoiceState, *, left: bool = False) -> None:
    events.broadcast(
        events.guild_group(state.guild_id),
        "VOICE_STATE_UPDATE",
        services.state_payload(state, left=left),
    )


def apply_state(link: Any, obj: dict[str, Any]) -> int | None:
    """Mirror one voice state the host sent (its Announce, or its join reply) into the
    replica and tell our sessions. Returns the local user id it concerns."""
    from federation.people import is_remote, user_for_actor

    actor = obj.get("actor")
    if not isinstance(actor, str) or not actor.startswith(("http://", "https://")):
        return None
    try:
        user = user_for_actor(actor)
    except LookupError:
        return None
    session_id = str(obj.get("sessionId") or "")[:64]
    current = VoiceState.objects.filter(guild_id=link.guild_id, user=user).first()
    raw_channel = obj.get("channelId")
    if raw_channel is None:
        if current is not None and current.session_id in {session_id, ""}:
            current.delete()
            _broadcast(current, left=True)
        if not is_remote(user):
            RemoteVoiceSession.objects.filter(
                guild_id=link.guild_id, user=user, session_id=session_id
            ).delete()
        return user.id
    channel = Channel.objects.filter(id=int(raw_channel), guild_id=link.guild_id).first()
    if channel is None:
        return None
    if not is_remote(user) and not (
        RemoteVoiceSession.objects.filter(
            guild_id=link.guild_id, user=user, session_id=session_id
        ).exists()
    ):
        # One of our members is only ever in the host's voice through a session this node
        # opened (check_join saves it before applying the host's list). A state naming no live
        # session is a delivery that arrived after the leave (retries reorder): applying it
        # would show them in a channel they left, and their next join would be taken for a
        # self-mute change of a session that no longer exists.
        return None
    fields = {
        "channel": channel,
        "session_id": session_id,
        "slot": int(obj.get("slot") or 0),
        "mute": bool(obj.get("mute")),
        "deaf": bool(obj.get("deaf")),
        "self_mute": bool(obj.get("selfMute")),
        "self_deaf": bool(obj.get("selfDeaf")),
        "suppress": bool(obj.get("suppress")),
    }
    unchanged = current is not None and all(
        getattr(current, k) == v for k, v in fields.items() if k != "channel"
    )
    if unchanged and current is not None and current.channel_id == channel.id:
        return user.id
    state, _ = VoiceState.objects.update_or_create(
        guild_id=link.guild_id, user=user, defaults=fields
    )
    _broadcast(state)
    if not is_remote(user):
        moved = RemoteVoiceSession.objects.filter(
            guild_id=link.guild_id, user=user, session_id=session_id
        ).exclude(channel_id=channel.id)
        if moved.update(channel_id=channel.id):  # a moderator on the host moved our member
            payload = {
                "guild_id": str(link.guild_id),
                "channel_id": str(channel.id),
                "reconnect": True,
            }
            events.broadcast_ephemeral(events.user_group(user.id), "VOICE_RECONNECT", payload)
    return user.id
