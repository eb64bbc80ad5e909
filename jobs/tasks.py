"""Celery's doors into the job queue (production). The rows decide; these only carry ids."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from jobs import services
from jobs.models import Job, JobState


@shared_task(name="jobs.run", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run(job_id: int) -> None:
    services.run_job(job_id)


@shared_task(name="jobs.tick", ignore_result=True)
def tick() -> None:
    for job_id in services.tick():
        run.delay(job_id)


@services.periodic("jobs.purge_finished", every=timedelta(hours=1))
def purge_finished() -> None:
    cutoff = timezone.now() - timedelta(days=7)
    Job.objects.filter(state=JobState.DONE, finished_at__lt=cutoff).delete()
