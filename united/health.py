"""Liveness and readiness probes for load balancers, compose and systemd."""

from __future__ import annotations

import asyncio
import time
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse


async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    from jobs.models import Job

    Job.objects.exists()  # migrated, job table readable


async def _check_event_bus() -> None:
    """A message published on the bus comes back on a subscription (united/bus.py)."""
    from united import bus

    if not bus.enabled():
        return  # embedded: publishers hand events to this process's hub
    pubsub = bus.subscriber()
    token = uuid.uuid4().hex
    try:
        await pubsub.subscribe(bus.channel(f"readyz.{token}"))
        await bus.apublish(f"readyz.{token}", {"type": "readyz.ping", "token": token})
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            # None also for the subscription's own confirmation: read on until the deadline.
            item = await pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if item is not None and bus.decode(item["data"]).get("token") == token:
                return
        raise RuntimeError("the event bus did not return a published message")
    finally:
        await pubsub.aclose()


def _check_job_broker() -> None:
    if settings.UNITED_MODE == "production":
        import redis

        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            client.ping()
        finally:
            client.close()
        return
    from jobs import runner

    if runner.started() and not runner.alive():
        raise RuntimeError("the embedded job runner thread has stopped")


async def readyz(request: HttpRequest) -> JsonResponse:
    failed: dict[str, str] = {}
    checks = {
        "database": sync_to_async(_check_database, thread_sensitive=False),
        "event_bus": _check_event_bus,
        "job_broker": sync_to_async(_check_job_broker, thread_sensitive=False),
    }
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), timeout=5)
        except Exception as exc:  # each failure is reported by name, never raised
            failed[name] = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
    voice = await sync_to_async(_voice_worker, thread_sensitive=False)()
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed, "voice": voice}, status=503)
    return JsonResponse({"status": "ready", "mode": settings.UNITED_MODE, "voice": voice})


def _voice_worker() -> dict:
    """The voice worker's figures. Reported, not gating: a node whose voice worker is down
    still serves chat, so the load balancer keeps it (docs/voice.md)."""
    from voice import rpc

    try:
        stats = rpc.call("stats", timeout=2.0)
    except rpc.APIError as exc:
        return {"status": "unavailable", "error": exc.message}
    stats.pop("ok", None)
    stats.pop("detail", None)
    return {"status": "ok", **stats}
