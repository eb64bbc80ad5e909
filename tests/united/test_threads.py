"""Requests' synchronous work runs on a few long-lived threads, in one hop (united/threads.py).

Driven through ASGI in-process: `pooled()` around a recording application, and Django's real
handler (`SyncChainHandler`) with a test URLconf whose middleware and view note the thread
they run on."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from asgiref.sync import AsyncToSync, sync_to_async
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

from tests.nodes import Node, login, services_mode
from united.threads import SyncChainHandler, pooled

PASSWORD = "correct horse battery staple"
seen: list[tuple[str, int]] = []
hops: list[bool] = []


class RecordingMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        seen.append(("middleware", threading.get_ident()))
        # Django's own ASGI chain reaches the async-capable middleware below through the
        # event loop: a hop back there and out to a thread again for the view.
        hops.append(isinstance(self.get_response, AsyncToSync))
        return self.get_response(request)


def recording_view(request: HttpRequest) -> HttpResponse:
    seen.append(("view", threading.get_ident()))
    with connection.cursor() as cursor:  # opens this thread's connection
        cursor.execute("SELECT 1")
    return HttpResponse("ok")


urlpatterns = [path("here", recording_view)]


def http_scope(path: str = "/here") -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


async def call(app, scope: dict | None = None) -> tuple[int, bytes]:
    sent: list[dict] = []
    asked: list[bool] = []

    async def receive() -> dict:
        if not asked:
            asked.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # no disconnect while the response goes out
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope or http_scope(), receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body


def thread_noting_app(threads: list[int], gate: asyncio.Event | None = None):
    async def app(scope, receive, send) -> None:
        threads.append(await sync_to_async(threading.get_ident, thread_sensitive=True)())
        if gate is not None:
            await gate.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


async def test_requests_one_after_another_run_on_one_long_lived_thread():
    threads: list[int] = []
    app = pooled(thread_noting_app(threads), threads=4)
    for _ in range(10):
        assert (await call(app))[0] == 204
    assert len(threads) == 10 and len(set(threads)) == 1
    assert threads[0] != threading.get_ident()  # not the event loop's


async def test_concurrent_requests_never_queue_behind_each_other():
    threads: list[int] = []
    gate = asyncio.Event()
    app = pooled(thread_noting_app(threads, gate), threads=2)
    calls = [asyncio.create_task(call(app)) for _ in range(5)]
    for _ in range(200):  # every request reaches its thread while the others still hold theirs
        if len(threads) == 5:
            break
        await asyncio.sleep(0.01)
    assert len(threads) == 5, "a request waited for another's thread"
    assert len(set(threads)) == 5  # two pooled threads, three of their own
    gate.set()
    assert [status for status, _ in await asyncio.gather(*calls)] == [204] * 5
    # Afterwards the pool's two threads serve again.
    threads.clear()
    await call(app)
    await call(app)
    assert len(set(threads)) == 1


async def test_a_request_that_inherits_an_ended_requests_context_is_served():
    """Twisted registers a keep-alive connection's reader again from inside the application's
    `send`, so the connection's next request can start in a context copied from an earlier
    request, whose thread-sensitive context has exited. Served anyway, pooled or (all threads
    busy) on a thread of its own; before, asgiref refused it and the node answered 500."""
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import ThreadSensitiveContext

    threads: list[int] = []
    gate = asyncio.Event()
    app = pooled(thread_noting_app(threads, gate), threads=1)
    statuses: list[int] = []

    async def next_request_on_the_connection() -> None:
        await asyncio.sleep(0.05)  # starts after the earlier request's context exited
        statuses.append((await call(app))[0])

    async with ThreadSensitiveContext(executor=ThreadPoolExecutor(max_workers=1)):
        pooled_one = asyncio.create_task(next_request_on_the_connection())
    await asyncio.sleep(0.2)
    assert statuses == [] and len(threads) == 1  # it holds the pool's one thread
    async with ThreadSensitiveContext(executor=ThreadPoolExecutor(max_workers=1)):
        own_thread = asyncio.create_task(next_request_on_the_connection())
    for _ in range(200):
        if len(threads) == 2:
            break
        await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(pooled_one, own_thread)
    assert statuses == [204, 204]


@pytest.mark.django_db(transaction=True)
async def test_the_middleware_chain_and_the_view_run_in_one_hop_on_one_thread(settings):
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [
        f"{__name__}.RecordingMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django_htmx.middleware.HtmxMiddleware",  # async-capable: no longer a hop back
    ]
    app = pooled(SyncChainHandler(), threads=2)
    seen.clear()
    hops.clear()
    for _ in range(3):
        status, body = await call(app)
        assert (status, body) == (200, b"ok")
    assert [kind for kind, _ in seen] == ["middleware", "view"] * 3
    assert len({ident for _, ident in seen}) == 1
    assert hops == [False] * 3
    status, _ = await call(app, http_scope("/missing"))
    assert status == 404


@pytest.mark.live
@pytest.mark.skipif(not services_mode(), reason="PostgreSQL shows each connection's backend")
def test_a_node_serves_requests_on_the_connections_it_already_has(tmp_path):
    """Before, every request opened a PostgreSQL connection (a new backend) and closed it."""
    import httpx
    import psycopg

    node = Node("threads", tmp_path).start()
    try:
        node.create_user("kept", PASSWORD)
        with httpx.Client(base_url=node.url, timeout=30) as client:
            login(client, "kept", PASSWORD)
            for _ in range(10):  # the pooled threads open theirs
                assert client.get("/api/v1/users/@me").status_code == 200
            dsn = node.env["DATABASE_URL"]
            with psycopg.connect(dsn, autocommit=True) as db:

                def sessions() -> int:
                    # Counted as each backend starts; other backends' figures arrive within
                    # a second (their stats are flushed at exit or every second).
                    time.sleep(1.5)
                    db.execute("SELECT pg_stat_clear_snapshot()")
                    return db.execute(
                        "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
                    ).fetchone()[0]

                before = sessions()
                for _ in range(40):
                    assert client.get("/api/v1/users/@me").status_code == 200
                new = sessions() - before
        assert new <= 2, f"{new} connections opened for 40 requests"
    finally:
        node.stop()
