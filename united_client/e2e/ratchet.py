"""The Double Ratchet, following Signal's specification (revision 1, 2016-11-20) to the
letter: KDF_RK = HKDF-SHA256(salt=RK, ikm=DH output, info) → 64 bytes (new RK, CK);
KDF_CK = HMAC-SHA256(CK, 0x01) for the message key and HMAC-SHA256(CK, 0x02) for the next
chain key; ENCRYPT = HKDF-SHA256(ikm=MK, salt=32 zero bytes, info) → 56 bytes (key, nonce)
then XChaCha20-Poly1305-IETF with associated data CONCAT(AD, header).

Bounds, as in libsignal: a receiving chain may be advanced by at most MAX_JUMP (25,000)
messages at once (more is refused and changes nothing); at most MAX_SKIPPED (2,000)
skipped message keys are kept per session, the oldest evicted first (that message is then
lost, reported as "evicted").

Decryption is transactional: the state is copied, the copy advanced, and the copy kept only
if the AEAD check passed — a forged message never moves the ratchet.
"""

from __future__ import annotations

import copy
import struct
from dataclasses import dataclass, field
from typing import Any

from nacl.exceptions import CryptoError

from united_client.e2e import primitives as c
from united_client.e2e.errors import DecryptError

INFO_RK = b"UNITED_Ratchet_v1"
INFO_MK = b"UNITED_MessageKeys_v1"
MAX_JUMP = 25_000
MAX_SKIPPED = 2_000
ZERO32 = bytes(32)


def kdf_rk(rk: bytes, dh_out: bytes) -> tuple[bytes, bytes]:
    out = c.hkdf(dh_out, rk, INFO_RK, 64)
    return out[:32], out[32:]


def kdf_ck(ck: bytes) -> tuple[bytes, bytes]:
    """(next chain key, message key)"""
    return c.hmac_sha256(ck, b"\x02"), c.hmac_sha256(ck, b"\x01")


def message_key_material(mk: bytes) -> tuple[bytes, bytes]:
    out = c.hkdf(mk, ZERO32, INFO_MK, 56)
    return out[:32], out[32:]


def encrypt(mk: bytes, plaintext: bytes, ad: bytes) -> bytes:
    key, nonce = message_key_material(mk)
    return c.aead_encrypt(key, nonce, plaintext, ad)


def decrypt(mk: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    key, nonce = message_key_material(mk)
    try:
        return c.aead_decrypt(key, nonce, ciphertext, ad)
    except CryptoError:
        raise DecryptError(
            "The message failed its integrity check (tampered, or wrong associated data).",
            "tampered",
        ) from None


@dataclass(frozen=True)
class Header:
    dh: bytes
    pn: int
    n: int

    def encode(self) -> bytes:
        return self.dh + struct.pack(">II", self.pn, self.n)

    def to_json(self) -> dict[str, Any]:
        return {"dh": c.b64(self.dh), "pn": self.pn, "n": self.n}

    @classmethod
    def from_json(cls, data: Any) -> Header:
        try:
            dh, pn, n = c.unb64(data["dh"], 32), data["pn"], data["n"]
        except (KeyError, TypeError, ValueError):
            raise DecryptError("Malformed ratchet header.", "malformed") from None
        for v in (pn, n):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**32:
                raise DecryptError("Malformed ratchet header.", "malformed")
        return cls(dh, pn, n)


@dataclass
class Ratchet:
    """One Double Ratchet session's state (Signal's `state`)."""

    dhs_priv: bytes
    dhs_pub: bytes
    dhr: bytes | None
    rk: bytes
    cks: bytes | None
    ckr: bytes | None
    ns: int = 0
    nr: int = 0
    pn: int = 0
    # (dh public, n) -> message key, insertion-ordered so the oldest is evicted first
    skipped: dict[tuple[bytes, int], bytes] = field(default_factory=dict)
    # the peer's earlier ratchet keys (a message on one of them without a stored key is a replay)
    old_dhr: list[bytes] = field(default_factory=list)

    @classmethod
    def init_alice(cls, sk: bytes, bob_dh_public: bytes) -> Ratchet:
        priv, pub = c.x25519_keypair()
        rk, cks = kdf_rk(sk, c.x25519(priv, bob_dh_public))
        return cls(priv, pub, bob_dh_public, rk, cks, None)

    @classmethod
    def init_bob(cls, sk: bytes, bob_dh_private: bytes) -> Ratchet:
        return cls(bob_dh_private, c.x25519_public(bob_dh_private), None, sk, None, None)

    def encrypt(self, plaintext: bytes, ad: bytes) -> tuple[Header, bytes]:
        if self.cks is None:
            raise DecryptError("This session cannot send before it has received.", "state")
        self.cks, mk = kdf_ck(self.cks)
        header = Header(self.dhs_pub, self.pn, self.ns)
        self.ns += 1
        return header, encrypt(mk, plaintext, ad + header.encode())

    def decrypt(self, header: Header, ciphertext: bytes, ad: bytes) -> bytes:
        trial = copy.deepcopy(self)
        plaintext = trial._decrypt(header, ciphertext, ad)
        self.__dict__.update(trial.__dict__)
        return plaintext

    def _decrypt(self, header: Header, ciphertext: bytes, ad: bytes) -> bytes:
        full_ad = ad + header.encode()
        mk = self.skipped.pop((header.dh, header.n), None)
        if mk is not None:
            return decrypt(mk, ciphertext, full_ad)
        if header.dh in self.old_dhr:
            raise DecryptError(
                "This message was already decrypted, or its key was discarded (replay or "
                "evicted skipped key).",
                "replay",
            )
        if header.dh != self.dhr:
            self._skip(header.pn)
            self._dh_ratchet(header)
        elif header.n < self.nr:
            raise DecryptError(
                "This message was already decrypted, or its key was discarded (replay or "
                "evicted skipped key).",
                "replay",
            )
        self._skip(header.n)
        self.ckr, mk = kdf_ck(self.ckr)  # type: ignore[arg-type]
        self.nr += 1
        return decrypt(mk, ciphertext, full_ad)

    def _skip(self, until: int) -> None:
        if self.ckr is None:
            return
        if until - self.nr > MAX_JUMP:
            raise DecryptError(
                f"The message skips more than {MAX_JUMP} messages; refused.", "too_far_ahead"
            )
        while self.nr < until:
            self.ckr, mk = kdf_ck(self.ckr)
            self.skipped[(self.dhr, self.nr)] = mk  # type: ignore[index]
            self.nr += 1
        while len(self.skipped) > MAX_SKIPPED:
            del self.skipped[next(iter(self.skipped))]

    def _dh_ratchet(self, header: Header) -> None:
        if self.dhr is not None:
            self.old_dhr = [*self.old_dhr, self.dhr][-20:]
        self.pn = self.ns
        self.ns = 0
        self.nr = 0
        self.dhr = header.dh
        self.rk, self.ckr = kdf_rk(self.rk, c.x25519(self.dhs_priv, self.dhr))
        self.dhs_priv, self.dhs_pub = c.x25519_keypair()
        self.rk, self.cks = kdf_rk(self.rk, c.x25519(self.dhs_priv, self.dhr))

    def to_json(self) -> dict[str, Any]:
        def opt(v: bytes | None) -> str | None:
            return c.b64(v) if v is not None else None

        return {
            "dhs_priv": c.b64(self.dhs_priv),
            "dhs_pub": c.b64(self.dhs_pub),
            "dhr": opt(self.dhr),
            "rk": c.b64(self.rk),
            "cks": opt(self.cks),
            "ckr": opt(self.ckr),
            "ns": self.ns,
            "nr": self.nr,
            "pn": self.pn,
            "skipped": [[c.b64(k[0]), k[1], c.b64(v)] for k, v in self.skipped.items()],
            "old_dhr": [c.b64(k) for k in self.old_dhr],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Ratchet:
        def opt(v: str | None) -> bytes | None:
            return c.unb64(v) if v is not None else None

        return cls(
            c.unb64(d["dhs_priv"]),
            c.unb64(d["dhs_pub"]),
            opt(d["dhr"]),
            c.unb64(d["rk"]),
            opt(d["cks"]),
            opt(d["ckr"]),
            d["ns"],
            d["nr"],
            d["pn"],
            {(c.unb64(k), n): c.unb64(v) for k, n, v in d["skipped"]},
            [c.unb64(k) for k in d.get("old_dhr", [])],
        )
