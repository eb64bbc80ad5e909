"""What DMs need from another node, declared here and implemented by an adapter (federation
registers it in `FederationConfig.ready()`).

With none registered this node behaves as one without federation: every user is local, and a
`name@node` recipient is refused with a 400 that says so (docs/architecture.md, "Ports").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from accounts.models import User
from guilds.models import Channel
from united.errors import APIError


class RemoteDMs(Protocol):
    def resolve_handle(self, handle: str) -> User:
        """`name@node` → our own user or the local account of a member of another node."""

    def remote_user(self, user_id: Any) -> User | None:
        """The local account of a member of another node with this id, or None."""

    def remote_user_ids(self) -> list[int]:
        """The ids of every local account of a member of another node."""

    def open_dm(self, user: User, other: User) -> tuple[Channel, bool]:
        """The cross-node DM with `other`, made if new, and whether it was."""

    def create_group(self, user: User, others: list[User], name: str) -> Channel:
        """A group DM with members of other nodes, this node its authority."""

    def leave_group(self, user: User, channel: Channel) -> bool:
        """If `channel` is a federated group: `user` leaves it everywhere (True)."""

    def remove_from_group(self, user: User, channel: Channel, member: User) -> bool:
        """If `channel` is a federated group: its owner removes `member` everywhere (True)."""


_remote_dms: RemoteDMs | None = None


def register_remote_dms(impl: RemoteDMs | None) -> None:
    global _remote_dms
    _remote_dms = impl


def remote_dms() -> RemoteDMs | None:
    return _remote_dms


class SendGate(Protocol):
    """What moderation decides before a member speaks (moderation registers it in
    `ModerationConfig.ready()`; moderation sits above messaging). With none registered nothing
    is refused: no timeouts, no automod."""

    def check_message_allowed(
        self,
        user: User,
        channel_id: int,
        content: str,
        *,
        nonce: Any = None,
        access: Any = None,
        gate: Any = None,
    ) -> None:
        """Refuse (raise an APIError) a message this member may not send here now. `gate`:
        what `guild_gate` returned for the channel's guild, if the caller holds it."""

    def check_not_timed_out(self, user: User, channel: Channel) -> None:
        """Refuse a timed-out member's reaction, typing or new thread in `channel`."""

    def guild_gate(self, guild_id: int) -> Any:
        """What the gate needs to decide a guild's sends (its timeouts and rules), read once
        to be held in memory by the gateway; it has `fresh() -> bool`."""


_send_gate: SendGate | None = None


def register_send_gate(impl: SendGate | None) -> None:
    global _send_gate
    _send_gate = impl


def check_message_allowed(
    user: User,
    channel_id: int,
    content: str,
    *,
    nonce: Any = None,
    access: Any = None,
    gate: Any = None,
) -> None:
    if _send_gate is not None:
        _send_gate.check_message_allowed(
            user, channel_id, content, nonce=nonce, access=access, gate=gate
        )


def guild_gate(guild_id: int) -> Any:
    """The moderation gate's state for a guild, or None when nothing is registered."""
    return _send_gate.guild_gate(guild_id) if _send_gate is not None else None


def check_not_timed_out(user: User, channel: Channel) -> None:
    if _send_gate is not None:
        _send_gate.check_not_timed_out(user, channel)


class VoiceOps(Protocol):
    """The gateway's voice ops (4 VOICE_STATE_UPDATE, 30 VOICE_ANSWER, 31 VOICE_CANDIDATE),
    handled by voice (registered in `VoiceConfig.ready()`; voice sits above messaging). With
    none registered the consumer treats them as unknown ops."""

    def prepare(self) -> None:
        """On the consumer's event loop, before an op is handled (voice starts listening to
        its worker there)."""

    def handle(
        self, user: User, session_id: str | None, op: int, d: dict[str, Any]
    ) -> tuple[str | None, Any]:
        """Run in a database thread: the dispatch (event name and payload) to answer this
        session with, or (None, None)."""


_voice_ops: VoiceOps | None = None


def register_voice_ops(impl: VoiceOps | None) -> None:
    global _voice_ops
    _voice_ops = impl


def voice_ops() -> VoiceOps | None:
    return _voice_ops


# A guild channel may be end-to-end encrypted (e2e registers its check in `E2EConfig.ready()`:
# an MLS channel). Such a channel takes no plaintext body: the guard returns the refusal.
PlaintextGuard = Callable[[Channel], APIError | None]
_plaintext_guards: list[PlaintextGuard] = []


def register_plaintext_guard(guard: PlaintextGuard) -> None:
    if guard not in _plaintext_guards:
        _plaintext_guards.append(guard)


def plaintext_refusal(channel: Channel) -> APIError | None:
    for guard in _plaintext_guards:
        refusal = guard(channel)
        if refusal is not None:
            return refusal
    return None
