from __future__ import annotations


class E2EError(Exception):
    """Base class; `reason` is a short stable code a UI can show ("tampered", "replay", …)."""

    reason = "error"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason:
            self.reason = reason


class DecryptError(E2EError):
    reason = "undecryptable"


class DeviceListError(E2EError):
    reason = "device_list"
