"""Signed device lists: the server cannot silently add a device to an account.

A device list is a JSON text (`payload`) naming the account's devices and their Ed25519
identity keys, with a version that only grows. It is signed (Ed25519, over
"UNITED_DEVICE_LIST_v1\\n" + payload) by a device already on the list, or by the account's
recovery key named in the list. Clients pin the first list they see for a contact (trust on
first use, confirmed by comparing safety numbers) and accept a newer one only when it is
signed by a device or recovery key of the pinned list. A device the server lists in a key
bundle but that is absent from the pinned list gets no copy of a message, and the client
warns. The signed text is kept verbatim, so no JSON canonicalisation is needed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from united_client.e2e import primitives as c
from united_client.e2e.errors import DeviceListError

CONTEXT = b"UNITED_DEVICE_LIST_v1\n"


@dataclass(frozen=True)
class DeviceList:
    user_id: str
    version: int
    devices: dict[str, bytes]  # device id -> Ed25519 identity key
    recovery_key: bytes | None
    payload: str
    signature: bytes
    signer: str  # a device id, or "recovery"

    def to_wire(self) -> dict[str, Any]:
        return {"payload": self.payload, "signature": c.b64(self.signature), "signer": self.signer}


def build_payload(
    user_id: str, version: int, devices: dict[str, bytes], recovery_key: bytes | None = None
) -> str:
    return json.dumps(
        {
            "v": 1,
            "user_id": str(user_id),
            "version": version,
            "devices": [
                {"device_id": d, "identity_key": c.b64(k)} for d, k in sorted(devices.items())
            ],
            "recovery_key": c.b64(recovery_key) if recovery_key else None,
            "created_at": int(time.time() * 1000),
        },
        separators=(",", ":"),
    )


def sign(payload: str, signer: str, seed: bytes) -> dict[str, Any]:
    return {
        "payload": payload,
        "signature": c.b64(c.ed25519_sign(seed, CONTEXT + payload.encode())),
        "signer": signer,
    }


def parse(wire: Any) -> DeviceList:
    try:
        payload = wire["payload"]
        data = json.loads(payload)
        signature = c.unb64(wire["signature"], 64)
        signer = str(wire["signer"])
        if data["v"] != 1 or not isinstance(data["version"], int):
            raise ValueError
        devices = {str(d["device_id"]): c.unb64(d["identity_key"], 32) for d in data["devices"]}
        recovery = c.unb64(data["recovery_key"], 32) if data.get("recovery_key") else None
        listed = DeviceList(
            str(data["user_id"]), data["version"], devices, recovery, payload, signature, signer
        )
    except (KeyError, TypeError, ValueError):
        raise DeviceListError("Malformed device list.", "malformed") from None
    return listed


def _signer_key(listed: DeviceList, trusted: DeviceList) -> bytes | None:
    if listed.signer == "recovery":
        return trusted.recovery_key
    return trusted.devices.get(listed.signer)


def verify(wire: Any, pinned: DeviceList | None, user_id: str) -> DeviceList:
    """The list if it may replace `pinned` (None: first sight, must be self-signed)."""
    listed = parse(wire)
    # A member of another node (`acct` set by our node) has their home node's user id in the
    # list; that id, not our node's, is the one a message binds (docs/e2e.md, cross-node).
    remote = isinstance(wire, dict) and bool(wire.get("acct"))
    if listed.user_id != str(user_id) and not remote:
        raise DeviceListError("The device list belongs to another account.", "wrong_user")
    if pinned is not None and listed.user_id != pinned.user_id:
        raise DeviceListError("The device list belongs to another account.", "wrong_user")
    trusted = pinned or listed
    key = _signer_key(listed, trusted)
    if key is None or not c.ed25519_verify(
        key, CONTEXT + listed.payload.encode(), listed.signature
    ):
        raise DeviceListError(
            "The device list changed without a signature from a device you already trust: "
            "the server may be trying to add a device.",
            "unsigned_device_change",
        )
    if pinned is not None:
        if listed.version < pinned.version:
            raise DeviceListError("The server sent an older device list.", "rollback")
        if listed.version == pinned.version and listed.payload != pinned.payload:
            raise DeviceListError("Two different device lists with one version.", "fork")
    return listed
