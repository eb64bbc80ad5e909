"""united.bodies: request bodies queued through a disk spool, in order, in big messages."""

from __future__ import annotations

import asyncio
import os

import pytest

from united.bodies import COALESCE, IN_MEMORY, SpoolingQueue

pytestmark = pytest.mark.mode_independent


def drain(queue: SpoolingQueue) -> list[dict]:
    async def run() -> list[dict]:
        out = []
        while True:
            message = await queue.get()
            out.append(message)
            if message["type"] != "http.request" or not message.get("more_body"):
                return out

    return asyncio.run(run())


def test_small_bodies_stay_in_memory_untouched():
    queue = SpoolingQueue()
    queue.put_nowait({"type": "http.request", "body": b"hello", "more_body": False})
    assert queue._spool is None
    assert drain(queue) == [{"type": "http.request", "body": b"hello", "more_body": False}]


def test_large_bodies_are_spooled_and_come_back_whole_and_in_order():
    data = os.urandom(5 * IN_MEMORY + 123)
    queue = SpoolingQueue()
    chunks = [data[i : i + 8192] for i in range(0, len(data), 8192)]
    for i, chunk in enumerate(chunks):
        queue.put_nowait({"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1})
    queue.put_nowait({"type": "http.disconnect"})
    assert queue._spool is not None
    # Only the first MiB is held as bytes; the rest waits on disk.
    held = sum(len(m.get("body", b"")) for m in queue._queue)
    assert held <= IN_MEMORY

    messages = drain(queue)
    assert b"".join(m["body"] for m in messages) == data
    assert all(len(m["body"]) <= COALESCE for m in messages)
    # The first MiB comes back as it went in; the spooled rest as a few 1 MiB messages.
    assert len(messages) <= IN_MEMORY // 8192 + 6
    assert [m["more_body"] for m in messages][-1] is False
    assert asyncio.run(queue.get()) == {"type": "http.disconnect"}
    assert queue._spool is None  # closed once the body was read


def test_install_patches_daphne_once():
    from daphne.http_protocol import WebRequest
    from daphne.server import Server

    from united import bodies

    bodies.install()
    first = Server.create_application, WebRequest.__init__
    bodies.install()
    assert (Server.create_application, WebRequest.__init__) == first
    assert Server.create_application._united_spooling
