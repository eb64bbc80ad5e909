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
