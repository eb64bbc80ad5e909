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

`SpoolingQueue` is that queue with a disk spool: past the first MiB of a request's body,
chunks are appended to an anonymous temp file and only (offset, length) of each run of up to
1 MiB is queued. On `get()` a run is read back as one message, so Django
sees few, large messages and memory stays flat whatever the body's size. Order is kept: every
message still goes through the one FIFO, spooled or not. `install()` makes daphne's server use
it; the node's ASGI module calls it at import, which daphne does before it serves anything.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from functools import partial
from typing import Any

IN_MEMORY = 1024 * 1024
COALESCE = 1024 * 1024
_SPOOLED = "_united_spooled"


class SpoolingQueue(asyncio.Queue):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spool: Any = None
        self._written = 0
        self._in_memory = 0

    def put_nowait(self, item: dict[str, Any]) -> None:
        body = item.get("body") if item.get("type") == "http.request" else None
        if body and (self._spool is not None or self._in_memory + len(body) > IN_MEMORY):
            if self._spool is None:
                self._spool = tempfile.TemporaryFile(prefix="united-body-", buffering=0)
            self._spool.write(body)
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


def install() -> None:
    """Stop Twisted's form parsing; make daphne queue bodies through a SpoolingQueue."""
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

    def create_application(self, protocol, scope):  # daphne 4.2's, with our queue
        assert "application_instance" not in self.connections[protocol]
        input_queue = SpoolingQueue()
        scope.setdefault("asgi", {"version": "3.0"})
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
