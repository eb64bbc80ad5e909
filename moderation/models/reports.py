"""Reports and the cases they form.

A case is one thing being reported (a message, a user, a guild). Every report of the same
thing while its case is still open joins that case, so fifty reports of one message are one
row in the queue. The reported content is copied into the case (`snapshot`) when the first
report arrives: deleting the message afterwards does not destroy the evidence.

States are an enum plus one table of allowed transitions (`CASE_TRANSITIONS`), checked in one
place (`moderation.services.reports.do_transition`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from united.ids import new_id


class CaseState(models.TextChoices):
    OPEN = "open"
    ASSIGNED = "assigned"
    ACTIONED = "actioned"
    DISMISSED = "dismissed"


CASE_TRANSITIONS: dict[str, frozenset[str]] = {
    CaseState.OPEN: frozenset({CaseState.ASSIGNED, CaseState.ACTIONED, CaseState.DISMISSED}),
    CaseState.ASSIGNED: frozenset({CaseState.OPEN, CaseState.ACTIONED, CaseState.DISMISSED}),
    CaseState.ACTIONED: frozenset({CaseState.OPEN}),
    CaseState.DISMISSED: frozenset({CaseState.OPEN}),
}
UNRESOLVED = (CaseState.OPEN, CaseState.ASSIGNED)


class TargetKind(models.TextChoices):
    MESSAGE = "message"
    USER = "user"
    GUILD = "guild"


class Category(models.TextChoices):
    SPAM = "spam"
    HARASSMENT = "harassment"
    HATE = "hate"
    VIOLENCE = "violence"
    SEXUAL = "sexual"
    SELF_HARM = "self_harm"
    ILLEGAL = "illegal"
    IMPERSONATION = "impersonation"
    OTHER = "other"


# How urgent a category is; a case's severity is the highest of its reports'.
SEVERITY = {
    Category.SELF_HARM: 5,
    Category.ILLEGAL: 5,
    Category.VIOLENCE: 4,
    Category.SEXUAL: 4,
    Category.HATE: 3,
    Category.HARASSMENT: 3,
    Category.IMPERSONATION: 2,
    Category.SPAM: 1,
    Category.OTHER: 1,
}


class ReportCase(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    # Empty guild: the node-level queue, worked by the operators.
    guild = models.ForeignKey(
        "guilds.Guild", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=TargetKind.choices)
    target_key = models.CharField(max_length=64, help_text="kind:id of the reported thing")
    message_id = models.BigIntegerField(null=True, blank=True)
    channel_id = models.BigIntegerField(null=True, blank=True)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_guild_id = models.BigIntegerField(null=True, blank=True)
    snapshot = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=CaseState.choices, default=CaseState.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    severity = models.PositiveSmallIntegerField(default=1)
    report_count = models.PositiveIntegerField(default=0)
    automod = models.BooleanField(default=False, help_text="Flagged by an automod rule")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-severity", "created_at"]
        constraints = [
            models.UniqueConstraint(
                "target_key",
                condition=Q(state__in=["open", "assigned"]),
                name="one_unresolved_case_per_target",
            )
        ]
        indexes = [models.Index(fields=["guild", "state", "-severity", "created_at"])]

    def __str__(self) -> str:
        return f"case {self.id} ({self.target_key}, {self.state})"


class Report(models.Model):
    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    case = models.ForeignKey(ReportCase, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    category = models.CharField(max_length=16, choices=Category.choices)
    note = models.CharField(max_length=1000, blank=True)
    # E2E content the node never saw: the reporter's copy, signed by one of their devices.
    reporter_attached_content = models.TextField(blank=True)
    reporter_signature = models.CharField(max_length=100, blank=True)
    reporter_device_id = models.BigIntegerField(null=True, blank=True)
    signature_valid = models.BooleanField(null=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"report {self.id} ({self.category})"


class CaseNote(models.Model):
    """Internal: moderators only, never shown to the reporter or the reported."""

    case = models.ForeignKey(ReportCase, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.CharField(max_length=2000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"note on case {self.case_id}"


class CaseAction(models.Model):
    """What was done from a case, linked to the moderation-log entry it produced."""

    case = models.ForeignKey(ReportCase, on_delete=models.CASCADE, related_name="actions")
    action = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    audit_entry = models.ForeignKey(
        "moderation.AuditLogEntry", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.action} on case {self.case_id}"
