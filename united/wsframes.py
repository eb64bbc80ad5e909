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
        if (
            sock is None
            or transport.disconnecting
            or transport.dataBuffer
            or transport._tempDataBuffer
        ):
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
