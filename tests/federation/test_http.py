"""Remote fetch safety: private addresses refused after resolution and on every redirect,
unless the operator allowlists them; size limits and timeouts on every fetch."""

from __future__ import annotations

import socket
import threading

import pytest

from federation import http
from tests.federation.fixtures import Recorder

pytestmark = pytest.mark.mode_independent


@pytest.fixture
def server():
    recorder = Recorder().start()
    yield recorder
    recorder.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://[fe80::1]/",
    ],
)
def test_private_addresses_are_refused_without_allowlist(settings, url):
    settings.FEDERATION_ALLOW_PRIVATE = []
    with pytest.raises(http.FetchError) as info:
        http.request("GET", url)
    assert info.value.reason == "private_address"


def test_ssrf_to_loopback_server_is_refused_without_allowlist(settings, server):
    settings.FEDERATION_ALLOW_PRIVATE = []
    server.routes["/secret"] = (200, {}, b"secret")
    with pytest.raises(http.FetchError) as info:
        http.request("GET", f"{server.base}/secret")
    assert info.value.reason == "private_address"
    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    assert http.request("GET", f"{server.base}/secret").content == b"secret"


@pytest.mark.parametrize(
    "target", ["http://10.0.0.1/admin", "http://127.0.0.2/", "http://[::1]:80/"]
)
def test_redirect_to_a_private_address_is_refused(settings, server, target):
    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    server.routes["/hop"] = (302, {"Location": target}, b"")
    with pytest.raises(http.FetchError) as info:
        http.request("GET", f"{server.base}/hop")
    assert info.value.reason == "private_address"


def test_redirects_are_followed_and_capped(settings, server):
    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    server.routes["/a"] = (302, {"Location": "/b"}, b"")
    server.routes["/b"] = (200, {}, b"ok")
    response = http.request("GET", f"{server.base}/a")
    assert response.content == b"ok" and response.url.endswith("/b")
    server.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(http.FetchError) as info:
        http.request("GET", f"{server.base}/loop")
    assert info.value.reason == "redirects"


def test_response_size_is_capped(settings, server):
    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    server.routes["/big"] = (200, {}, b"x" * (http.MAX_RESPONSE_BYTES + 1))
    with pytest.raises(http.FetchError) as info:
        http.request("GET", f"{server.base}/big")
    assert info.value.reason == "too_large"


def test_a_silent_server_times_out(settings, monkeypatch):
    import httpx

    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    monkeypatch.setattr(http, "TIMEOUT", httpx.Timeout(0.5))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        with pytest.raises(http.FetchError) as info:
            http.request("GET", f"http://127.0.0.1:{listener.getsockname()[1]}/")
        assert info.value.reason == "timeout"
    finally:
        listener.close()


def test_non_http_schemes_and_credentials_are_refused():
    for url in ("file:///etc/passwd", "gopher://x/", "http://user:pw@example.com/"):
        with pytest.raises(http.FetchError) as info:
            http.request("GET", url)
        assert info.value.reason == "bad_url"


class Drip:
    """A loopback server that answers one byte at a time, `interval` seconds apart, for as
    long as the client listens: in the status line and headers (`where="headers"`) or in an
    endless body after honest headers (`where="body"`)."""

    def __init__(self, where: str, interval: float = 0.2) -> None:
        self.where, self.interval = where, interval
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.sent = 0
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/actor"

    def _serve(self) -> None:
        import time

        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: "
            try:
                if self.where == "body":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                    head = b" " * 100000
                for i in range(len(head)):
                    conn.sendall(head[i : i + 1])
                    self.sent += 1
                    time.sleep(self.interval)
            except OSError:
                pass  # the client hung up: what we want
        self.closed.set()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_dripping_server_is_cut_off_at_the_deadline(settings, monkeypatch, where):
    """Each byte comes well inside the read timeout (10 s), so only the overall deadline can
    end the request; it must end at the deadline, whatever the drip rate."""
    import time

    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    monkeypatch.setattr(http, "DEADLINE", 1.5)
    drip = Drip(where)
    started = time.monotonic()
    try:
        with pytest.raises(http.FetchError) as info:
            http.get_json(drip.url, sign=False)
        elapsed = time.monotonic() - started
        assert info.value.reason == "timeout"
        assert 1.4 <= elapsed < 2.5, elapsed
        assert drip.sent >= 5  # it was dripping, not silent
        assert drip.closed.wait(5)  # and we hung up on it
    finally:
        drip.close()


def test_the_default_deadline_is_well_under_the_drip_that_held_a_follow():
    # Issue 21: a one-byte-a-second server held a follow for 99 s.
    assert http.DEADLINE <= 30 and http.TIMEOUT.read <= http.DEADLINE


def test_an_announced_oversized_body_is_refused_before_it_is_read(settings):
    import time

    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    drip = Drip("body")  # announces 100000 B
    started = time.monotonic()
    try:
        with pytest.raises(http.FetchError) as info:
            http.request("GET", drip.url, max_bytes=1000)
        assert info.value.reason == "too_large"
        assert time.monotonic() - started < 1 and drip.sent <= 1
    finally:
        drip.close()


def test_requests_to_one_destination_are_capped(settings):
    """However many threads want the same peer, at most MAX_PER_DESTINATION requests are in
    flight to it at once (counted by the peer, a slow loopback server)."""
    import time
    from concurrent.futures import ThreadPoolExecutor
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    settings.FEDERATION_ALLOW_PRIVATE = ["127.0.0.1/32"]
    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    class Slow(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return

        def do_GET(self):
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
            time.sleep(0.3)
            with lock:
                state["now"] -= 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/x"
    try:
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: http.request("GET", url).content, range(12)))
    finally:
        server.shutdown()
        server.server_close()
    assert answers == [b"ok"] * 12
    assert state["most"] == http.MAX_PER_DESTINATION == 4
