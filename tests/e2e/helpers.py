"""Pure client-side helpers: two devices talking without a server."""

from __future__ import annotations

from united_client.e2e import x3dh
from united_client.e2e.device import LocalDevice


def make_device(user_id: str, device_id: str, prekeys: int = 5) -> LocalDevice:
    dev = LocalDevice.create(user_id, prekeys)
    dev.device_id = device_id
    return dev


def bundle_of(dev: LocalDevice, with_opk: bool = True) -> x3dh.Bundle:
    reg = dev.registration()
    opk = reg["one_time_prekeys"][0] if with_opk else None
    return x3dh.Bundle.from_api(
        dev.user_id,
        {
            "device_id": dev.device_id,
            "identity_key": reg["identity_key"],
            "signed_prekey": reg["signed_prekey"],
            "one_time_prekey": opk,
        },
    )


def send(sender: LocalDevice, receiver: LocalDevice, text: str, channel: str = "500") -> dict:
    if not sender.has_session(receiver.device_id):
        sender.start_session(bundle_of(receiver))
    return sender.encrypt(
        channel, [(receiver.user_id, receiver.device_id)], {"type": "message", "content": text}
    )


def text(receiver: LocalDevice, envelope: dict) -> str:
    return receiver.decrypt(envelope).payload["content"]
