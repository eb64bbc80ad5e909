"""Liveness and readiness probes for load balancers, compose and systemd."""

from __future__ import annotations

import asyncio
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
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


async def _check_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel()
    token = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz.ping", "token": token})
    message = await asyncio.wait_for(layer.receive(channel), timeout=2)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned a different message")


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
        "channel_layer": _check_channel_layer,
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
