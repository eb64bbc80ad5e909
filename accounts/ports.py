"""What accounts needs from another node, declared here and implemented by an adapter.

A member of another node has a local account here (its `name@node` shadow); their key bundles
live on their home node, and only the federation adapter can ask it. Federation registers its
implementation in `FederationConfig.ready()`; with none registered this node behaves as one
without federation: every account is local (docs/architecture.md, "Ports").
"""

from __future__ import annotations

from typing import Any, Protocol

from accounts.models import User


class RemoteKeys(Protocol):
    def remote_user(self, user_id: Any) -> User | None:
        """The local account of a member of another node with this id, or None."""

    def key_bundle(self, requester: User, shadow: User) -> dict[str, Any]:
        """The shadow's key bundles, asked of their home node as `requester`."""


_remote_keys: RemoteKeys | None = None


def register_remote_keys(impl: RemoteKeys | None) -> None:
    global _remote_keys
    _remote_keys = impl


def remote_keys() -> RemoteKeys | None:
    return _remote_keys
