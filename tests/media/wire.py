"""Speaking HTTP/1.1 by hand to a live node, to see what an impatient client sees."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator

import httpx

from tests.nodes import Node


def credentials(client: httpx.Client) -> str:
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    return f"Cookie: {cookies}\r\nX-CSRFToken: {client.cookies['csrftoken']}\r\n"


def send_until_answered(node: Node, head: bytes, body: Iterator[bytes]) -> tuple[int, dict, int]:
    """Send `head`, then `body` as fast as the server takes it, until an answer arrives.
    Returns (status, JSON body, body bytes the client managed to send before the answer)."""
    host, port = node.url.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    sock.sendall(head)
    sock.setblocking(False)
    sent, answer, pending = 0, b"", memoryview(b"")
    writing = True
    try:
        while b"\r\n\r\n" not in answer:
            if writing and not pending:
                chunk = next(body, None)
                if chunk is None:
                    writing = False
                else:
                    pending = memoryview(chunk)
            readable, writable, _ = select.select([sock], [sock] if writing else [], [], 30)
            if not readable and not writable:
                raise AssertionError(f"no answer after sending {sent} bytes")
            if readable:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
                continue
            try:
                n = sock.send(pending[:65536])
            except (BrokenPipeError, ConnectionResetError):
                writing = False
                continue
            sent, pending = sent + n, pending[n:]
        sock.setblocking(True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            head_part, _, rest = answer.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head_part.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            if len(rest) >= length:
                break
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sock.close()
    head_part, _, rest = answer.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ")[1])
    return status, json.loads(rest) if rest else {}, sent
