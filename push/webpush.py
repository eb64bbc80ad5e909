"""Web Push on the wire: the node's VAPID key (RFC 8292), the token that names it to a push
service, and the aes128gcm message encryption to a browser's subscription (RFC 8291).

The cryptography is py-vapid's (ES256 JWT) and http-ece's (RFC 8188 with the RFC 8291 key
derivation); this module only supplies keys and claims.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import transaction
from nacl.secret import SecretBox
from py_vapid import Vapid02

from push.models import PushSubscription, VapidKey

# How long a push service keeps a message for an offline browser (RFC 8030 TTL): a day-old
# "you were mentioned" is still worth showing; older is noise.
TTL_SECONDS = 24 * 3600
# RFC 8292 allows at most 24 h; a fresh token per message costs one signature.
TOKEN_LIFETIME = 12 * 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _box() -> SecretBox:
    secret = hashlib.blake2b(
        settings.SECRET_KEY.encode(), digest_size=32, person=b"united-vapid"
    ).digest()
    return SecretBox(secret)


def _row() -> VapidKey:
    row = VapidKey.objects.order_by("created_at", "id").first()
    if row is not None:
        return row
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    with transaction.atomic():
        VapidKey.objects.create(public_key=b64url(public), sealed_private=_box().encrypt(der))
    # Two processes making one at once: both use the oldest row from now on.
    return VapidKey.objects.order_by("created_at", "id").first()  # type: ignore[return-value]


def export_private_keys(using: str = "default") -> list[tuple[int, bytes]]:
    """Every VAPID row's private half as PKCS#8 DER, for an encrypted backup (backup/): the
    sealed column is bound to this machine's secret key, which a restore may not share."""
    return [
        (row.id, bytes(_box().decrypt(bytes(row.sealed_private))))
        for row in VapidKey.objects.using(using).order_by("id")
    ]


def reseal_private_keys(keys: list[tuple[int, bytes]]) -> int:
    """Seal restored private halves under this machine's secret key, each checked against its
    row's public key. A row the archive carries no key for (an archive made before push keys
    travelled with it) cannot be opened here: it is dropped, and a new pair is made on first
    use (browsers subscribed to the old one subscribe again)."""
    done = 0
    for row_id, der in keys:
        private = serialization.load_der_private_key(der, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError(f"VAPID key {row_id} is not an EC key")
        public = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        row = VapidKey.objects.get(id=row_id)
        if b64url(public) != row.public_key:
            raise ValueError(f"VAPID key {row_id}: the private half does not match the public key")
        VapidKey.objects.filter(id=row_id).update(sealed_private=_box().encrypt(der))
        done += 1
    VapidKey.objects.exclude(id__in=[row_id for row_id, _ in keys]).delete()
    return done


def public_key() -> str:
    """The applicationServerKey browsers subscribe with (base64url, uncompressed P-256)."""
    return _row().public_key


def _vapid() -> Vapid02:
    key = serialization.load_der_private_key(
        _box().decrypt(bytes(_row().sealed_private)), password=None
    )
    # py-vapid's own check of `sub` refuses a host with a port (https://127.0.0.1:8000);
    # united/config.py already holds UNITED_VAPID_SUBJECT to mailto: or https:.
    return Vapid02(private_key=key, conf={"no-strict": True})


def authorization(endpoint: str, now: float | None = None) -> str:
    """The `Authorization: vapid t=…, k=…` header for a message to `endpoint`."""
    parts = urlsplit(endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(now or time.time()) + TOKEN_LIFETIME,
        "sub": settings.VAPID_SUBJECT,
    }
    return str(_vapid().sign(claims)["Authorization"])


def encrypt(subscription: PushSubscription, payload: bytes) -> bytes:
    """The RFC 8291 message body: a fresh sender key and salt per message."""
    return http_ece.encrypt(
        payload,
        salt=os.urandom(16),
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(subscription.p256dh),
        auth_secret=b64url_decode(subscription.auth),
        version="aes128gcm",
    )


def topic(channel_id: int) -> str:
    """RFC 8030 Topic: a newer push about the same channel replaces one still waiting at the
    push service. Keyed with the node's secret, so the push service learns no channel id."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"push-topic:{channel_id}".encode(), "sha256")
    return b64url(digest.digest())[:32]
