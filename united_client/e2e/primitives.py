"""The only primitives the protocol uses, each a thin call into PyNaCl (libsodium) or
`cryptography` — nothing here implements a primitive itself.

X25519 (crypto_scalarmult), Ed25519 (crypto_sign), Ed25519→X25519 key conversion
(crypto_sign_ed25519_{pk,sk}_to_curve25519), XChaCha20-Poly1305-IETF AEAD, HKDF-SHA256 and
HMAC-SHA256 (`cryptography`).
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl import bindings
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def unb64(value: str, size: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise ValueError("expected base64 text")
    raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    if size is not None and len(raw) != size:
        raise ValueError(f"expected {size} bytes")
    return raw


def x25519_keypair() -> tuple[bytes, bytes]:
    """(private, public)"""
    sk = PrivateKey.generate()
    return bytes(sk), bytes(sk.public_key)


def x25519_public(private: bytes) -> bytes:
    return bindings.crypto_scalarmult_base(private)


def x25519(private: bytes, public: bytes) -> bytes:
    return bindings.crypto_scalarmult(private, public)


def ed25519_keypair(seed: bytes | None = None) -> tuple[bytes, bytes]:
    """(seed, public); the seed is the 32-byte private key."""
    key = SigningKey(seed) if seed is not None else SigningKey.generate()
    return bytes(key), bytes(key.verify_key)


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    return SigningKey(seed).sign(message).signature


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(public).verify(message, signature)
    except (BadSignatureError, CryptoError, ValueError, TypeError):
        return False
    return True


def ed25519_pk_to_x25519(public: bytes) -> bytes:
    return bindings.crypto_sign_ed25519_pk_to_curve25519(public)


def ed25519_seed_to_x25519(seed: bytes) -> bytes:
    _, sk = bindings.crypto_sign_seed_keypair(seed)  # libsodium's 64-byte secret key
    return bindings.crypto_sign_ed25519_sk_to_curve25519(sk)


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def aead_encrypt(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    return bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key)


def aead_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    return bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, ad, nonce, key)
