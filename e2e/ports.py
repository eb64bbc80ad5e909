"""What end-to-end encrypted DMs need from another node, declared here and implemented by an
adapter (federation registers it in `FederationConfig.ready()`).

With none registered this node behaves as one without federation: every recipient is local,
so a copy addressed to a device that is not one of ours is refused as an unknown device
(docs/architecture.md, "Ports").
"""

from __future__ import annotations

from typing import Any, Protocol

from accounts.models import User
from guilds.models import Channel

Copies = list[dict[str, Any]]


class RemoteDevices(Protocol):
    def remote_user(self, user_id: Any) -> User | None:
        """The local account of a member of another node with this id, or None."""

    def device_list(self, requester: User, shadow: User) -> dict[str, Any]:
        """The shadow's signed device list, from their home node (or the last good one)."""

    def split_copies(self, channel: Channel, copies: Copies) -> tuple[Copies, dict[int, Copies]]:
        """(copies for this node's devices, {remote user id: their copies})."""

    def check_remote_copies(self, channel: Channel, sender: User, far: dict[int, Copies]) -> None:
        """Raise an APIError unless every remote copy may be relayed."""

    def relay(self, envelope: Any, sender: User, far: dict[int, Copies]) -> None:
        """Queue the remote copies for their home nodes, in the caller's transaction."""


_remote_devices: RemoteDevices | None = None


def register_remote_devices(impl: RemoteDevices | None) -> None:
    global _remote_devices
    _remote_devices = impl


def remote_devices() -> RemoteDevices | None:
    return _remote_devices
