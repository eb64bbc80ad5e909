"""Text frames straight to a WebSocket's socket, for the gateway's fan-out under daphne.

Profiling the gateway with 1,000 clients (docs/performance.md) put most of the fan-out's cost
in the path each frame takes through daphne: an ASGI message, autobahn's frame builder, then
Twisted's `transport.write`, which registers the socket with the event loop for writing and
removes it again once the buffer drains (two epoll calls per frame). A server frame is a
two-to-ten-byte header and the payload (RFC 6455 §5.2: server frames are never masked), and a
socket with nothing queued can usually take it at once, as asyncio's own transports do. So this
writes it with one `send()`, and hands Twisted only what the kernel did not take, or everything
when Twisted still holds queued bytes for that socket (so frames never overtake each other).

Only the gateway uses it, through the `united.send_text` callable that the node's daphne
integration puts in a WebSocket scope (united/bodies.py); anything served otherwise (tests'
in-process communicator, another server) falls back to the ASGI `send`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any


class SocketClosed(Exception):
    pass


class SlowConsumer(SocketClosed):
    """The client stopped reading: more than MAX_PENDING bytes already wait for it. The frame
    is not queued; the caller closes the socket (4903), so the client, when it reads again,
    finds what was queued, then the close, and RESUMEs, replaying the rest from the stored
    events. autobahn drops the connection if the close is not answered in time."""


# What one socket may have waiting in the node's memory (beyond the kernel's own buffer)
# before it is cut off: a client that reads at all drains far less than this between events.
MAX_PENDING = 1024 * 1024


def frame_header(length: int) -> bytes:
    if length < 126:
        return bytes((0x81, length))
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length)
    return struct.pack("!BBQ", 0x81, 127, length)


def text_sender(protocol: Any) -> Callable[[str], None]:
    """A function that sends one text frame on daphne's WebSocket `protocol`."""

    def send_text(text: str) -> None:
        if protocol.state != protocol.STATE_OPEN:
            raise SocketClosed
        payload = text.encode()
        data = frame_header(len(payload)) + payload
        transport = protocol.transport
        sock = getattr(transport, "socket", None)
        pending = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        if pending + len(data) > MAX_PENDING:
            raise SlowConsumer
        if sock is None or transport.disconnecting or pending:
            transport.write(data)
            return
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            raise SocketClosed from exc
        if sent < len(data):
            transport.write(data[sent:])

    return send_text
