"""The guild moderation log (seed 003's authority log), shown to members as the audit log.

Entries are append-only and form one hash chain per guild: each row carries its `seq` (1, 2,
3, … with no gaps), the SHA-256 of the previous entry (`prev_hash`), its own hash over a
canonical JSON of the chained fields (`moderation.verify.canonical`) and the node's Ed25519
signature over those bytes. `ModlogHead` is the per-guild lock row: appending takes it with
`select_for_update`, so concurrent writers queue up and `seq` has no gaps; it also remembers
the newest hash, so deleting the last entries is detected too.

The actor is kept as a bare id (no cascading SET_NULL rewriting history when an account goes
away) and `save()` refuses to change a stored row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from united.audit import AuditLogEvent
from united.ids import new_id


class AppendOnly(Exception):
    pass


class ModlogHead(models.Model):
    """One row per guild: the lock appenders take, and where the chain ends."""

    guild = models.OneToOneField(
        "guilds.Guild", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"modlog head of {self.guild_id} at {self.seq}"


class AuditLogEntry(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    guild = models.ForeignKey("guilds.Guild", on_delete=models.CASCADE, related_name="audit_log")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    action_type = models.PositiveSmallIntegerField(choices=AuditLogEvent.choices)
    target_id = models.BigIntegerField(null=True, blank=True)
    changes = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    seq = models.PositiveBigIntegerField(null=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)
    sig = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["guild", "-id"])]
        constraints = [models.UniqueConstraint("guild", "seq", name="modlog_guild_seq_unique")]
        verbose_name = "moderation log entry"
        verbose_name_plural = "moderation log entries"

    def __str__(self) -> str:
        return f"#{self.seq} {self.get_action_type_display()} in {self.guild_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnly("audit log entries are never changed")
        super().save(*args, **kwargs)
