"""Gateway ops for voice, called by messaging.consumers through messaging.ports.VoiceOps
(docs/gateway.md, docs/voice.md).

op 4 VOICE_STATE_UPDATE {guild_id, channel_id, self_mute, self_deaf}: channel_id null leaves;
the channel the member is already in only changes the self flags, unless `reconnect` is true;
any other channel joins it. A join answers this session with VOICE_SERVER_UPDATE (the worker's
offer). op 30 VOICE_ANSWER {guild_id, sdp, version?} hands the client's answer to the worker
(version: of a VOICE_OFFER, the worker's renegotiation when video starts or stops); op 31
VOICE_CANDIDATE {guild_id, candidate} trickles the client's ICE candidates. A refusal
answers with VOICE_ERROR {guild_id, code, message} (Discord-shaped error fields).
"""

from __future__ import annotations

from typing import Any

from messaging import gateway
from united.errors import APIError, Invalid, NotFound
from united.ids import parse_snowflake
from voice import ports
from voice import services as local_services
from voice.models import VoiceState
from voice.rpc import subscriber

__all__ = ["handle", "prepare", "subscriber"]


def prepare() -> None:
    # The worker's answers reach this process through the subscriber, started on the loop.
    subscriber.ensure()


def handle(user: Any, session_id: str | None, op: int, d: dict[str, Any]) -> tuple[Any, Any]:
    guild_id = d.get("guild_id")
    channel_id = d.get("channel_id")
    if parse_snowflake(guild_id) is None or (
        channel_id is not None and parse_snowflake(channel_id) is None
    ):
        # Not an id at all (or past 2**63-1): the same answer as an unknown guild or channel.
        from guilds.services.access import unknown_channel, unknown_guild

        error = unknown_guild() if parse_snowflake(guild_id) is None else unknown_channel()
        return "VOICE_ERROR", {"guild_id": str(guild_id)[:32], **error.body()}
    # A guild hosted on another node: the same steps, signaled with that node (voice.ports).
    services: Any = ports.hosted_elsewhere(guild_id) or local_services
    try:
        local = services is local_services
        if op == gateway.VOICE_ANSWER:
            if local:
                local_services.check_answer(user, guild_id, d.get("sdp"), d.get("version"))
            else:
                services.check_answer(user, guild_id, d.get("sdp"))
            return None, None
        if op == gateway.VOICE_CANDIDATE:
            if not local:
                # The hosting node's signaling takes the complete answer only (docs/voice.md).
                raise Invalid(errors={"candidate": ["Not trickled to a guild hosted elsewhere."]})
            local_services.check_candidate(user, guild_id, d.get("candidate"))
            return None, None
        self_mute, self_deaf = bool(d.get("self_mute")), bool(d.get("self_deaf"))
        # Camera and screen share: ours on op 4 (Discord's client sends self_video there).
        video_flags = (
            {"self_video": d.get("self_video"), "self_stream": d.get("self_stream")}
            if local
            else {}
        )
        if channel_id is None:
            services.check_leave(user, guild_id)
            return None, None
        current = VoiceState.objects.filter(guild_id=_int(guild_id), user=user).first()
        if current and str(current.channel_id) == str(channel_id) and not d.get("reconnect"):
            try:
                services.check_self_update(
                    user, guild_id, self_mute=self_mute, self_deaf=self_deaf, **video_flags
                )
                return None, None
            except NotFound:
                pass  # shown in the channel, but no session of ours is: join it afresh
        offer = services.check_join(
            user,
            guild_id,
            channel_id,
            session_id=session_id or "",
            self_mute=self_mute,
            self_deaf=self_deaf,
            **({"video": True} if local else {}),
        )
        return "VOICE_SERVER_UPDATE", offer
    except APIError as error:
        return "VOICE_ERROR", {"guild_id": str(guild_id), **error.body()}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
