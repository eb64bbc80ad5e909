"""What DMs need from another node, declared here and implemented by an adapter (federation
registers it in `FederationConfig.ready()`).

With none registered this node behaves as one without federation: every user is local, and a
`name@node` recipient is refused with a 400 that says so (docs/architecture.md, "Ports").
"""

from __future__ import annotations

from typing import Any, Protocol

from accounts.models import User
from guilds.models import Channel


class RemoteDMs(Protocol):
    def resolve_handle(self, handle: str) -> User:
        """`name@node` → our own user or the local account of a member of another node."""

    def remote_user(self, user_id: Any) -> User | None:
        """The local account of a member of another node with this id, or None."""

    def remote_user_ids(self) -> list[int]:
        """The ids of every local account of a member of another node."""

    def open_dm(self, user: User, other: User) -> tuple[Channel, bool]:
        """The cross-node DM with `other`, made if new, and whether it was."""


_remote_dms: RemoteDMs | None = None


def register_remote_dms(impl: RemoteDMs | None) -> None:
    global _remote_dms
    _remote_dms = impl


def remote_dms() -> RemoteDMs | None:
    return _remote_dms
