"""The operator's Jobs page: counts at the top, failed jobs with their error, and retry
through jobs.services."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from jobs import services
from jobs.models import Job, JobState, PeriodicRun

pytestmark = pytest.mark.django_db
PAGE = "/admin/jobs/job/overview/"


@services.job("test.admin_broken", max_attempts=2, backoff_base=0.0)
def broken(why: str) -> None:
    raise RuntimeError(why)


@services.job("test.admin_slow_retry", max_attempts=5, backoff_base=3600.0)
def slow_retry() -> None:
    raise ConnectionError("peer hung up")


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    """No periodic jobs in the counts, and nobody runs what the page re-queues but the test."""
    for name in services._periodic:
        PeriodicRun.objects.update_or_create(name=name, defaults={"last_run_at": timezone.now()})
    monkeypatch.setattr(services, "announce", lambda ids, eta=None: None)


@pytest.fixture
def operator(make_user) -> Client:
    client = Client()
    client.force_login(make_user("root", is_staff=True, is_superuser=True))
    return client


def counts(page: str) -> dict[str, int]:
    import re

    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', page)}


def test_counts_failures_and_retry(operator):
    dead = services.enqueue("test.admin_broken", {"why": "disk on fire"})
    services.run_due_jobs(housekeeping=False)
    waiting = services.enqueue("test.admin_slow_retry")
    services.run_job(waiting.id)  # fails once, waits an hour before its next attempt
    services.enqueue(
        "test.admin_broken", {"why": "later"}, run_at=timezone.now().replace(year=2099)
    )

    page = operator.get(PAGE).content.decode()
    assert counts(page) == {
        "queued": 0,
        "running": 0,
        "retrying": 1,
        "dead": 1,
        "scheduled": 1,
        "done": 0,
    }
    assert "RuntimeError: disk on fire" in page and "ConnectionError: peer hung up" in page
    assert "Failed for good" in page and "2 of 2" in page
    assert f"Retry test.admin_broken #{dead.id}" in page

    answer = operator.post(f"{PAGE}{dead.id}/retry/", follow=True)
    assert "1 job(s) queued again." in answer.content.decode()
    dead.refresh_from_db()
    assert dead.state == JobState.QUEUED and dead.attempts == 0

    operator.post(f"{PAGE}{waiting.id}/retry/")
    waiting.refresh_from_db()
    assert waiting.run_at <= timezone.now() and waiting.attempts == 1  # due now, same budget

    again = operator.post(f"{PAGE}{dead.id}/retry/", follow=True).content.decode()
    assert "Nothing to retry" in again  # already queued: a double click does nothing twice
    assert counts(again)["queued"] == 2


def test_retry_all_failed(operator):
    for why in ("a", "b"):
        services.enqueue("test.admin_broken", {"why": why})
    services.run_due_jobs(housekeeping=False)
    assert Job.objects.filter(state=JobState.DEAD).count() == 2
    answer = operator.post(f"{PAGE}retry-dead/", follow=True).content.decode()
    assert "2 job(s) queued again." in answer
    assert not Job.objects.filter(state=JobState.DEAD).exists()


def test_staff_without_operator_rights_only_read(make_user, operator):
    services.enqueue("test.admin_broken", {"why": "x"})
    services.run_due_jobs(housekeeping=False)
    dead = Job.objects.get(state=JobState.DEAD)
    reader = make_user("mod", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_job"))
    client = Client()
    client.force_login(reader)
    page = client.get(PAGE).content.decode()
    assert "RuntimeError: x" in page and "Retry test.admin_broken" not in page
    assert client.post(f"{PAGE}{dead.id}/retry/").status_code == 403
    assert Job.objects.get(id=dead.id).state == JobState.DEAD
    assert operator.get(f"{PAGE}{dead.id}/retry/").status_code == 405
