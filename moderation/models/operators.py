"""Node-level moderation: what the operators did (their own audit log, readable only by
them), guild suspensions, and node bans of local accounts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import User
from guilds.models import Guild
from united.ids import new_id


class NodeAuditEntry(models.Model):
    """One operator action. Sign-ins and other account events are `accounts.AuthEvent`;
    guild-level changes are in each guild's chained moderation log."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    action = models.CharField(max_length=40)
    target_user_id = models.BigIntegerField(null=True, blank=True)
    target_guild_id = models.BigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=512, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "node audit entries"

    def __str__(self) -> str:
        return f"{self.action} by {self.operator_id}"


class GuildSuspension(models.Model):
    """A suspended guild cannot be read or written by anyone and is hidden from the
    directory, until the operator lifts it."""

    guild = models.OneToOneField(
        "guilds.Guild", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=512, blank=True)
    was_hidden = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.guild_id} suspended"


class OperatedGuild(Guild):
    """Guilds as the operators' admin shows them, with suspension actions."""

    class Meta:
        proxy = True
        verbose_name = "guild suspension control"
        verbose_name_plural = "guild suspension controls"


class NodeAccount(User):
    """Local accounts as the operators' admin shows them, with node-ban actions."""

    class Meta:
        proxy = True
        verbose_name = "node ban control"
        verbose_name_plural = "node ban controls"
