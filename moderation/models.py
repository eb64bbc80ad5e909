"""The guild audit log and guild bans.

Audit entries are append-only: a later issue chains and signs them, so a row is never edited
after it is written (`save()` refuses) and the actor is kept as a bare id (no cascading
SET_NULL rewriting history when an account goes away).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from united.ids import new_id


class AuditLogEvent(models.IntegerChoices):
    """Discord's audit log event numbers."""

    GUILD_UPDATE = 1
    CHANNEL_CREATE = 10
    CHANNEL_UPDATE = 11
    CHANNEL_DELETE = 12
    CHANNEL_OVERWRITE_CREATE = 13
    CHANNEL_OVERWRITE_UPDATE = 14
    CHANNEL_OVERWRITE_DELETE = 15
    MEMBER_KICK = 20
    MEMBER_PRUNE = 21
    MEMBER_BAN_ADD = 22
    MEMBER_BAN_REMOVE = 23
    MEMBER_UPDATE = 24
    MEMBER_ROLE_UPDATE = 25
    MEMBER_MOVE = 26
    MEMBER_DISCONNECT = 27
    BOT_ADD = 28
    ROLE_CREATE = 30
    ROLE_UPDATE = 31
    ROLE_DELETE = 32
    INVITE_CREATE = 40
    INVITE_UPDATE = 41
    INVITE_DELETE = 42


class AppendOnly(Exception):
    pass


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

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["guild", "-id"])]
        verbose_name_plural = "audit log entries"

    def __str__(self) -> str:
        return f"{self.get_action_type_display()} in {self.guild_id}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnly("audit log entries are never changed")
        super().save(*args, **kwargs)


class GuildBan(models.Model):
    guild = models.ForeignKey("guilds.Guild", on_delete=models.CASCADE, related_name="bans")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=512, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("guild", "user", name="guild_ban_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} banned from {self.guild_id}"
