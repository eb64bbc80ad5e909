"""Background jobs leave the request path in both modes: the embedded node's runner thread
picks up rows written by another process; in production a real Celery worker and beat do."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest

from messaging.search.indexing import DRAIN_DELAY
from tests.nodes import ROOT, services_mode

pytestmark = pytest.mark.live


def job_state(node, job_id: str) -> str:
    return node.python(f"from jobs.models import Job; print(Job.objects.get(id={job_id}).state)")


def start_celery(node, tmp_path, roles: tuple[str, ...]) -> list[subprocess.Popen]:
    workers = []
    for role in roles:
        log = open(tmp_path / f"celery-{role}.log", "wb")  # noqa: SIM115
        args = ["--pool=solo"] if role == "worker" else [f"--schedule={tmp_path}/beat"]
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "united", role, "--loglevel=INFO", *args],
                cwd=ROOT,
                env=node.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return workers


def stop_celery(workers: list[subprocess.Popen]) -> None:
    for proc in workers:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_job_written_elsewhere_runs_in_the_background(node_factory, tmp_path):
    node = node_factory("bg")
    workers = start_celery(node, tmp_path, ("worker", "beat")) if services_mode() else []
    try:
        # Written by a separate process (like a request on another web process would).
        job_id = node.python(
            "from django.db import transaction\n"
            "from jobs import services\n"
            "with transaction.atomic():\n"
            "    job = services.enqueue('jobs.purge_finished')\n"
            "print(job.id)",
        )
        deadline = time.monotonic() + 60
        state = job_state(node, job_id)
        while state != "done" and time.monotonic() < deadline:
            time.sleep(0.5)
            state = job_state(node, job_id)
        logs = "".join(p.read_text() for p in tmp_path.glob("celery-*.log"))
        assert state == "done", f"job still {state}\n{node.log()}\n{logs}"
    finally:
        stop_celery(workers)


SEND = """
import time
from guilds.services import channels, guilds
from accounts.models import User
from messaging.services import messages
owner = User.objects.create_user(username="owner", password="correct horse battery staple")
guild = guilds.check_create_guild(owner, name="Busy", description="")
channel = channels.check_create_channel(owner, guild.id, {"name": "general", "type": 0})
began = time.monotonic()
sent = [
    messages.check_send_message(owner, channel.id, content=f"backlog word {i}")[0].id
    for i in range(20)
]
print(sent[-1], time.monotonic() - began)
"""


def test_a_burst_of_messages_is_indexed_by_the_background_drain(node_factory, tmp_path):
    """Sent from another process, a burst reaches the index through the drain that the first
    message enqueued: the embedded node's runner thread, or a Celery worker alone (no beat:
    the drain's announcement carries its time, nothing else wakes it)."""
    node = node_factory("drain")
    workers = start_celery(node, tmp_path, ("worker",)) if services_mode() else []
    try:
        last, took = node.python(SEND).split()
        check = (
            "from messaging.search import get_backend\n"
            "from messaging.models import SearchBacklog\n"
            f"print(get_backend().indexed_text({last}), SearchBacklog.objects.count())"
        )
        deadline = time.monotonic() + 30
        state = node.python(check)
        while state != "backlog word 19 0" and time.monotonic() < deadline:
            time.sleep(0.5)
            state = node.python(check)
        drains = node.python(
            "from jobs.models import Job\n"
            "print(Job.objects.filter(name='messaging.search.drain', state='done').count())"
        )
        logs = "".join(p.read_text() for p in tmp_path.glob("celery-*.log"))
        assert state == "backlog word 19 0", f"{state}\n{node.log()}\n{logs}"
        # Not one per message: the node ran one at start, and a send enqueues a drain only when
        # none is waiting, so at most one per DRAIN_DELAY of the burst (20 sends take ~0.5 s
        # alone; under the suite's load they may take seconds), plus the one running at its end.
        bound = 2 + math.ceil(float(took) / DRAIN_DELAY.total_seconds())
        assert 1 <= int(drains) <= min(bound, 19), (drains, took)
    finally:
        stop_celery(workers)
