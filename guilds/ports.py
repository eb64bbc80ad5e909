"""What guilds need from moderation, declared here and implemented by moderation.

`moderation` sits above `guilds` (it keeps bans, timeouts and the node operator's suspensions
of guilds, all about guilds), so guilds do not import it: moderation registers its
implementation in `ModerationConfig.ready()`, and the guild services ask the registry at call
time. With none registered this node behaves as one without moderation: no guild is suspended
and nobody is banned (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from typing import Protocol


class Sanctions(Protocol):
    def is_suspended(self, guild_id: int) -> bool:
        """The node operator suspended this guild: nobody reads or writes it."""

    def suspended_ids(self, guild_ids: list[int]) -> frozenset[int]:
        """Which of these guilds are suspended, in one question (READY asks for all of a
        member's guilds at once)."""

    def is_banned(self, guild_id: int, user_id: int) -> bool:
        """The user is banned from the guild right now (a temporary ban may have ended)."""

    def banned_user_ids(self, guild_id: int) -> frozenset[int]:
        """Every user banned from the guild right now."""


_sanctions: Sanctions | None = None


def register_sanctions(impl: Sanctions | None) -> None:
    global _sanctions
    _sanctions = impl


def is_suspended(guild_id: int) -> bool:
    return _sanctions is not None and _sanctions.is_suspended(guild_id)


def suspended_ids(guild_ids: list[int]) -> frozenset[int]:
    return _sanctions.suspended_ids(guild_ids) if _sanctions is not None else frozenset()


def is_banned(guild_id: int, user_id: int) -> bool:
    return _sanctions is not None and _sanctions.is_banned(guild_id, user_id)


def banned_user_ids(guild_id: int) -> frozenset[int]:
    return _sanctions.banned_user_ids(guild_id) if _sanctions is not None else frozenset()
