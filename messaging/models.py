from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from united.ids import new_id


class GatewayEvent(models.Model):
    """A dispatched gateway event, kept for a while so RESUME (and a session that missed a
    pub/sub message during a Redis blip) can replay it. Written in the same transaction as the
    change it announces; ephemeral events (typing, presence) are never stored."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    group = models.CharField(max_length=100)
    t = models.CharField(max_length=64)
    d = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["group", "id"], name="gwevent_group_id_idx")]

    def __str__(self) -> str:
        return f"{self.t} → {self.group}"


class GatewaySession(models.Model):
    """What a gateway session had received when its socket last reported in, so a client that
    reconnects can RESUME where it was instead of reloading everything."""

    id = models.CharField(primary_key=True, max_length=32)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gateway_sessions"
    )
    seq = models.BigIntegerField(default=0)
    # [[seq, event_id], ...]: the tail of what was sent, oldest first.
    sent = models.JSONField(default=list)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    connected = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"gateway session {self.id} of {self.user_id}"

    def resumable(self, window: timedelta) -> bool:
        return self.updated_at >= timezone.now() - window
