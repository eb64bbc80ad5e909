"""Background jobs leave the request path in both modes: the embedded node's runner thread
picks up rows written by another process; in production a real Celery worker and beat do."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.nodes import ROOT, services_mode

pytestmark = pytest.mark.live


def job_state(node, job_id: str) -> str:
    return node.python(f"from jobs.models import Job; print(Job.objects.get(id={job_id}).state)")


def test_a_job_written_elsewhere_runs_in_the_background(node_factory, tmp_path):
    node = node_factory("bg")
    workers = []
    if services_mode():
        for role in ("worker", "beat"):
            log = open(tmp_path / f"celery-{role}.log", "wb")  # noqa: SIM115
            args = ["--pool=solo"] if role == "worker" else [f"--schedule={tmp_path}/beat"]
            workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "united",
                        role,
                        "--loglevel=INFO",
                        *args,
                    ],
                    cwd=ROOT,
                    env=node.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
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
        for proc in workers:
            proc.terminate()
            proc.wait(timeout=30)
