"""Per-guild automod rules. What a rule matches lives in `moderation.automod` (pure); what
happens when it fires in `moderation.services.automod`."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from united.ids import new_id


class AutomodAction(models.TextChoices):
    BLOCK = "block"  # refuse the message
    FLAG = "flag"  # let it through, open (or join) a case in the guild's report queue
    TIMEOUT = "timeout"  # refuse it and time the author out


class AutomodRule(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    guild = models.ForeignKey("guilds.Guild", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16)
    config = models.JSONField(default=dict, blank=True)
    action = models.CharField(max_length=8, choices=AutomodAction.choices)
    timeout_seconds = models.PositiveIntegerField(default=600)
    exempt_roles = models.JSONField(default=list, blank=True)
    exempt_channels = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["guild", "enabled"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind} → {self.action})"
