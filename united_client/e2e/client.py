"""A small API client for E2E DMs over any HTTP transport.

`http(method, path, body)` returns `(status, json)`; tests pass Django's test client, bots
pass `httpx_transport(base_url, token)`. The client keeps one `LocalDevice` and does what a
browser does: register the device, publish or extend the signed device list, verify contacts'
device lists, start sessions from key bundles, fan a message out to every device of every
recipient and to the sender's other devices, and open what arrives.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from united_client.e2e import backup, devicelist, files
from united_client.e2e.device import LocalDevice, Opened
from united_client.e2e.errors import DecryptError, E2EError

Transport = Callable[[str, str, Any], tuple[int, Any]]


def httpx_transport(base_url: str, token: str) -> Transport:
    import httpx

    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"})

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if method == "UPLOAD":  # multipart: {"data": bytes, "fields": {...}}
            files = {"file": ("blob", body["data"], "application/octet-stream")}
            r = client.post(path, files=files, data=body["fields"])
            return r.status_code, r.json()
        if method == "DOWNLOAD":
            r = client.get(path)
            return r.status_code, r.content
        r = client.request(method, path, json=body)
        return r.status_code, (r.json() if r.content else None)

    return call


class E2EClient:
    def __init__(self, http: Transport, user_id: str, device: LocalDevice | None = None):
        self.http = http
        self.user_id = str(user_id)
        self.device = device or LocalDevice.create(self.user_id)
        self.warnings: list[str] = []
        self.cursors: dict[str, str] = {}  # channel id -> last envelope id read

    def _call(self, method: str, path: str, body: Any = None, ok: tuple = (200, 201, 204)) -> Any:
        status, data = self.http(method, path, body)
        if status not in ok:
            raise E2EError(f"{method} {path} → {status}: {data}", "http")
        return data

    # --- devices ------------------------------------------------------------------------
    def register(self, name: str = "python") -> str:
        """Register this device; the account's first device publishes device list v1."""
        out = self._call("POST", "/api/v1/users/@me/devices", self.device.registration(name))
        self.device.device_id = out["id"]
        status, current = self.http("GET", f"/api/v1/users/{self.user_id}/device-list", None)
        if status == 404:
            self.publish_device_list({self.device.device_id: self.device.identity_pub}, 1)
        return self.device.device_id

    def publish_device_list(
        self, devices: dict[str, bytes], version: int, recovery_key: bytes | None = None
    ) -> None:
        if recovery_key is None and self.user_id in self.device.pins:
            recovery_key = self.device.pins[self.user_id].recovery_key
        wire = self.device.sign_device_list(version, devices, recovery_key)
        self._call("PUT", "/api/v1/users/@me/device-list", wire)
        self.device.check_device_list(self.user_id, wire)

    def replenish_prekeys(self, low: int = 10, batch: int = 20) -> int:
        """Upload more one-time prekeys when fewer than `low` are left (PREKEYS_LOW)."""
        mine = self._call("GET", "/api/v1/users/@me/devices")
        left = next(d["one_time_prekeys"] for d in mine if d["id"] == self.device.device_id)
        if left >= low:
            return left
        out = self._call(
            "POST",
            f"/api/v1/users/@me/devices/{self.device.device_id}/prekeys",
            {"one_time_prekeys": self.device.new_one_time_prekeys(batch)},
        )
        return out["one_time_prekeys"]

    def enable_backup(self, phrase: str) -> None:
        """Store this device's identity encrypted under the recovery phrase, and name the
        recovery key in the signed device list so it can vouch for a restored device."""
        self._call(
            "PUT",
            "/api/v1/users/@me/e2e-backup",
            backup.seal(phrase, self.user_id, self.device.identity_seed),
        )
        listed = self.refresh_device_list(self.user_id)
        _, recovery_pub = backup.recovery_keypair(phrase)
        self.publish_device_list(listed.devices, listed.version + 1, recovery_pub)

    @classmethod
    def restore(cls, http: Transport, user_id: str, phrase: str, name: str = "restored"):
        """A new device with the backed-up identity key; the old devices are retired and the
        new list is signed by the recovery key. History does not come back."""
        client = cls(http, user_id)
        status, data = http("GET", "/api/v1/users/@me/e2e-backup", None)
        if status != 200:
            raise E2EError("This account has no key backup.", "no_backup")
        seed = backup.open_backup(phrase, str(user_id), data)
        client.device = LocalDevice.create(str(user_id), seed=seed)
        out = client._call("POST", "/api/v1/users/@me/devices", client.device.registration(name))
        client.device.device_id = out["id"]
        status, current = http("GET", f"/api/v1/users/{user_id}/device-list", None)
        previous = devicelist.parse(current) if status == 200 else None
        recovery_seed, recovery_pub = backup.recovery_keypair(phrase)
        payload = devicelist.build_payload(
            str(user_id),
            (previous.version if previous else 0) + 1,
            {client.device.device_id: client.device.identity_pub},
            recovery_pub,
        )
        wire = devicelist.sign(payload, "recovery", recovery_seed)
        client._call("PUT", "/api/v1/users/@me/device-list", wire)
        client.device.pins[str(user_id)] = devicelist.parse(wire)
        for old in previous.devices if previous else ():
            if old != client.device.device_id:
                client.http("DELETE", f"/api/v1/users/@me/devices/{old}", None)
        return client

    def approve_device(self, device_id: str, identity_key: bytes) -> None:
        """Add one of our new devices to the signed list (from a device already on it)."""
        listed = self.refresh_device_list(self.user_id)
        devices = {**listed.devices, str(device_id): identity_key}
        self.publish_device_list(devices, listed.version + 1)

    def remove_device(self, device_id: str) -> None:
        listed = self.refresh_device_list(self.user_id)
        devices = {k: v for k, v in listed.devices.items() if k != str(device_id)}
        self.publish_device_list(devices, listed.version + 1)
        self._call("DELETE", f"/api/v1/users/@me/devices/{device_id}")

    def refresh_device_list(self, user_id: str) -> devicelist.DeviceList:
        wire = self._call("GET", f"/api/v1/users/{user_id}/device-list")
        return self.device.check_device_list(str(user_id), wire)

    # --- messages -----------------------------------------------------------------------
    def open_dm(self, user_id: str) -> str:
        out = self._call("POST", "/api/v1/users/@me/channels", {"recipient_id": str(user_id)})
        return out["id"]

    def _targets(self, user_ids: list[str]) -> list[tuple[str, str]]:
        targets = []
        for uid in dict.fromkeys([*map(str, user_ids), self.user_id]):
            listed = self.refresh_device_list(uid)
            wanted = [d for d in listed.devices if d != self.device.device_id]
            missing = [d for d in wanted if not self.device.has_session(d)]
            if missing:
                bundles, warnings = self.device.trusted_bundles(
                    uid, self._call("GET", f"/api/v1/users/{uid}/keys")
                )
                self.warnings.extend(warnings)
                for bundle in bundles:
                    if bundle.device_id in missing:
                        self.device.start_session(bundle)
            targets += [(uid, d) for d in wanted if self.device.has_session(d)]
        return targets

    def send(
        self, channel_id: str, recipients: list[str], payload: dict[str, Any] | str
    ) -> dict[str, Any]:
        """Encrypt for every listed device of `recipients` and our other devices; post."""
        if isinstance(payload, str):
            payload = {"type": "message", "id": uuid.uuid4().hex, "content": payload}
        envelope = self.device.encrypt(channel_id, self._targets(recipients), payload)
        envelope["nonce"] = uuid.uuid4().hex
        return self._call("POST", f"/api/v1/channels/{channel_id}/envelopes", envelope)

    def send_file(
        self, channel_id: str, recipients: list[str], name: str, data: bytes, mime: str = ""
    ) -> dict[str, Any]:
        """Encrypt a file here, upload the opaque blob, send its key and hash encrypted."""
        blob, descriptor = files.encrypt_file(data)
        fields = {"scope": f"dm:{channel_id}", "encrypted": "true"}
        uploaded = self._call("UPLOAD", "/api/v1/upload", {"data": blob, "fields": fields})
        attachment = {**descriptor, "id": uploaded["id"], "name": name, "type": mime}
        return self.send(
            channel_id,
            recipients,
            {"type": "message", "id": uuid.uuid4().hex, "content": "", "attachments": [attachment]},
        )

    def fetch_file(self, attachment: dict[str, Any]) -> bytes:
        blob = self._call("DOWNLOAD", f"/api/v1/attachments/{attachment['id']}/content")
        return files.decrypt_file(blob, attachment)

    def history(self, channel_id: str, after: str | None = None) -> list[dict[str, Any]]:
        q = f"device_id={self.device.device_id}" + (f"&after={after}" if after else "")
        return self._call("GET", f"/api/v1/channels/{channel_id}/envelopes?{q}")

    def open(self, envelope: dict[str, Any]) -> Opened:
        sender = str(envelope["sender"]["user_id"])
        if sender not in self.device.pins:
            self.refresh_device_list(sender)
        try:
            return self.device.decrypt(envelope)
        except DecryptError as exc:
            if exc.reason != "unknown_device":
                raise
        self.refresh_device_list(sender)  # the sender may have added the device since
        return self.device.decrypt(envelope)

    def receive(self, channel_id: str) -> list[Opened | DecryptError]:
        """Every new envelope opened, or the error that kept it unreadable."""
        out: list[Opened | DecryptError] = []
        for envelope in self.history(channel_id, self.cursors.get(str(channel_id))):
            self.cursors[str(channel_id)] = envelope["id"]
            try:
                out.append(self.open(envelope))
            except DecryptError as exc:
                out.append(exc)
        return out

    def read(self, channel_id: str) -> list[str | DecryptError]:
        """Every new message's text, or the error that kept it unreadable."""
        return [
            r if isinstance(r, DecryptError) else r.payload.get("content", "")
            for r in self.receive(channel_id)
        ]
