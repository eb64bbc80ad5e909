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


class MlsKeyPackage(models.Model):
    """One MLS KeyPackage (RFC 9420 section 10) a device published so others can add it to a
    group while it is offline. Handed out once: a claimed package keeps its row (digest and
    claim time, bytes dropped) so the same bytes can never be uploaded and handed out again."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    device = models.ForeignKey("accounts.Device", on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)  # sha256 of the bytes: refuses a re-upload
    data = models.TextField(blank=True)  # base64 MLSMessage(mls_key_package); "" once claimed
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["digest"], name="mls_key_package_once"),
        ]
        indexes = [
            models.Index(fields=["device", "claimed_at", "id"], name="mls_key_package_free_idx")
        ]

    def __str__(self) -> str:
        return f"key package {self.id} of device {self.device_id}"


class MlsGroup(models.Model):
    """A guild channel turned end-to-end encrypted (irreversibly): the node is its MLS
    delivery service. `epoch` is the epoch the group is in after the last commit the node
    accepted; exactly one commit is accepted per epoch."""

    channel = models.OneToOneField(
        "guilds.Channel", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    cipher_suite = models.PositiveSmallIntegerField(default=1)
    epoch = models.PositiveBigIntegerField(default=0)
    # The last log position handed out. Appends take it with one UPDATE ... seq = seq + 1,
    # which serialises them on the row (PostgreSQL) or the write lock (SQLite), so a reader
    # paging by seq never skips an entry that commits late.
    seq = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"MLS group of {self.channel_id} at epoch {self.epoch}"


class MlsEntry(models.Model):
    """One item of a group's ordered log: a commit, a proposal, a welcome (addressed to the
    devices it adds) or an application message. Opaque bytes: the node stores and orders,
    it never opens them. `epoch` is the epoch the item was sent in."""

    class Kind(models.TextChoices):
        COMMIT = "commit"
        PROPOSAL = "proposal"
        WELCOME = "welcome"
        APPLICATION = "application"

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    group = models.ForeignKey(MlsGroup, on_delete=models.CASCADE, related_name="entries")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    epoch = models.PositiveBigIntegerField()
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    sender_device = models.BigIntegerField()
    data = models.TextField()  # base64 MLSMessage
    recipients = models.JSONField(default=list, blank=True)  # welcome: device ids (strings)
    nonce = models.CharField(max_length=64, null=True, blank=True)
    hlc = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "seq"], name="mls_entry_seq_unique"),
            models.UniqueConstraint(
                fields=["group", "sender", "nonce"],
                name="mls_entry_nonce_unique",
                condition=models.Q(nonce__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} at epoch {self.epoch}"
