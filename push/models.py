from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from united.ids import new_id


class VapidKey(models.Model):
    """The node's VAPID key pair (RFC 8292), made on first use. The private half is sealed with
    libsodium's SecretBox under a key derived from UNITED_SECRET_KEY, like the node's
    federation keys: a database dump alone cannot sign pushes as this node."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    public_key = models.CharField(max_length=100)  # uncompressed P-256 point, base64url
    sealed_private = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"VAPID key {self.public_key[:12]}…"


class PushSubscription(models.Model):
    """One browser's push subscription (a PushSubscription's endpoint and keys), bound to the
    sign-in session it was made in: signing out there, revoking that session, or changing the
    password removes it; so does a 404/410 from the push service."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    auth_session = models.ForeignKey(
        "accounts.AuthSession", on_delete=models.CASCADE, null=True, related_name="+"
    )
    endpoint = models.URLField(max_length=2048, unique=True)
    p256dh = models.CharField(max_length=100)
    auth = models.CharField(max_length=32)
    user_agent = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"push subscription {self.id} of {self.user_id}"
