"""This node's identity: an Ed25519 key (signatures between UNITED nodes) and an RSA-2048 key
(draft-cavage rsa-sha256, what Mastodon and most of the fediverse verify).

Keys are created on first use and stored in the database, the private half sealed with
libsodium's SecretBox under a key derived from UNITED_SECRET_KEY: a database dump alone does
not give away the node's identity (changing the secret key therefore needs a key rotation).
Rotation makes a new key the signer and keeps the old one published for an overlap period, so
requests signed just before the rotation still verify while remote caches refresh.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from nacl.secret import SecretBox

from federation.models import KeyAlgorithm, NodeKey

ROTATION_OVERLAP = timedelta(days=7)
PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class SigningKey:
    row_id: int
    algorithm: str
    private: PrivateKey
    public_pem: str

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.public_pem)


def key_fingerprint(public_pem: str) -> str:
    return hashlib.sha256(public_pem.encode()).hexdigest()[:16]


def _box() -> SecretBox:
    secret = hashlib.blake2b(
        settings.SECRET_KEY.encode(), digest_size=32, person=b"united-nodekey"
    ).digest()
    return SecretBox(secret)


def _generate(algorithm: str) -> tuple[PrivateKey, str]:
    private: PrivateKey
    if algorithm == KeyAlgorithm.ED25519:
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public_pem


def _seal(private: PrivateKey) -> bytes:
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return bytes(_box().encrypt(der))


_unsealed: dict[int, SigningKey] = {}


def _unseal(row: NodeKey) -> SigningKey:
    # Keys never change under an id: unseal each once per process.
    if row.id in _unsealed:
        return _unsealed[row.id]
    der = _box().decrypt(bytes(row.private_sealed))
    private = serialization.load_der_private_key(der, password=None)
    if not isinstance(private, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise TypeError(f"node key {row.id} is neither Ed25519 nor RSA")
    _unsealed[row.id] = SigningKey(row.id, row.algorithm, private, row.public_pem)
    return _unsealed[row.id]


def _create(algorithm: str) -> NodeKey:
    private, public_pem = _generate(algorithm)
    return NodeKey.objects.create(
        algorithm=algorithm, public_pem=public_pem, private_sealed=_seal(private)
    )


def signing_key(algorithm: str) -> SigningKey:
    """The active key of `algorithm`, created on first use."""
    row = NodeKey.objects.filter(algorithm=algorithm, retired_at__isnull=True).first()
    if row is None:
        with transaction.atomic():
            # Two processes may race on a fresh node: the lock row serialises creation.
            NodeKey.objects.select_for_update().filter(algorithm=algorithm).exists()
            row = NodeKey.objects.filter(algorithm=algorithm, retired_at__isnull=True).first()
            if row is None:
                row = _create(algorithm)
    return _unseal(row)


def ensure_keys() -> None:
    for algorithm in KeyAlgorithm.values:
        signing_key(algorithm)


def export_private_keys(using: str = "default") -> list[tuple[int, bytes]]:
    """Every key row's private half as PKCS#8 DER, for an encrypted backup (backup/): the
    sealed column is bound to this machine's secret key, which a restore may not share."""
    return [
        (row.id, bytes(_box().decrypt(bytes(row.private_sealed))))
        for row in NodeKey.objects.using(using).order_by("id")
    ]


def reseal_private_keys(keys: list[tuple[int, bytes]]) -> int:
    """Seal restored private halves under this machine's secret key. Refuses a DER that does
    not match its row's public key, so a restore never signs with a key peers do not know."""
    done = 0
    for row_id, der in keys:
        row = NodeKey.objects.get(id=row_id)
        private = serialization.load_der_private_key(der, password=None)
        if not isinstance(private, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"node key {row_id} is neither Ed25519 nor RSA")
        public_pem = (
            private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        if public_pem != row.public_pem:
            raise ValueError(f"node key {row_id}: the private half does not match the public key")
        NodeKey.objects.filter(id=row_id).update(private_sealed=_seal(private))
        _unsealed.pop(row_id, None)
        done += 1
    return done


def published_keys() -> list[NodeKey]:
    """Active keys and retired keys still inside their overlap, newest first."""
    now = timezone.now()
    return list(NodeKey.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)))


@transaction.atomic
def rotate(algorithm: str, overlap: timedelta = ROTATION_OVERLAP) -> NodeKey:
    now = timezone.now()
    NodeKey.objects.filter(algorithm=algorithm, retired_at__isnull=True).update(
        retired_at=now, expires_at=now + overlap
    )
    return _create(algorithm)


def load_public_pem(pem: str) -> PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise ValueError("only Ed25519 and RSA public keys are accepted")
    return key


# Multikey (FEP-521a, W3C Controlled Identifiers): Ed25519 as base58btc of 0xed01 + raw key.
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_MULTICODEC_ED25519 = b"\xed\x01"


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _B58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _B58.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def ed25519_multibase(public_pem: str) -> str:
    key = load_public_pem(public_pem)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "z" + _b58encode(_MULTICODEC_ED25519 + raw)


def ed25519_pem_from_multibase(value: str) -> str:
    if not value.startswith("z"):
        raise ValueError("only base58btc multibase keys are understood")
    data = _b58decode(value[1:])
    if not data.startswith(_MULTICODEC_ED25519) or len(data) != 34:
        raise ValueError("not an Ed25519 multikey")
    key = ed25519.Ed25519PublicKey.from_public_bytes(data[2:])
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
