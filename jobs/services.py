"""The database-backed job queue both run modes share.

A job is a row written in the same transaction as the change that needs it, so an accepted
write can never lose its follow-up work. After commit the row is *announced*: in production as
a Celery message, in embedded mode by waking the in-process runner. The announcement is only a
hint. Whoever runs a job first claims the row with one conditional UPDATE (queued → running,
with a lease), so a duplicate message, a redelivery after a worker crash, or two runners racing
have no second effect. `tick()` (Celery beat every few seconds, or the embedded runner's loop)
re-queues rows whose lease ran out because their worker died, announces retries that became
due, and starts periodic jobs.

Handlers must be idempotent for the rare case where a worker dies after the work but before
recording it: they run at least once, and exactly once in every other case.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from jobs.models import TRANSITIONS, Job, JobState, PeriodicRun

logger = logging.getLogger(__name__)

ANNOUNCE_GRACE = timedelta(seconds=30)
# A job due within this much is announced at commit with its time (Celery holds the message
# until then; the embedded runner sleeps until the earliest row), rather than waiting for a
# tick (every 5 s in production) to find it due: a coalescing delay of a few hundred ms
# would otherwise become seconds.
ANNOUNCE_AHEAD = timedelta(seconds=10)
# Celery's eta is the enqueuing process's clock and the claim is the worker's: a message
# delivered a few ms early would find its row not yet due and leave it to tick's re-announce
# (ANNOUNCE_GRACE later), so a future job's message is sent slightly after its time.
ETA_SLACK = timedelta(milliseconds=50)


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[..., Any]
    max_attempts: int
    lease: timedelta
    backoff_base: float
    backoff_cap: float


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    every: timedelta


_registry: dict[str, JobSpec] = {}
_periodic: dict[str, PeriodicSpec] = {}


class UnknownJob(KeyError):
    pass


def job(
    name: str,
    *,
    max_attempts: int = 8,
    lease_seconds: int = 300,
    backoff_base: float = 2.0,
    backoff_cap: float = 3600.0,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `func(**payload)` as the handler for jobs named `name`."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        _registry[name] = JobSpec(
            name, func, max_attempts, timedelta(seconds=lease_seconds), backoff_base, backoff_cap
        )
        return func

    return register


def periodic(name: str, *, every: timedelta, **options: Any) -> Callable[..., Any]:
    """Register a handler that takes no arguments and runs every `every`."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        job(name, **options)(func)
        _periodic[name] = PeriodicSpec(name, every)
        return func

    return register


def registered() -> dict[str, JobSpec]:
    return dict(_registry)


def enqueue(
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> Job:
    """Write a job row in the caller's transaction; announce it once the transaction commits.

    With `dedupe_key`, at most one unfinished job holds that key: enqueueing again returns it.
    """
    if name not in _registry:
        raise UnknownJob(name)
    spec = _registry[name]
    fields = {
        "name": name,
        "payload": payload or {},
        "run_at": run_at or timezone.now(),
        "max_attempts": spec.max_attempts,
    }
    if dedupe_key:
        with transaction.atomic():
            row, created = Job.objects.get_or_create(dedupe_key=dedupe_key, defaults=fields)
        if not created:
            return row
    else:
        row = Job.objects.create(**fields)
    now = timezone.now()
    if row.run_at <= now + ANNOUNCE_AHEAD:
        job_id, eta = row.id, (row.run_at if row.run_at > now else None)
        # robust: the job row is committed with the caller's change, and tick() announces it
        # again if this fails (database or broker gone a moment after the commit), so a
        # failure here must not turn the caller's committed change into an error answer.
        if eta is None:
            transaction.on_commit(lambda: announce([job_id]), robust=True)
        else:
            transaction.on_commit(lambda: announce([job_id], eta=eta), robust=True)
    return row


def announce(job_ids: list[int], *, eta: datetime | None = None) -> None:
    """Tell whoever runs jobs in this mode that these rows are due (or will be at `eta`)."""
    if not job_ids:
        return
    Job.objects.filter(id__in=job_ids).update(dispatched_at=timezone.now())
    if settings.UNITED_MODE == "production":
        from jobs.tasks import run as run_task

        for job_id in job_ids:
            try:
                if eta is None:
                    run_task.delay(job_id)
                else:
                    run_task.apply_async((job_id,), eta=eta + ETA_SLACK)
            except Exception:  # broker down: the row stays queued and tick() announces it again
                logger.warning("could not announce job %s to the broker", job_id, exc_info=True)
                return
    else:
        from jobs import runner

        runner.wake()


def _transition(job_id: int, current: str, new: str, **fields: Any) -> bool:
    if new not in TRANSITIONS[current]:
        raise ValueError(f"job state {current} → {new} is not allowed")
    return bool(Job.objects.filter(id=job_id, state=current).update(state=new, **fields))


def _backoff(spec: JobSpec, attempts: int) -> timedelta:
    delay = min(spec.backoff_cap, spec.backoff_base**attempts)
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))


def run_job(job_id: int) -> bool:
    """Claim and run one job. Returns False if somebody else has it or it is not due."""
    now = timezone.now()
    try:
        row = Job.objects.get(id=job_id)
    except Job.DoesNotExist:
        return False
    spec = _registry.get(row.name)
    if spec is None:
        logger.error("job %s names no registered handler %r; marking it dead", job_id, row.name)
        _transition(
            job_id,
            JobState.QUEUED,
            JobState.DEAD,
            last_error="no handler",
            dedupe_key=None,
            finished_at=now,
        )
        return False
    claimed = Job.objects.filter(id=job_id, state=JobState.QUEUED, run_at__lte=now).update(
        state=JobState.RUNNING, attempts=F("attempts") + 1, locked_until=now + spec.lease
    )
    if not claimed:
        return False
    row.refresh_from_db()
    try:
        spec.func(**row.payload)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.attempts >= row.max_attempts:
            logger.error(
                "job %s (%s) failed for good after %s attempts: %s",
                job_id,
                row.name,
                row.attempts,
                error,
            )
            _transition(
                job_id,
                JobState.RUNNING,
                JobState.DEAD,
                last_error=error,
                dedupe_key=None,
                finished_at=timezone.now(),
                locked_until=None,
            )
        else:
            retry_at = timezone.now() + _backoff(spec, row.attempts)
            logger.warning(
                "job %s (%s) failed (attempt %s), retrying at %s: %s",
                job_id,
                row.name,
                row.attempts,
                retry_at.isoformat(),
                error,
            )
            _transition(
                job_id,
                JobState.RUNNING,
                JobState.QUEUED,
                last_error=error,
                run_at=retry_at,
                locked_until=None,
                dispatched_at=None,
            )
        return True
    _transition(
        job_id,
        JobState.RUNNING,
        JobState.DONE,
        dedupe_key=None,
        finished_at=timezone.now(),
        locked_until=None,
    )
    return True


def retry_now(job_id: int) -> bool:
    """An operator's "retry": a dead job gets a fresh attempt budget."""
    ok = _transition(
        job_id,
        JobState.DEAD,
        JobState.QUEUED,
        run_at=timezone.now(),
        attempts=0,
        finished_at=None,
        dispatched_at=None,
    )
    if ok:
        announce([job_id])
    return ok


def run_now(job_id: int) -> bool:
    """An operator's "retry now" for a job waiting out its back-off after a failure: it is
    due at once; attempts already spent still count towards its budget."""
    now = timezone.now()
    ok = bool(
        Job.objects.filter(id=job_id, state=JobState.QUEUED, run_at__gt=now).update(
            run_at=now, dispatched_at=None
        )
    )
    if ok:
        announce([job_id])
    return ok


def requeue_stale(now: datetime | None = None) -> int:
    """Jobs whose worker died mid-run go back to the queue (or die if out of attempts)."""
    now = now or timezone.now()
    dead = (
        Job.objects.stale(now)
        .filter(attempts__gte=F("max_attempts"))
        .update(
            state=JobState.DEAD,
            last_error="worker lost while running (out of attempts)",
            dedupe_key=None,
            finished_at=now,
            locked_until=None,
        )
    )
    requeued = Job.objects.stale(now).update(
        state=JobState.QUEUED,
        run_at=now,
        locked_until=None,
        dispatched_at=None,
        last_error="worker lost while running",
    )
    if requeued or dead:
        logger.warning("requeued %s job(s) from lost workers, %s out of attempts", requeued, dead)
    return requeued


def schedule_periodic(now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    started = []
    for spec in _periodic.values():
        PeriodicRun.objects.get_or_create(
            name=spec.name, defaults={"last_run_at": now - spec.every}
        )
        # Conditional update: of several tickers, exactly one wins each period.
        won = PeriodicRun.objects.filter(name=spec.name, last_run_at__lte=now - spec.every).update(
            last_run_at=now
        )
        if won:
            with transaction.atomic():
                row = enqueue(spec.name, dedupe_key=f"periodic:{spec.name}")
            started.append(row.id)
    return started


def tick(now: datetime | None = None) -> list[int]:
    """Housekeeping shared by Celery beat and the embedded runner. Returns due job ids that
    nobody has been told about recently (they are announced by the caller)."""
    now = now or timezone.now()
    requeue_stale(now)
    schedule_periodic(now)
    ids = list(
        Job.objects.due(now)
        .exclude(dispatched_at__gt=now - ANNOUNCE_GRACE)
        .order_by("run_at")
        .values_list("id", flat=True)[:500]
    )
    if ids:
        Job.objects.filter(id__in=ids).update(dispatched_at=now)
    return ids


def run_due_jobs(limit: int = 1000, *, housekeeping: bool = True) -> int:
    """Run every due job now, in this thread (embedded runner, tests). Returns how many ran."""
    ran = 0
    if housekeeping:
        requeue_stale()
        schedule_periodic()
    while ran < limit:
        ids = list(Job.objects.due().order_by("run_at").values_list("id", flat=True)[:100])
        if not ids:
            break
        progressed = False
        for job_id in ids:
            if run_job(job_id):
                ran += 1
                progressed = True
        if not progressed:
            break
    return ran


def next_due_in(now: datetime | None = None) -> float | None:
    now = now or timezone.now()
    nxt = (
        Job.objects.filter(state=JobState.QUEUED)
        .order_by("run_at")
        .values_list("run_at", flat=True)
        .first()
    )
    if nxt is None:
        return None
    return max(0.0, (nxt - now).total_seconds())
