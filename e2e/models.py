"""Ciphertext only: an envelope has no plaintext field, and neither does any copy of it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from united.ids import new_id


class Envelope(models.Model):
    """One encrypted DM event (a message, an edit or a delete: the node cannot tell which)."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    channel = models.ForeignKey("guilds.Channel", on_delete=models.CASCADE, related_name="+")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    sender_device = models.BigIntegerField()
    hlc = models.BigIntegerField()
    nonce = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["channel", "hlc", "id"], name="envelope_history_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "sender", "nonce"],
                name="envelope_nonce_unique",
                condition=models.Q(nonce__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"envelope {self.id} in {self.channel_id}"


class EnvelopeCopy(models.Model):
    """The part of an envelope one recipient device can open."""

    envelope = models.ForeignKey(Envelope, on_delete=models.CASCADE, related_name="copies")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE, related_name="+")
    header = models.JSONField()
    x3dh = models.JSONField(null=True, blank=True)
    ciphertext = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["envelope", "device"], name="envelope_copy_once"),
        ]
        indexes = [models.Index(fields=["device", "envelope"], name="envelope_copy_device_idx")]

    def __str__(self) -> str:
        return f"copy of {self.envelope_id} for device {self.device_id}"


class SignedDeviceList(models.Model):
    """The newest device list an account published, kept verbatim with its signature."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="signed_device_list",
    )
    version = models.PositiveBigIntegerField()
    payload = models.TextField()
    signature = models.CharField(max_length=100)
    signer = models.CharField(max_length=32)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"device list v{self.version} of {self.user_id}"


class KeyBackup(models.Model):
    """A device identity encrypted on the client under a key derived from the account's
    recovery phrase (docs/e2e.md, "Key backup"). Opaque to the node."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    nonce = models.CharField(max_length=64)
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"key backup of {self.user_id}"


class HistoryChunk(models.Model):
    """One piece of an account's encrypted message-history backup (docs/e2e.md, "History
    backup"): sealed on a device under a key derived from the recovery phrase. `name` is an
    opaque client-chosen label (a MAC of what the chunk holds), so the node learns neither
    the conversation nor the device a chunk belongs to, only its size and when it changed."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=64)
    nonce = models.CharField(max_length=64)
    ciphertext = models.TextField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="history_chunk_name_unique"),
        ]

    def __str__(self) -> str:
        return f"history chunk {self.name} of {self.user_id}"
