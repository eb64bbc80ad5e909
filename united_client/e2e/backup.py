"""Key backup from the recovery phrase.

The accounts app makes the recovery key from the phrase's BIP39 seed: its first 32 bytes are
an Ed25519 private key. The backup key comes from the other half:
HKDF-SHA256(ikm = seed[32:64], salt = 32 zero bytes, info = "UNITED_E2E_backup_v1", 32).
The backup is the device's Ed25519 identity seed (JSON), sealed with XChaCha20-Poly1305
(random 24-byte nonce, associated data "UNITED_E2E_backup_v1\\n" + user id) and stored on the
node as an opaque object. Restoring on a new device recovers the identity key, so contacts'
safety numbers do not change; the new device's list is signed by the recovery key, which the
pinned device list names. Message history is not in the backup: sessions start afresh.
"""

from __future__ import annotations

import json
from typing import Any

from mnemonic import Mnemonic
from nacl import bindings
from nacl.exceptions import CryptoError

from united_client.e2e import primitives as c
from united_client.e2e.errors import E2EError

INFO = b"UNITED_E2E_backup_v1"


def _seed(phrase: str) -> bytes:
    if not Mnemonic("english").check(phrase):
        raise E2EError("That is not a valid recovery phrase.", "bad_phrase")
    return Mnemonic.to_seed(phrase)


def recovery_keypair(phrase: str) -> tuple[bytes, bytes]:
    """(seed, public) of the account recovery key, as the accounts app derives it."""
    return c.ed25519_keypair(_seed(phrase)[:32])


def backup_key(phrase: str) -> bytes:
    return c.hkdf(_seed(phrase)[32:], bytes(32), INFO, 32)


def seal(phrase: str, user_id: str, identity_seed: bytes) -> dict[str, Any]:
    nonce = bindings.randombytes(24)
    body = json.dumps({"identity_seed": c.b64(identity_seed)}).encode()
    ad = INFO + b"\n" + str(user_id).encode()
    return {
        "v": 1,
        "nonce": c.b64(nonce),
        "ciphertext": c.b64(c.aead_encrypt(backup_key(phrase), nonce, body, ad)),
    }


def open_backup(phrase: str, user_id: str, backup: dict[str, Any]) -> bytes:
    ad = INFO + b"\n" + str(user_id).encode()
    try:
        body = c.aead_decrypt(
            backup_key(phrase), c.unb64(backup["nonce"], 24), c.unb64(backup["ciphertext"]), ad
        )
        return c.unb64(json.loads(body)["identity_seed"], 32)
    except (CryptoError, KeyError, ValueError, TypeError):
        raise E2EError("This phrase does not open the key backup.", "bad_phrase") from None
