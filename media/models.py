"""Blobs (stored bytes, named by their SHA-256) and attachments (what members uploaded).

Many attachments may share one blob: the same file uploaded twice is stored once. `Blob.refs`
counts the attachment and thumbnail rows that point at a blob; a blob whose count fell to zero
is deleted by `media.tasks.collect_garbage` after a grace period. The counter only changes
inside `media.services`, with conditional UPDATEs, never in `save()`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from united.ids import new_id


class BlobState(models.TextChoices):
    LIVE = "live"
    # The collector has claimed the blob and is deleting its bytes; uploads of the same
    # content wait for the row to go and then store the bytes afresh.
    DELETING = "deleting"


class Blob(models.Model):
    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    refs = models.IntegerField(default=0)
    state = models.CharField(max_length=16, choices=BlobState.choices, default=BlobState.LIVE)
    unreferenced_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["unreferenced_since"], condition=Q(refs=0), name="blob_unreferenced"
            ),
            models.Index(fields=["-size"], name="blob_size_desc"),
        ]
        constraints = [models.CheckConstraint(condition=Q(refs__gte=0), name="blob_refs_gte_0")]

    def __str__(self) -> str:
        return f"{self.sha256[:16]}… ({self.size} bytes)"

    @property
    def key(self) -> str:
        return blob_key(self.sha256)


def blob_key(sha256: str) -> str:
    """Where a blob lives in storage: fanned out so no directory holds millions of files."""
    return f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}"


class Purpose(models.TextChoices):
    ATTACHMENT = "attachment"
    AVATAR = "avatar"
    ICON = "icon"
    BANNER = "banner"


class Kind(models.TextChoices):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    FILE = "file"
    ENCRYPTED = "encrypted"


class Attachment(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="attachments")
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments"
    )
    # "channel:<id>", "dm:<id>", … resolved by the owning app (media.access); "" = uploader only.
    scope = models.CharField(max_length=100, blank=True, db_index=True)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.ATTACHMENT)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=127)
    size = models.BigIntegerField()
    encrypted = models.BooleanField(default=False)
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    animated = models.BooleanField(default=False)
    blurhash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["uploader", "-created_at"], name="attachment_uploader")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.id})"

    @property
    def public(self) -> bool:
        return self.purpose in {Purpose.AVATAR, Purpose.ICON, Purpose.BANNER}


class Thumbnail(models.Model):
    attachment = models.ForeignKey(Attachment, on_delete=models.CASCADE, related_name="thumbnails")
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="thumbnails")
    size = models.IntegerField()  # the longest side it was made for
    width = models.IntegerField()
    height = models.IntegerField()
    content_type = models.CharField(max_length=127)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["attachment", "size"], name="thumbnail_unique_size")
        ]

    def __str__(self) -> str:
        return f"{self.size}px of {self.attachment_id}"


class BlobDeletion(models.Model):
    """An operator deleted a blob everywhere. The hash stays blocked from being uploaded again."""

    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.BigIntegerField()
    attachments = models.IntegerField()
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.sha256[:16]}… deleted {self.created_at:%Y-%m-%d}"
