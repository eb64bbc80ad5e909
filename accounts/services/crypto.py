"""Ed25519 signature checks on base64 public keys (PyNaCl), in one place."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import VerifyKey

from united.errors import Invalid

KEY_BYTES = 32
SIGNATURE_BYTES = 64


def decode_key(value: Any, field: str, size: int = KEY_BYTES) -> bytes:
    """Raw bytes of a base64 (standard or URL-safe) value of exactly `size` bytes."""
    if not isinstance(value, str) or not value or len(value) > 200:
        raise Invalid(errors={field: ["Expected a base64 string."]})
    padded = value + "=" * (-len(value) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(errors={field: ["Not valid base64."]}) from None
    if len(raw) != size:
        raise Invalid(errors={field: [f"Expected {size} bytes."]})
    return raw


def encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, CryptoError, ValueError, TypeError):
        return False
    return True
