from __future__ import annotations

from django.db import models
from django.utils import timezone

from united.ids import new_id


class JobState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


# Allowed transitions, checked in one place (jobs.services._transition).
TRANSITIONS: dict[str, set[str]] = {
    JobState.QUEUED: {JobState.RUNNING, JobState.DEAD},
    JobState.RUNNING: {JobState.DONE, JobState.QUEUED, JobState.DEAD},
    JobState.DONE: set(),
    JobState.DEAD: {JobState.QUEUED},  # an operator's "retry now"
}


class JobQuerySet(models.QuerySet["Job"]):
    def due(self, now=None) -> JobQuerySet:
        return self.filter(state=JobState.QUEUED, run_at__lte=now or timezone.now())

    def stale(self, now=None) -> JobQuerySet:
        """Claimed by a worker that has not finished within its lease: it probably died."""
        return self.filter(state=JobState.RUNNING, locked_until__lt=now or timezone.now())


class Job(models.Model):
    """A unit of background work. The row is the source of truth; Celery messages and the
    embedded runner's wake-ups are only hints that a row is due."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)
    name = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    run_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    locked_until = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["state", "run_at"], name="job_due_idx")]

    def __str__(self) -> str:
        return f"{self.name}#{self.id} ({self.state})"


class PeriodicRun(models.Model):
    """When each periodic job last ran, so several beat/embedded tickers never double-run it."""

    name = models.CharField(max_length=100, primary_key=True)
    last_run_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
