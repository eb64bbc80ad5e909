"""X3DH, following Signal's specification (revision 1, 2016-11-04), with curve X25519,
hash SHA-256 and info "UNITED_X3DH_v1".

Identity keys are the devices' Ed25519 keys (the accounts app stores and signs with them);
for the DH steps they are converted to X25519 with libsodium's
crypto_sign_ed25519_{pk,sk}_to_curve25519, the same birational map XEdDSA relies on. The
signed prekey's signature is Ed25519 over its 32 raw bytes. SK = HKDF(salt = 32 zero bytes,
ikm = 32 0xFF bytes || DH1 || DH2 || DH3 [|| DH4], info, 32). AD = IK_A || IK_B (the
initiator's Ed25519 identity key first).
"""

from __future__ import annotations

from dataclasses import dataclass

from united_client.e2e import primitives as c
from united_client.e2e.errors import DecryptError, E2EError

INFO = b"UNITED_X3DH_v1"
F = b"\xff" * 32
ZERO32 = bytes(32)


def kdf(dh_concat: bytes) -> bytes:
    return c.hkdf(F + dh_concat, ZERO32, INFO, 32)


@dataclass(frozen=True)
class Bundle:
    """A peer device's published keys (one device of GET /users/{id}/keys)."""

    user_id: str
    device_id: str
    identity_key: bytes
    spk_id: int
    spk: bytes
    spk_signature: bytes
    opk_id: int | None = None
    opk: bytes | None = None

    @classmethod
    def from_api(cls, user_id: str, d: dict) -> Bundle:
        opk = d.get("one_time_prekey")
        return cls(
            str(user_id),
            str(d["device_id"]),
            c.unb64(d["identity_key"], 32),
            int(d["signed_prekey"]["key_id"]),
            c.unb64(d["signed_prekey"]["public_key"], 32),
            c.unb64(d["signed_prekey"]["signature"], 64),
            int(opk["key_id"]) if opk else None,
            c.unb64(opk["public_key"], 32) if opk else None,
        )


def initiate(
    identity_seed: bytes, identity_pub: bytes, bundle: Bundle, ek_priv: bytes | None = None
) -> tuple[bytes, bytes, bytes]:
    """Alice's side: (SK, ephemeral public key, AD). Refuses a badly signed prekey.
    `ek_priv` is for test vectors only; normally the ephemeral key is fresh."""
    if not c.ed25519_verify(bundle.identity_key, bundle.spk, bundle.spk_signature):
        raise E2EError("The signed prekey's signature does not verify.", "bad_prekey_signature")
    if ek_priv is None:
        ek_priv, ek_pub = c.x25519_keypair()
    else:
        ek_pub = c.x25519_public(ek_priv)
    ik_a = c.ed25519_seed_to_x25519(identity_seed)
    ik_b = c.ed25519_pk_to_x25519(bundle.identity_key)
    dh = c.x25519(ik_a, bundle.spk) + c.x25519(ek_priv, ik_b) + c.x25519(ek_priv, bundle.spk)
    if bundle.opk is not None:
        dh += c.x25519(ek_priv, bundle.opk)
    return kdf(dh), ek_pub, identity_pub + bundle.identity_key


def respond(
    identity_seed: bytes,
    identity_pub: bytes,
    spk_priv: bytes,
    opk_priv: bytes | None,
    peer_identity: bytes,
    ek: bytes,
) -> tuple[bytes, bytes]:
    """Bob's side: (SK, AD)."""
    try:
        ik_b = c.ed25519_seed_to_x25519(identity_seed)
        ik_a = c.ed25519_pk_to_x25519(peer_identity)
        dh = c.x25519(spk_priv, ik_a) + c.x25519(ik_b, ek) + c.x25519(spk_priv, ek)
        if opk_priv is not None:
            dh += c.x25519(opk_priv, ek)
    except Exception:
        raise DecryptError("The session-start header holds an invalid key.", "malformed") from None
    return kdf(dh), peer_identity + identity_pub
