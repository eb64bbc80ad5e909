"""Bodies are held to their limit as they arrive, by a real node (daphne) over real sockets.

An attacker tries 300 MiB against a node whose upload limit is 1 MiB: with a declared
`Content-Length`, chunked, over quota, without signing in, and at a JSON endpoint. The client
keeps sending while watching for an answer; the test counts what it managed to send before
the 413 arrived (an upper bound on what the server read: the rest sat in socket buffers) and
samples, meanwhile, every temp file the node holds (open anonymous files and its upload dir).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.media.helpers import multipart
from tests.media.wire import credentials, send_until_answered
from tests.nodes import Node, login

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("media_door")]

PASSWORD = "correct horse battery staple"
MiB = 1024 * 1024
LIMIT = MiB
QUOTA = 3 * MiB // 2
ATTEMPT = 300 * MiB
# What sits in loopback socket buffers (client send + server receive) on top of what the
# server took: far below the 300 MiB a node that reads everything would swallow.
IN_FLIGHT = 16 * MiB
_users = itertools.count()


@pytest.fixture(scope="module")
def node(tmp_path_factory) -> Iterator[Node]:
    node = Node(
        "door",
        tmp_path_factory.mktemp("door"),
        extra_env={"UNITED_MAX_UPLOAD_BYTES": str(LIMIT), "UNITED_USER_QUOTA_BYTES": str(QUOTA)},
    )
    node.start()
    yield node
    node.stop()


@pytest.fixture
def member(node) -> Iterator[httpx.Client]:
    username = f"door{next(_users)}"
    node.create_user(username, PASSWORD)
    with httpx.Client(base_url=node.url, timeout=30) as client:
        login(client, username, PASSWORD)
        yield client


def held_on_disk(node: Node) -> int:
    """Bytes in regular files the node has open but unlinked (Twisted's and the spool's
    anonymous temp files) plus the files in its upload temp dir."""
    return sum(files_on_disk(node).values())


def files_on_disk(node: Node) -> dict[str, int]:
    pid = node.procs[0].pid
    files: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            info = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and target.endswith("(deleted)"):
            files[f"{fd}:{target}"] = info.st_size
    temp = node.directory / "data" / "tmp"
    files.update({str(p): p.stat().st_size for p in temp.glob("*") if p.is_file()})
    return files


class DiskPeak:
    def __init__(self, node: Node) -> None:
        self.node, self.peak, self._running = node, 0, True
        self.files: dict[str, int] = {}
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while self._running:
            files = files_on_disk(self.node)
            if sum(files.values()) > self.peak:
                self.peak, self.files = sum(files.values()), files
            time.sleep(0.002)

    def __enter__(self) -> DiskPeak:
        # What an earlier test's connection held goes when daphne tears it down, which
        # can lag its close on a busy machine: measure from a node that holds nothing.
        deadline = time.monotonic() + 15
        while held_on_disk(self.node) >= 64 * 1024:
            assert time.monotonic() < deadline, f"the node still holds {files_on_disk(self.node)}"
            time.sleep(0.05)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._running = False
        self._thread.join()


def identity(total: int) -> Iterator[bytes]:
    block = b"u" * (64 * 1024)
    for _ in range(total // len(block)):
        yield block


def chunked(total: int) -> Iterator[bytes]:
    for block in identity(total):
        yield f"{len(block):x}\r\n".encode() + block + b"\r\n"
    yield b"0\r\n\r\n"


def upload_head(node: Node, framing: str, auth: str = "") -> bytes:
    return (
        f"POST /api/v1/upload HTTP/1.1\r\nHost: {node.url.split('//')[1]}\r\n{auth}"
        "Content-Type: multipart/form-data; boundary=door\r\n"
        f"{framing}\r\n"
    ).encode()


def assert_refused_early(status: int, body: dict, sent: int, code: int = 40005) -> None:
    assert status == (401 if code == 40001 else 413), body
    assert body["code"] == code and body["message"]
    assert sent < LIMIT + IN_FLIGHT, f"{sent} bytes were sent before the answer"


def test_a_declared_length_over_the_limit_is_refused_before_the_body(node, member):
    with DiskPeak(node) as disk:
        status, body, sent = send_until_answered(
            node,
            upload_head(node, f"Content-Length: {ATTEMPT}\r\n", credentials(member)),
            identity(ATTEMPT),
        )
    assert_refused_early(status, body, sent)
    assert str(LIMIT) in body["message"]
    assert disk.peak < 64 * 1024, f"the node held {disk.peak} bytes on disk"


def test_a_chunked_body_is_cut_off_as_it_passes_the_limit(node, member):
    with DiskPeak(node) as disk:
        status, body, sent = send_until_answered(
            node,
            upload_head(node, "Transfer-Encoding: chunked\r\n", credentials(member)),
            chunked(ATTEMPT),
        )
    assert_refused_early(status, body, sent)
    # Twisted keeps the body up to the limit in one temp file, nothing past it.
    assert disk.peak <= LIMIT + 64 * 1024 + 256 * 1024, f"the node held {disk.peak} bytes"
    # What was kept is gone with the connection.
    deadline = time.monotonic() + 10
    while held_on_disk(node) >= 64 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held_on_disk(node) < 64 * 1024, files_on_disk(node)


def test_the_quota_is_checked_before_the_body_is_read(node, member):
    first = member.post(
        "/api/v1/upload",
        files={"file": ("first.bin", os.urandom(LIMIT), "application/octet-stream")},
        headers={"X-CSRFToken": member.cookies["csrftoken"]},
    )
    assert first.status_code == 201, first.text  # 0.5 MiB of the quota is left
    body, boundary = multipart(os.urandom(3 * LIMIT // 4), "second.bin")
    head = upload_head(node, f"Content-Length: {len(body)}\r\n", credentials(member))
    head = head.replace(b"boundary=door", f"boundary={boundary}".encode())
    status, answer, sent = send_until_answered(node, head, iter([body]))
    assert status == 413 and answer["code"] == 40005
    assert "quota" in answer["message"] and answer["errors"]["file"]
    for attempt in (chunked(ATTEMPT),):
        status, answer, sent = send_until_answered(
            node, upload_head(node, "Transfer-Encoding: chunked\r\n", credentials(member)), attempt
        )
        assert_refused_early(status, answer, sent)
    usage = member.get("/api/v1/users/@me")
    assert usage.status_code == 200


def test_a_stranger_is_refused_before_sending_a_body(node):
    status, body, sent = send_until_answered(
        node, upload_head(node, f"Content-Length: {ATTEMPT}\r\n"), identity(ATTEMPT)
    )
    assert_refused_early(status, body, sent, code=40001)
    assert sent < IN_FLIGHT


@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_other_endpoints_hold_bodies_to_the_api_limit(node, member, framing):
    """A JSON endpoint takes at most Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2 MiB)."""
    head = (
        f"PATCH /api/v1/users/@me HTTP/1.1\r\nHost: {node.url.split('//')[1]}\r\n"
        f"{credentials(member)}Content-Type: application/json\r\n"
        + (
            f"Content-Length: {ATTEMPT}\r\n"
            if framing == "declared"
            else "Transfer-Encoding: chunked\r\n"
        )
        + "\r\n"
    ).encode()
    with DiskPeak(node) as disk:
        status, body, sent = send_until_answered(
            node, head, identity(ATTEMPT) if framing == "declared" else chunked(ATTEMPT)
        )
    assert status == 413 and body["code"] == 40005
    assert "2097152" in body["message"]
    assert sent < 2 * MiB + IN_FLIGHT
    assert disk.peak <= 2 * MiB + 256 * 1024, disk.files


def test_bodies_within_the_limits_still_go_through(node, member):
    data = os.urandom(LIMIT - 1000)
    response = member.post(
        "/api/v1/upload",
        files={"file": ("fits.bin", data, "application/octet-stream")},
        headers={"X-CSRFToken": member.cookies["csrftoken"]},
    )
    assert response.status_code == 201, response.text
    assert member.get(response.json()["url"]).content == data
    patched = member.patch(
        "/api/v1/users/@me",
        json={"global_name": "Door keeper"},
        headers={"X-CSRFToken": member.cookies["csrftoken"]},
    )
    assert patched.status_code == 200, patched.text
    assert Path(node.directory / "data").exists()


def test_a_client_that_asks_first_is_answered_before_sending_anything(node, member):
    """`Expect: 100-continue` (curl sends it): the gate answers before the client sends."""
    host, port = node.url.split("//")[1].split(":")
    ok_body, boundary = multipart(b"asked first", "asked.bin")
    for length, expected in ((ATTEMPT, b"413"), (len(ok_body), b"100")):
        head = upload_head(
            node, f"Content-Length: {length}\r\nExpect: 100-continue\r\n", credentials(member)
        ).replace(b"boundary=door", f"boundary={boundary}".encode())
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head)
            status_line = sock.recv(65536).split(b"\r\n", 1)[0]
            assert status_line.split(b" ")[1] == expected, status_line
            if expected == b"100":
                sock.sendall(ok_body)
                answer = b""
                while b"\r\n\r\n" not in answer:
                    answer += sock.recv(65536)
                assert answer.split(b" ")[1] == b"201", answer


def test_the_browser_shows_the_refusal(node):
    """Chromium uploading past the limit gets the 413 and its message (not a network error),
    although the node stopped reading the body."""
    from playwright.sync_api import sync_playwright

    username = f"door{next(_users)}"
    node.create_user(username, PASSWORD)
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    script = """async (size) => {
      const csrf = document.cookie.split('; ').find((c) => c.startsWith('csrftoken=')).slice(10);
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(size)]), 'big.bin');
      return await new Promise((resolve) => {
        const xhr = new XMLHttpRequest();
        xhr.open('POST', '/api/v1/upload');
        xhr.setRequestHeader('X-CSRFToken', csrf);
        xhr.onload = () => resolve([xhr.status, xhr.responseText]);
        xhr.onerror = () => resolve([0, 'network error']);
        xhr.send(form);
      });
    }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            page = browser.new_page()
            page.goto(f"{node.url}/login/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            status, text = page.evaluate(script, 40 * MiB)
        finally:
            browser.close()
    assert status == 413, text
    assert json.loads(text)["code"] == 40005
