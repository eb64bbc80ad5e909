"""Request bodies under daphne, kept on disk instead of in memory.

Two things held a whole upload in the node's memory, and `install()` fixes both:

1. Twisted's `Request.requestReceived` parses every multipart/form-data POST itself, reading
   the body into one bytes object and handing it to the `email` package (about 13x the body
   size in memory, at ~10 MB/s), only for daphne to ignore the result. Its switch
   `parsePOSTFormSubmission` is turned off for daphne's request class.
2. Daphne (4.2) hands a request to the application only once Twisted has received the whole
body (into a temp file, for large ones), and then pushes every 8 KB chunk of it into the
application's asyncio.Queue in one synchronous loop, before the application runs a single
step. A 1 GB upload therefore sat in the node's memory as 1 GB of queued messages, and
Django then copied it chunk by chunk with a thread hop per 8 KB.

3. (Responses.) Daphne writes each response body message to Twisted and returns at once,
   with no flow control: a node streaming a 1 GB video to a slower client buffered what the
   client had not read yet, up to the whole file. `handle_reply` now registers a streaming
   producer on the request, which Twisted pauses while the socket's send buffer is full, and
   waits for it to resume before taking the next body message from the application.

4. (Limits.) Twisted reads a whole request body before daphne sees the request, so Django's
   own size checks ran only once an oversized body had been received in full (and copied to
   temp files three times). `gotLength`/`handleContentChunk` of daphne's request class now
   hold every body to a per-path limit while it arrives: a declared `Content-Length` over the
   limit is refused right after the headers, a chunked body the moment it grows past it. The
   refusal is the API's JSON error (413), written straight to the socket; the connection then
   stops reading, half-closes after the response and is aborted a moment later, so nothing
   past the limit is read, stored or queued. A path may also register a *gate*: a function of
   the request's headers, run in a thread before any of the body is read (reading is paused
   meanwhile), that returns the bytes this caller may send or raises an `APIError` (the upload
   path checks the member's credentials and quota there). Paths register their limit with
   `register_body_limit` from their app's `ready()`; every other path gets Django's
   `DATA_UPLOAD_MAX_MEMORY_SIZE`.

`SpoolingQueue` is that queue with a disk spool: past the first MiB of a request's body,
chunks are appended to an anonymous temp file and only (offset, length) of each run of up to
1 MiB is queued. On `get()` a run is read back as one message, so Django
sees few, large messages and memory stays flat whatever the body's size. Order is kept: every
message still goes through the one FIFO, spooled or not. `install()` makes daphne's server use
it; the node's ASGI module calls it at import, which daphne does before it serves anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from typing import Any

IN_MEMORY = 1024 * 1024
COALESCE = 1024 * 1024
_SPOOLED = "_united_spooled"
_FAILED = "_united_failed"
# After a refusal the socket is half-closed (the client sees the whole response and EOF) and
# aborted this long after, whatever the client still has in flight.
LINGER_SECONDS = 1.0

logger = logging.getLogger(__name__)

# A gate gets the request's headers (lower-case names, first value each) and returns how many
# body bytes this caller may send, or raises united.errors.APIError.
Gate = Callable[[dict[str, str]], int]


@dataclass(frozen=True)
class BodyLimit:
    pattern: re.Pattern[str]
    limit: Callable[[], int]
    gate: Gate | None = None


_limits: list[BodyLimit] = []


def register_body_limit(pattern: str, limit: Callable[[], int], gate: Gate | None = None) -> None:
    """Hold bodies sent to paths matching `pattern` (a regex, matched from the start of the
    path) to `limit()` bytes instead of the default; `gate` runs before the body is read."""
    _limits[:] = [entry for entry in _limits if entry.pattern.pattern != pattern]
    _limits.append(BodyLimit(re.compile(pattern), limit, gate))


def default_body_limit() -> int:
    from django.conf import settings

    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def body_limit_for(path: str) -> BodyLimit | None:
    return next((entry for entry in _limits if entry.pattern.match(path)), None)


class SpoolingQueue(asyncio.Queue):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spool: Any = None
        self._written = 0
        self._in_memory = 0
        self._failed: OSError | None = None

    def _fail(self, exc: OSError) -> None:
        """The spool could not be written (a full disk): drop what it held, and let the
        application's next read raise `exc` (guard_disk_full turns that into a 507)."""
        self._failed = exc
        # asyncio.Queue's private deque; the stubs do not declare it.
        self._queue = type(self._queue)(item for item in self._queue if _SPOOLED not in item)  # type: ignore[has-type]
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        super().put_nowait({"type": "http.request", _FAILED: exc})

    def put_nowait(self, item: dict[str, Any]) -> None:
        if self._failed is not None:
            if item.get("type") == "http.request":
                return  # the body is lost already; the application is told by _load
            return super().put_nowait(item)
        body = item.get("body") if item.get("type") == "http.request" else None
        if body and (self._spool is not None or self._in_memory + len(body) > IN_MEMORY):
            try:
                if self._spool is None:
                    self._spool = tempfile.TemporaryFile(prefix="united-body-", buffering=0)
                self._spool.write(body)
            except OSError as exc:
                self._fail(exc)
                return
            offset, self._written = self._written, self._written + len(body)
            tail = self._queue[-1] if self._queue else None
            if tail and _SPOOLED in tail and tail[_SPOOLED][1] + len(body) <= COALESCE:
                # Grow the queued run instead of queueing a message per 8 KB chunk: a 1 GB
                # body is then ~1000 small dicts, not 130,000.
                tail[_SPOOLED] = (tail[_SPOOLED][0], tail[_SPOOLED][1] + len(body))
                tail["more_body"] = item.get("more_body", False)
                return
            item = {**item, "body": b"", _SPOOLED: (offset, len(body))}
        elif body:
            self._in_memory += len(body)
        super().put_nowait(item)

    async def get(self) -> dict[str, Any]:
        return self._load(await super().get())

    def get_nowait(self) -> dict[str, Any]:
        return self._load(super().get_nowait())

    def _load(self, item: dict[str, Any]) -> dict[str, Any]:
        if _FAILED in item:
            raise item[_FAILED]
        if _SPOOLED not in item:
            if item.get("type") == "http.request":
                self._in_memory -= len(item.get("body", b""))
            return item
        offset, length = item[_SPOOLED]
        more = item.get("more_body", False)
        # Spooled chunks are contiguous in the file: read a run of them as one message.
        while more and length < COALESCE and self._queue and _SPOOLED in self._queue[0]:
            following = super().get_nowait()
            length += following[_SPOOLED][1]
            more = following.get("more_body", False)
        body = os.pread(self._spool.fileno(), length, offset)
        if not more:
            self._spool.close()
            self._spool, self._written = None, 0
        return {"type": "http.request", "body": body, "more_body": more}


class SocketQueue:
    """What daphne puts a WebSocket's incoming messages in, for the application to `get`.
    An asyncio.Queue carries four deques (its items, getters, putters and a `join` event's
    waiters), about 3 KiB that an idle socket keeps for its whole life; a socket needs one
    list and at most one waiting reader. Unbounded, as daphne's own queue is (the gateway
    limits the frames a client may send, docs/gateway.md)."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[dict[str, Any]] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: dict[str, Any]) -> None:
        self._items.append(item)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> dict[str, Any]:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> dict[str, Any]:
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return self._items.pop(0)

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items


class _Drained:
    """A Twisted push producer whose only job is to tell asyncio when writing may go on."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.ready.set()

    def pauseProducing(self) -> None:
        self.ready.clear()

    def resumeProducing(self) -> None:
        self.ready.set()

    def stopProducing(self) -> None:  # connection lost: never leave the application waiting
        self.ready.set()


def _with_backpressure(handle_reply):
    async def handle_reply_when_drained(self, protocol, message):
        gate = getattr(protocol, "_united_drained", None)
        is_body = message.get("type") == "http.response.body"
        if gate is not None and is_body and not message.get("more_body", False):
            protocol._united_drained = None
            protocol.unregisterProducer()  # before the request finishes
        await handle_reply(self, protocol, message)
        if not (is_body and message.get("more_body", False)):
            return
        if gate is None:
            if getattr(protocol, "finished", True) or getattr(protocol, "producer", None):
                return
            gate = protocol._united_drained = _Drained()
            protocol.registerProducer(gate, True)
        while not gate.ready.is_set():
            try:
                await asyncio.wait_for(gate.ready.wait(), timeout=5)
            except TimeoutError:
                if protocol.finished or protocol.channel is None:
                    return  # the client went away; daphne tells the application

    handle_reply_when_drained._united_spooling = True
    return handle_reply_when_drained


def _error_response(status: int, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    payload = json.dumps(body).encode()
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Connection: close",
        "X-Content-Type-Options: nosniff",
        "Cache-Control: no-store",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def _refuse(request: Any, exc: Any) -> None:
    """Answer `exc` (an APIError) now and stop reading this connection's body."""
    if request._united_refused:
        return
    request._united_refused = True
    # Twisted would otherwise send "100 Continue" right after our refusal.
    request.requestHeaders.removeHeader(b"expect")
    channel = request.channel
    transport = getattr(channel, "transport", None)
    if transport is None:
        return
    headers = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    channel._networkProducer.pauseProducing()  # not one more byte of this body is read
    transport.write(_error_response(exc.status, exc.body(), headers))
    half_close = getattr(transport, "loseWriteConnection", None)
    if half_close is not None:
        half_close()
        from twisted.internet import reactor

        # Twisted's interface declares callLater without self; the call is right.
        reactor.callLater(LINGER_SECONDS, transport.abortConnection)  # type: ignore[arg-type]
    else:
        channel.loseConnection()


def _too_large(limit: int) -> Any:
    from united.errors import REQUEST_TOO_LARGE, APIError

    return APIError(
        f"Request body too large: at most {limit} bytes are accepted here",
        status=413,
        code=REQUEST_TOO_LARGE,
    )


def _path_of(request: Any) -> str:
    raw = getattr(request.channel, "_path", b"") or b""
    return raw.split(b"?", 1)[0].decode("latin-1")


async def _run_gate(gate: Gate, headers: dict[str, str]) -> int:
    from asgiref.sync import sync_to_async

    # Not thread-sensitive: a quota lookup must not queue behind the node's sync views.
    return await sync_to_async(gate, thread_sensitive=False)(headers)


def _gate_done(request: Any, future: asyncio.Future) -> None:
    request._united_gating = False
    if request._united_refused or request._united_received:
        return  # refused meanwhile, or the whole (small) body arrived: Django checks it
    try:
        allowed = future.result()
    except Exception as exc:
        from united.errors import APIError

        if isinstance(exc, APIError):
            _refuse(request, exc)
            return
        # The gate could not decide (database down…): the application will answer properly.
        logger.warning("body gate failed for %s: %r", _path_of(request), exc)
        allowed = request._united_limit
    request._united_limit = min(request._united_limit, allowed)
    declared = request._united_declared
    if max(declared or 0, request._united_seen) > request._united_limit:
        _refuse(request, _too_large(request._united_limit))
        return
    if request.channel is not None and request.channel.transport is not None:
        if request._united_continue:
            request.channel._send100Continue()
        request.channel._networkProducer.resumeProducing()


def _limit_bodies(request_class: Any) -> None:
    got_length = request_class.gotLength
    handle_chunk = request_class.handleContentChunk
    request_received = request_class.requestReceived

    def gotLength(self, length):  # noqa: N802 - Twisted's name
        self._united_refused = self._united_received = self._united_gating = False
        self._united_continue = False
        self._united_seen, self._united_declared = 0, length
        path = _path_of(self)
        entry = body_limit_for(path)
        self._united_limit = entry.limit() if entry else default_body_limit()
        gated = entry is not None and entry.gate is not None and length != 0
        if length is not None and length > self._united_limit and not gated:
            self.content = _Discard()
            _refuse(self, _too_large(self._united_limit))
            return
        if length is not None and length > self._united_limit:
            self.content = _Discard()  # the gate refuses it, in its own words
        else:
            got_length(self, length)
        if gated:
            expect = self.requestHeaders.getRawHeaders(b"expect") or [b""]
            version = getattr(self.channel, "_version", b"")
            if expect[0].lower() == b"100-continue" and version == b"HTTP/1.1":
                # A client that asks first sends nothing until the gate lets it: Twisted's
                # own "100 Continue" would go out at once, so it is sent from _gate_done.
                self.requestHeaders.removeHeader(b"expect")
                self._united_continue = True
            headers = {
                name.decode("latin-1").lower(): values[0].decode("latin-1")
                for name, values in self.requestHeaders.getAllRawHeaders()
                if values
            }
            self._united_gating = True
            self.channel._networkProducer.pauseProducing()
            future = asyncio.ensure_future(_run_gate(entry.gate, headers))
            future.add_done_callback(partial(_gate_done, self))

    def handleContentChunk(self, data):  # noqa: N802
        if self._united_refused:
            return
        self._united_seen += len(data)
        if self._united_seen > self._united_limit:
            _refuse(self, _too_large(self._united_limit))
            return
        try:
            handle_chunk(self, data)
        except OSError as exc:
            from united.errors import StorageFull, is_disk_full

            if not is_disk_full(exc):
                raise
            logger.error("disk full while receiving a body for %s: %s", _path_of(self), exc)
            self.content.close()  # gives back what this body took
            self.content = _Discard()
            _refuse(self, StorageFull())

    def requestReceived(self, command, path, version):  # noqa: N802
        if getattr(self, "_united_refused", False):
            return  # answered already; the application never sees this request
        self._united_received = True
        request_received(self, command, path, version)

    request_class.gotLength = gotLength
    request_class.handleContentChunk = handleContentChunk
    request_class.requestReceived = requestReceived


class _Discard:
    """The content file of a refused request: nothing is kept."""

    closed = False

    def write(self, data: bytes) -> None:
        return None

    def read(self, size: int = -1) -> bytes:
        return b""

    def seek(self, *args: Any) -> int:
        return 0

    def close(self) -> None:
        self.closed = True


def guard_disk_full(app: Any) -> Any:
    """Answer 507 (the API's error shape) when the disk fills before Django has a request:
    while the spool or Django's own body file is written. Later failures are Django's."""

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = False

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message.get("type") == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, tracked_send)
        except OSError as exc:
            from united.errors import StorageFull, is_disk_full

            if scope.get("type") != "http" or started or not is_disk_full(exc):
                raise
            logger.error("disk full while reading a body for %s: %s", scope.get("path"), exc)
            error = StorageFull()
            payload = json.dumps(error.body()).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": error.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                        (b"x-content-type-options", b"nosniff"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})

    return guarded


def _release_upgrade(protocol: Any) -> None:
    """Let the HTTP request that was upgraded to this WebSocket go. Twisted's HTTPChannel
    registers itself as its transport's producer when the connection opens; daphne moves the
    transport to the WebSocket protocol but leaves that registration, so the channel, the
    upgrade request, its headers and its body buffer lived as long as the socket: a sixth of an
    idle gateway connection's memory (docs/performance.md). The WebSocket protocol never
    registers a producer of its own, so the registration is dropped."""
    from twisted.web.http import HTTPChannel

    transport: Any = getattr(protocol, "transport", None)
    if isinstance(getattr(transport, "producer", None), HTTPChannel):
        transport.unregisterProducer()


def install() -> None:
    """Stop Twisted's form parsing; limit bodies as they arrive; make daphne queue them
    through a SpoolingQueue."""
    try:
        from daphne.server import Server
    except ImportError:  # served by something else: nothing to patch
        return
    from daphne.http_protocol import WebRequest

    if getattr(Server.create_application, "_united_spooling", False):
        return
    request_init = WebRequest.__init__

    def init_without_form_parsing(self, *args, **kwargs):
        kwargs["parsePOSTFormSubmission"] = False  # Twisted's own switch (twisted >= 24.7)
        request_init(self, *args, **kwargs)

    WebRequest.__init__ = init_without_form_parsing
    _limit_bodies(WebRequest)

    def create_application(self, protocol, scope):  # daphne 4.2's, with our queue
        assert "application_instance" not in self.connections[protocol]
        input_queue: SpoolingQueue | SocketQueue = SpoolingQueue()
        scope.setdefault("asgi", {"version": "3.0"})
        if scope.get("type") == "websocket":
            input_queue = SocketQueue()
            from united.wsframes import text_sender

            scope["united.send_text"] = text_sender(protocol)
            _release_upgrade(protocol)
        application_instance = self.application(
            scope=scope,
            receive=input_queue.get,
            send=partial(self.handle_reply, protocol),
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            application_instance,
            loop=asyncio.get_event_loop(),
        )
        return input_queue

    create_application._united_spooling = True  # type: ignore[attr-defined]
    Server.create_application = create_application
    Server.handle_reply = _with_backpressure(Server.handle_reply)
