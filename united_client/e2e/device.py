"""A local device: its keys, its sessions with other devices, and the v1 envelope.

`LocalDevice.encrypt()` builds one envelope for a message: one copy per target device
(every device of the recipients and every other device of the sender), each encrypted with
that device's Double Ratchet session. A copy for a device we have no session with starts one
with X3DH from the device's key bundle and carries the X3DH header (`x3dh`) until the peer
answers. `LocalDevice.decrypt()` opens this device's copy. The whole state serialises to JSON
(`to_json`) so a client can keep it wherever it keeps secrets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from united_client.e2e import devicelist, x3dh
from united_client.e2e import primitives as c
from united_client.e2e.errors import DecryptError, E2EError
from united_client.e2e.ratchet import Header, Ratchet

VERSION = 1
MAX_SESSIONS_PER_DEVICE = 5


def context(channel_id: str, sender: tuple[str, str], recipient: tuple[str, str]) -> bytes:
    """The associated data binding channel, sender device and recipient device (docs/e2e.md)."""
    fields = [str(channel_id), *map(str, sender), *map(str, recipient)]
    return b"UNITED_E2E_v1\n" + "\n".join(fields).encode() + b"\n"


@dataclass
class Session:
    peer_user: str
    peer_device: str
    peer_identity: bytes
    ad: bytes
    ratchet: Ratchet
    base_key: bytes  # the X3DH ephemeral key that started it
    pending: dict[str, Any] | None = None  # X3DH header sent until the peer answers

    def to_json(self) -> dict[str, Any]:
        return {
            "peer_user": self.peer_user,
            "peer_device": self.peer_device,
            "peer_identity": c.b64(self.peer_identity),
            "ad": c.b64(self.ad),
            "ratchet": self.ratchet.to_json(),
            "base_key": c.b64(self.base_key),
            "pending": self.pending,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Session:
        return cls(
            d["peer_user"],
            d["peer_device"],
            c.unb64(d["peer_identity"]),
            c.unb64(d["ad"]),
            Ratchet.from_json(d["ratchet"]),
            c.unb64(d["base_key"]),
            d["pending"],
        )


@dataclass
class Opened:
    """A decrypted copy: the payload and who sent it."""

    payload: dict[str, Any]
    sender_user: str
    sender_device: str
    new_session: bool


@dataclass
class LocalDevice:
    user_id: str
    identity_seed: bytes
    identity_pub: bytes
    spks: dict[int, bytes]  # signed prekey id -> private key (the newest is current)
    opks: dict[int, bytes]  # one-time prekey id -> private key
    device_id: str = ""
    next_key_id: int = 1
    sessions: dict[str, list[Session]] = field(default_factory=dict)
    seen_base_keys: set[bytes] = field(default_factory=set)
    pins: dict[str, devicelist.DeviceList] = field(default_factory=dict)

    @classmethod
    def create(cls, user_id: str, prekeys: int = 20, seed: bytes | None = None) -> LocalDevice:
        ident_seed, ident_pub = c.ed25519_keypair(seed)
        spk_priv, _ = c.x25519_keypair()
        dev = cls(str(user_id), ident_seed, ident_pub, {1: spk_priv}, {}, next_key_id=2)
        dev.new_one_time_prekeys(prekeys)
        return dev

    # --- key publication ----------------------------------------------------------------
    @property
    def spk_id(self) -> int:
        return max(self.spks)

    def signed_prekey(self) -> dict[str, Any]:
        pub = c.x25519_public(self.spks[self.spk_id])
        return {
            "key_id": self.spk_id,
            "public_key": c.b64(pub),
            "signature": c.b64(c.ed25519_sign(self.identity_seed, pub)),
        }

    def new_one_time_prekeys(self, count: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(count):
            priv, pub = c.x25519_keypair()
            self.opks[self.next_key_id] = priv
            out.append({"key_id": self.next_key_id, "public_key": c.b64(pub)})
            self.next_key_id += 1
        return out

    def registration(self, name: str = "python") -> dict[str, Any]:
        """The body of POST /api/v1/users/@me/devices."""
        return {
            "name": name,
            "identity_key": c.b64(self.identity_pub),
            "signed_prekey": self.signed_prekey(),
            "one_time_prekeys": [
                {"key_id": k, "public_key": c.b64(c.x25519_public(v))}
                for k, v in sorted(self.opks.items())
            ],
        }

    def sign_device_list(
        self,
        version: int,
        devices: dict[str, bytes],
        recovery_key: bytes | None = None,
    ) -> dict[str, Any]:
        payload = devicelist.build_payload(self.user_id, version, devices, recovery_key)
        return devicelist.sign(payload, self.device_id, self.identity_seed)

    # --- device lists -------------------------------------------------------------------
    def check_device_list(self, user_id: str, wire: Any) -> devicelist.DeviceList:
        """Verify and pin a contact's (or our own) signed device list."""
        listed = devicelist.verify(wire, self.pins.get(str(user_id)), str(user_id))
        self.pins[str(user_id)] = listed
        return listed

    def trusted_bundles(
        self, user_id: str, key_bundle: dict[str, Any]
    ) -> tuple[list[x3dh.Bundle], list[str]]:
        """Split GET /users/{id}/keys into devices on the pinned list and warnings."""
        pinned = self.pins.get(str(user_id))
        if pinned is None:
            raise E2EError("No verified device list for this account yet.", "no_device_list")
        ok, warnings = [], []
        for d in key_bundle.get("devices", []):
            try:
                bundle = x3dh.Bundle.from_api(str(user_id), d)
            except (KeyError, TypeError, ValueError):
                # One device's garbage must not stop a message to the others.
                named = d.get("device_id") if isinstance(d, dict) else d
                warnings.append(f"device {named} has a malformed key bundle")
                continue
            known = pinned.devices.get(bundle.device_id)
            if known is None:
                warnings.append(f"device {bundle.device_id} is not on the signed device list")
            elif known != bundle.identity_key:
                warnings.append(f"device {bundle.device_id} has a key its owner did not sign")
            elif bundle.device_id != self.device_id:
                ok.append(bundle)
        return ok, warnings

    def home_id(self, user_id: str) -> str:
        """The user id a message binds: the one in the account's signed device list (their
        home node's id; the same as ours for a local account)."""
        pinned = self.pins.get(str(user_id))
        return pinned.user_id if pinned is not None else str(user_id)

    # --- sessions -----------------------------------------------------------------------
    def has_session(self, device_id: str) -> bool:
        return bool(self.sessions.get(str(device_id)))

    def start_session(self, bundle: x3dh.Bundle) -> Session:
        sk, ek, ad = x3dh.initiate(self.identity_seed, self.identity_pub, bundle)
        session = Session(
            bundle.user_id,
            bundle.device_id,
            bundle.identity_key,
            ad,
            Ratchet.init_alice(sk, bundle.spk),
            ek,
            {
                "ik": c.b64(self.identity_pub),
                "ek": c.b64(ek),
                "spk_id": bundle.spk_id,
                "opk_id": bundle.opk_id,
            },
        )
        self._add_session(session)
        return session

    def _add_session(self, session: Session) -> None:
        rows = self.sessions.setdefault(session.peer_device, [])
        rows.insert(0, session)
        del rows[MAX_SESSIONS_PER_DEVICE:]

    def forget_device(self, device_id: str) -> None:
        self.sessions.pop(str(device_id), None)

    # --- envelopes ----------------------------------------------------------------------
    def encrypt(
        self, channel_id: str, targets: list[tuple[str, str]], payload: dict[str, Any]
    ) -> dict[str, Any]:
        """An envelope with one copy per (user id, device id) in `targets`; each needs a
        session (start one from a bundle first)."""
        plaintext = json.dumps(payload, separators=(",", ":")).encode()
        me = (self.user_id, self.device_id)
        copies = []
        for user_id, device_id in targets:
            rows = self.sessions.get(str(device_id))
            if not rows:
                raise E2EError(f"No session with device {device_id}.", "no_session")
            session = rows[0]
            ad = session.ad + context(channel_id, me, (self.home_id(user_id), str(device_id)))
            header, ciphertext = session.ratchet.encrypt(plaintext, ad)
            copies.append(
                {
                    "user_id": str(user_id),
                    "device_id": str(device_id),
                    "header": header.to_json(),
                    "x3dh": session.pending,
                    "ciphertext": c.b64(ciphertext),
                }
            )
        return {
            "v": VERSION,
            "channel_id": str(channel_id),
            "sender": {"user_id": self.user_id, "device_id": self.device_id},
            "copies": copies,
        }

    def decrypt(self, envelope: dict[str, Any]) -> Opened:
        try:
            if envelope["v"] != VERSION:
                raise DecryptError(f"Unknown envelope version {envelope['v']}.", "version")
            channel_id = str(envelope["channel_id"])
            sender = (str(envelope["sender"]["user_id"]), str(envelope["sender"]["device_id"]))
            mine = [d for d in envelope["copies"] if str(d["device_id"]) == self.device_id]
        except (KeyError, TypeError):
            raise DecryptError("Malformed envelope.", "malformed") from None
        if not mine:
            raise DecryptError("This message was not encrypted for this device.", "not_for_device")
        copy = mine[0]
        if str(copy.get("user_id")) != self.user_id:
            raise DecryptError("This copy names another account.", "malformed")
        header = Header.from_json(copy.get("header"))
        try:
            ciphertext = c.unb64(copy["ciphertext"])
        except (KeyError, ValueError):
            raise DecryptError("Malformed ciphertext.", "malformed") from None
        bound = (self.home_id(sender[0]), sender[1])
        ctx = context(channel_id, bound, (self.user_id, self.device_id))
        pinned = self.pins.get(sender[0])
        if copy.get("x3dh"):
            session, plaintext, new = self._open_prekey_message(
                sender, copy["x3dh"], header, ciphertext, ctx
            )
        else:
            session, plaintext, new = self._open_message(sender, header, ciphertext, ctx)
        if pinned is not None and pinned.devices.get(sender[1]) != session.peer_identity:
            raise DecryptError(
                "The sending device is not on the sender's signed device list.", "unknown_device"
            )
        try:
            payload = json.loads(plaintext)
        except ValueError:
            raise DecryptError("The decrypted message is not JSON.", "malformed") from None
        return Opened(payload, sender[0], sender[1], new)

    def _open_message(
        self, sender: tuple[str, str], header: Header, ciphertext: bytes, ctx: bytes
    ) -> tuple[Session, bytes, bool]:
        rows = self.sessions.get(sender[1]) or []
        if not rows:
            raise DecryptError("No session with the sending device.", "no_session")
        first_error: DecryptError | None = None
        for session in rows:
            try:
                plaintext = session.ratchet.decrypt(header, ciphertext, session.ad + ctx)
            except DecryptError as exc:
                first_error = first_error or exc
                continue
            session.pending = None
            return session, plaintext, False
        raise first_error  # type: ignore[misc]

    def _open_prekey_message(
        self,
        sender: tuple[str, str],
        head: Any,
        header: Header,
        ciphertext: bytes,
        ctx: bytes,
    ) -> tuple[Session, bytes, bool]:
        try:
            ik = c.unb64(head["ik"], 32)
            ek = c.unb64(head["ek"], 32)
            spk_id = int(head["spk_id"])
            opk_id = None if head.get("opk_id") is None else int(head["opk_id"])
        except (KeyError, TypeError, ValueError):
            raise DecryptError("Malformed session-start header.", "malformed") from None
        for session in self.sessions.get(sender[1]) or []:
            if session.base_key == ek:
                plaintext = session.ratchet.decrypt(header, ciphertext, session.ad + ctx)
                return session, plaintext, False
        if ek in self.seen_base_keys:
            raise DecryptError("This session start was already used (replay).", "replay")
        spk = self.spks.get(spk_id)
        if spk is None:
            raise DecryptError("Unknown signed prekey.", "unknown_prekey")
        opk = None
        if opk_id is not None:
            opk = self.opks.get(opk_id)
            if opk is None:
                raise DecryptError("That one-time prekey was already used (replay).", "replay")
        sk, ad = x3dh.respond(self.identity_seed, self.identity_pub, spk, opk, ik, ek)
        session = Session(sender[0], sender[1], ik, ad, Ratchet.init_bob(sk, spk), ek)
        plaintext = session.ratchet.decrypt(header, ciphertext, ad + ctx)
        if opk_id is not None:
            del self.opks[opk_id]
        self.seen_base_keys.add(ek)
        self._add_session(session)
        return session, plaintext, True

    # --- persistence --------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "identity_seed": c.b64(self.identity_seed),
            "identity_pub": c.b64(self.identity_pub),
            "spks": {str(k): c.b64(v) for k, v in self.spks.items()},
            "opks": {str(k): c.b64(v) for k, v in self.opks.items()},
            "next_key_id": self.next_key_id,
            "sessions": {k: [s.to_json() for s in v] for k, v in self.sessions.items()},
            "seen_base_keys": [c.b64(k) for k in self.seen_base_keys],
            "pins": {k: v.to_wire() for k, v in self.pins.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LocalDevice:
        return cls(
            d["user_id"],
            c.unb64(d["identity_seed"]),
            c.unb64(d["identity_pub"]),
            {int(k): c.unb64(v) for k, v in d["spks"].items()},
            {int(k): c.unb64(v) for k, v in d["opks"].items()},
            d["device_id"],
            d["next_key_id"],
            {k: [Session.from_json(s) for s in v] for k, v in d["sessions"].items()},
            {c.unb64(k) for k in d["seen_base_keys"]},
            {k: devicelist.parse(v) for k, v in d["pins"].items()},
        )
