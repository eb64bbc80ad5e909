"""Long-lived request threads for Django's synchronous code, and one hop into them.

Django's ASGI handler runs each request's synchronous part (the views, the ORM) in a thread of
its own: `ThreadSensitiveContext()` per request, so a new thread per request, and with it a
new database connection, since Django's connections are per thread. Profiled with py-spy
under `bench/gateway.py --probe request` (docs/performance.md), starting that thread and
opening that connection were a fifth of an authenticated `GET /users/@me`.

`pooled(app)` hands each HTTP request one of a few threads that live as long as the process
and keep their connection (CONN_MAX_AGE, with health checks on PostgreSQL): the first idle
one, so a request never waits behind another. When every pooled thread is busy (slow requests
piling up), the request gets a thread of its own as before, and its connection is closed
when it ends. Each pooled thread still runs one request at a time, as Django expects.

`SyncChainHandler` is Django's ASGI handler with its middleware chain built for synchronous
code, run whole in one call on the request's thread. Django's own builds an asynchronous chain
from our synchronous middleware, so each request crossed from the event loop to a thread, back
to the loop for the async-capable middleware below, and to the thread again for the view: three
crossings, now one. Every view here is synchronous (the two async health views still work:
Django runs them through async_to_sync).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import connections
from django.http import HttpRequest, HttpResponseBase

Scope = dict[str, Any]
ASGIApp = Any

# Enough for the concurrency a web process sees from its clients' requests; beyond it a
# request gets a fresh thread, never a queue.
DEFAULT_THREADS = 8


class _Worker:
    __slots__ = ("busy", "executor")

    def __init__(self, index: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{index}")
        self.busy = 0


def _close_connections() -> None:
    connections.close_all()


def pooled(app: ASGIApp, threads: int = DEFAULT_THREADS) -> ASGIApp:
    """`app` (Django's ASGI handler) with its requests' synchronous work on `threads`
    long-lived threads."""
    workers = [_Worker(i) for i in range(max(1, threads))]

    async def pooled_app(scope: Scope, receive: Any, send: Any) -> None:
        # Both branches name their executor: a context given one is this request's whatever
        # the context inherited. A keep-alive connection's next request can start in a context
        # copied from an earlier request (Twisted registers the socket's reader again from
        # inside that request's `send`), whose thread-sensitive context has exited; a context
        # without an executor would defer to it, asgiref would refuse every thread-sensitive
        # call, and the request answered 500.
        worker = next((w for w in workers if not w.busy), None)
        if worker is None:
            # All busy: a thread of this request's own, as Django does, closed with it.
            own = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request-own")
            try:
                async with ThreadSensitiveContext(executor=own):
                    try:
                        await app(scope, receive, send)
                    finally:
                        await sync_to_async(_close_connections, thread_sensitive=True)()
            finally:
                own.shutdown(wait=False)
            return
        worker.busy += 1
        try:
            # The outermost context wins: Django's own ThreadSensitiveContext inside the
            # handler then uses this worker's thread.
            async with ThreadSensitiveContext(executor=worker.executor):
                await app(scope, receive, send)
        finally:
            worker.busy -= 1

    return pooled_app


class SyncChainHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
