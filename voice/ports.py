"""What voice needs from another node, declared here and implemented by an adapter.

A guild hosted on another node (a replica here) has its voice channels on that node's SFU:
joining, answering, the self flags and leaving are signaled with it instead of our worker.
Federation implements this in `federation/voice.py` and registers it in
`FederationConfig.ready()`; with none registered every guild is hosted here
(docs/architecture.md, "Ports").
"""

from __future__ import annotations

from typing import Any, Protocol

from accounts.models import User

# A guild's voice is moderated on the node that hosts it (Discord-style error code).
ELSEWHERE = 90307


class RemoteVoice(Protocol):
    """The same signatures as voice.services' gateway steps, for a guild hosted elsewhere."""

    def hosted_elsewhere(self, guild_id: Any) -> bool: ...

    def check_join(
        self,
        user: User,
        guild_id: Any,
        channel_id: Any,
        *,
        session_id: str = "",
        self_mute: bool = False,
        self_deaf: bool = False,
    ) -> dict[str, Any]: ...

    def check_answer(self, user: User, guild_id: Any, sdp: Any) -> None: ...

    def check_self_update(
        self, user: User, guild_id: Any, *, self_mute: Any, self_deaf: Any
    ) -> None: ...

    def check_leave(self, user: User, guild_id: Any) -> None: ...


_remote_voice: RemoteVoice | None = None


def register_remote_voice(impl: RemoteVoice | None) -> None:
    global _remote_voice
    _remote_voice = impl


def remote_voice() -> RemoteVoice | None:
    return _remote_voice


def hosted_elsewhere(guild_id: Any) -> RemoteVoice | None:
    """The adapter to signal with when `guild_id` is hosted on another node, else None."""
    remote = _remote_voice
    return remote if remote is not None and remote.hosted_elsewhere(guild_id) else None
