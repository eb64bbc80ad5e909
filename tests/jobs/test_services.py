from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs import runner, services
from jobs.models import Job, JobState, PeriodicRun

calls: list[dict] = []


@services.job("test.record", max_attempts=3, backoff_base=0.0, lease_seconds=60)
def record(**payload) -> None:
    calls.append(payload)


@services.job("test.flaky", max_attempts=3, backoff_base=0.0)
def flaky(fail_times: int, key: str) -> None:
    calls.append({"key": key})
    if sum(1 for c in calls if c.get("key") == key) <= fail_times:
        raise RuntimeError(f"transient failure for {key}")


@pytest.fixture(autouse=True)
def _reset():
    calls.clear()
    yield
    calls.clear()


@pytest.fixture
def announced(monkeypatch):
    seen: list[int] = []
    monkeypatch.setattr(services, "announce", lambda ids, eta=None: seen.extend(ids))
    return seen


pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _periodic_jobs_just_ran(request):
    """Keep the node's own periodic jobs out of the counts, except where a test wants them."""
    if "periodic" not in request.node.name:
        for name in services._periodic:
            PeriodicRun.objects.update_or_create(
                name=name, defaults={"last_run_at": timezone.now()}
            )


def test_a_job_is_announced_only_after_commit(django_capture_on_commit_callbacks, announced):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            row = services.enqueue("test.record", {"n": 1})
            assert announced == []
    assert len(callbacks) == 1
    assert announced == [row.id]


def test_a_job_due_shortly_is_announced_at_commit_with_its_time(
    django_capture_on_commit_callbacks, monkeypatch
):
    """A few hundred ms ahead (a coalescing delay) must not wait for a tick to find it due:
    it is announced at commit, with its time; an hour ahead is left to the ticks."""
    seen: list = []
    monkeypatch.setattr(services, "announce", lambda ids, eta=None: seen.append((ids, eta)))
    soon = timezone.now() + timedelta(milliseconds=300)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        row = services.enqueue("test.record", {"n": 1}, run_at=soon)
        services.enqueue("test.record", {"n": 2}, run_at=timezone.now() + timedelta(hours=1))
        assert seen == []
    assert seen == [([row.id], soon)]


@pytest.mark.skipif(settings.UNITED_MODE != "production", reason="Celery over Redis")
def test_a_job_due_shortly_reaches_the_broker_with_its_time(django_capture_on_commit_callbacks):
    """Production: the Celery message carries the job's time (the worker holds it until
    then), so the job runs without waiting for beat's next tick."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    soon = timezone.now() + timedelta(milliseconds=300)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        row = services.enqueue("test.record", {"n": 1}, run_at=soon)
    (raw,) = broker.lrange("celery", 0, -1)
    headers = json.loads(raw)["headers"]
    assert headers["task"] == "jobs.run" and str(row.id) in headers["argsrepr"]
    eta = datetime.fromisoformat(headers["eta"])
    assert soon <= eta <= soon + timedelta(seconds=1)
    assert row.id not in services.tick()  # announced already: the tick leaves it alone
    broker.delete("celery")


def test_rolled_back_job_never_exists(announced):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.enqueue("test.record", {"n": 1})
        raise RuntimeError("the change failed")
    assert not Job.objects.exists()


def test_run_due_jobs_runs_each_once():
    a = services.enqueue("test.record", {"n": 1})
    services.enqueue("test.record", {"n": 2})
    assert services.run_due_jobs() == 2
    assert sorted(c["n"] for c in calls) == [1, 2]
    assert services.run_due_jobs() == 0
    assert Job.objects.get(id=a.id).state == JobState.DONE
    # A duplicate announcement (redelivered Celery message) has no second effect.
    assert services.run_job(a.id) is False
    assert len(calls) == 2


def test_future_job_waits_for_its_time():
    # Judged by the job itself, not by how many ran: the queue is shared with whatever else
    # this test process left due.
    future = services.enqueue("test.record", {"n": 1}, run_at=timezone.now() + timedelta(hours=1))
    services.run_due_jobs()
    future.refresh_from_db()
    assert future.state == JobState.QUEUED and future.attempts == 0
    assert 3500 < services.next_due_in() <= 3600


def test_failures_retry_with_backoff_then_succeed():
    row = services.enqueue("test.flaky", {"fail_times": 2, "key": "a"})
    services.run_job(row.id)
    row.refresh_from_db()
    assert row.state == JobState.QUEUED and row.attempts == 1
    assert "transient failure" in row.last_error
    services.run_due_jobs()
    row.refresh_from_db()
    assert row.state == JobState.DONE and row.attempts == 3


def test_out_of_attempts_goes_dead_and_can_be_retried(announced):
    row = services.enqueue("test.flaky", {"fail_times": 99, "key": "b"})
    services.run_due_jobs()
    row.refresh_from_db()
    assert row.state == JobState.DEAD and row.attempts == 3
    assert services.retry_now(row.id) is True
    row.refresh_from_db()
    assert row.state == JobState.QUEUED and row.attempts == 0


def test_job_of_a_dead_worker_is_requeued_and_runs_once():
    row = services.enqueue("test.record", {"n": 7})
    # A worker claimed it and died: state running, lease in the past.
    Job.objects.filter(id=row.id).update(
        state=JobState.RUNNING, attempts=1, locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.run_due_jobs() == 1
    assert calls == [{"n": 7}]
    row.refresh_from_db()
    assert row.state == JobState.DONE and row.attempts == 2


def test_a_running_job_within_its_lease_is_left_alone():
    row = services.enqueue("test.record", {"n": 1})
    Job.objects.filter(id=row.id).update(
        state=JobState.RUNNING, locked_until=timezone.now() + timedelta(minutes=5)
    )
    assert services.run_due_jobs() == 0
    assert calls == []


def test_dedupe_key_keeps_one_unfinished_job():
    a = services.enqueue("test.record", {"n": 1}, dedupe_key="k")
    b = services.enqueue("test.record", {"n": 2}, dedupe_key="k")
    assert a.id == b.id
    services.run_due_jobs()
    c = services.enqueue("test.record", {"n": 3}, dedupe_key="k")
    assert c.id != a.id


def test_unknown_job_name_is_refused():
    with pytest.raises(services.UnknownJob):
        services.enqueue("no.such.job")


def test_periodic_jobs_run_once_per_period_across_tickers():
    now = timezone.now()
    first = services.schedule_periodic(now)
    second = services.schedule_periodic(now + timedelta(seconds=1))  # another ticker
    names = set(Job.objects.filter(id__in=first).values_list("name", flat=True))
    assert "jobs.purge_finished" in names
    assert not set(Job.objects.filter(id__in=second).values_list("name", flat=True)) & names
    assert PeriodicRun.objects.get(name="jobs.purge_finished").last_run_at == now


def test_purge_finished_removes_old_done_jobs_only():
    old = services.enqueue("test.record", {})
    new = services.enqueue("test.record", {})
    services.run_due_jobs()
    Job.objects.filter(id=old.id).update(finished_at=timezone.now() - timedelta(days=8))
    from jobs.tasks import purge_finished

    purge_finished()
    assert not Job.objects.filter(id=old.id).exists()
    assert Job.objects.filter(id=new.id).exists()


def test_tick_announces_due_rows_once_within_the_grace_period():
    row = services.enqueue("test.record", {})
    Job.objects.filter(id=row.id).update(dispatched_at=None)
    assert row.id in services.tick()
    assert row.id not in services.tick()


@pytest.mark.django_db(transaction=True)
def test_embedded_runner_thread_drains_the_queue(monkeypatch):
    monkeypatch.setattr(runner, "_thread", None)
    runner.start()
    try:
        row = services.enqueue("test.record", {"n": 42})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Job.objects.get(id=row.id).state != JobState.DONE:
            time.sleep(0.05)
        assert Job.objects.get(id=row.id).state == JobState.DONE
        assert calls == [{"n": 42}]
        assert runner.alive()
        assert threading.current_thread() is not runner._thread
    finally:
        runner.stop()
    assert not runner.started()
