"""Outbound HTTP for federation, safe against server-side request forgery.

A remote node names URLs we then fetch (actor ids, key ids, inboxes), so every request goes
through `request()`: the host is resolved here, every address it resolves to must be public
(not private, loopback, link-local, multicast, reserved…) unless the operator's
FEDERATION_ALLOW_PRIVATE covers it, and the connection is made to the checked address (the
Host header and TLS SNI carry the name), so DNS cannot answer differently between check and
connect. Redirects are followed by hand, each hop checked the same way. Every request has
timeouts and a cap on the response size.

Timeouts alone do not bound a request: a server that drips one byte every few seconds never
trips a read timeout and can hold a worker (and whatever waits on it, a member's follow)
for minutes. So each `request()` also has an overall DEADLINE, redirects included, enforced
below the HTTP layer: every socket read, write and connect waits at most until the deadline
(`_DeadlineBackend`), so a drip in the headers or the body ends at the deadline, not later.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore
import httpx
from django.conf import settings

from federation import __version__
from push.ports import Answer as PushAnswer

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
DEADLINE = 20.0  # seconds for a whole request, every redirect and byte of the answer included
# Requests in flight to one host from this process (fetches and deliveries together): a
# burst of work about one peer (a popular post's replies, a big guild's members) must not
# open dozens of connections to it. Deliveries are one at a time per destination anyway
# (federation.delivery's lease); a request waiting for a slot counts against its deadline.
MAX_PER_DESTINATION = 4
MAX_RESPONSE_BYTES = 1024 * 1024
MAX_REDIRECTS = 3
USER_AGENT = f"UNITED/{__version__} (+federation)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """A remote request failed or was refused; `reason` is a short stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class Response:
    url: str  # the final URL after redirects
    status: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> object:
        import json

        return json.loads(self.content)


def _allowlist() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    # A caller with its own rule (Web Push: UNITED_PUSH_ALLOW_PRIVATE) sets it for its request.
    cidrs = getattr(_local, "allow_private", None)
    if cidrs is None:
        cidrs = settings.FEDERATION_ALLOW_PRIVATE
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_address(address: IPAddress) -> None:
    if is_public(address):
        return
    if any(address in network for network in _allowlist()):
        return
    raise FetchError("private_address", f"{address} is not a public address")


def resolve(host: str, port: int) -> IPAddress:
    """The first address of `host` after checking that every address it has is allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError("dns", f"{host}: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise FetchError("dns", f"{host} has no address")
    for address in addresses:
        check_address(address)
    return addresses[0]


def _pinned(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise FetchError("bad_url", f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise FetchError("bad_url", "URLs with credentials are not fetched")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(parts.hostname, port)
    host = f"[{address}]" if address.version == 6 else str(address)
    pinned = urlunsplit((parts.scheme, f"{host}:{port}", parts.path or "/", parts.query, ""))
    return pinned, parts.hostname, port


_local = threading.local()
_slots: dict[str, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


class _Slot:
    """One of MAX_PER_DESTINATION places for requests to a host, waited for until the
    request's deadline."""

    def __init__(self, hostname: str) -> None:
        with _slots_lock:
            self.semaphore = _slots.setdefault(
                hostname, threading.BoundedSemaphore(MAX_PER_DESTINATION)
            )
        self.hostname = hostname

    def __enter__(self) -> None:
        deadline: float | None = getattr(_local, "deadline", None)
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not self.semaphore.acquire(timeout=wait):
            raise FetchError("timeout", f"{self.hostname}: no free slot before the deadline")

    def __exit__(self, *exc: object) -> None:
        self.semaphore.release()


def _remaining(timeout: float | None) -> float | None:
    """The time a socket operation may wait: its own timeout, never past the deadline."""
    deadline: float | None = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's overall deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self.inner.start_tls(ssl_context, server_hostname, _remaining(timeout))
        return _DeadlineStream(tls)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self.inner.connect_tcp(
            host, port, _remaining(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("federation does not use unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _transport() -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no door for a network backend; its pool is the one place to put ours. The
    # version is pinned (requirements.lock) and tests/federation/test_http.py would notice.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=_DeadlineBackend(),
    )
    return transport


MAX_CLIENTS = 64


def _client(hostname: str) -> httpx.Client:
    """One client per thread and host name, so deliveries to a node reuse its connection.
    Pools are keyed by the checked address (the URL is pinned); one client per name keeps a
    TLS connection verified for one name from serving another name on the same address."""
    clients: dict[str, httpx.Client] | None = getattr(_local, "clients", None)
    if clients is None:
        clients = _local.clients = {}
    client = clients.get(hostname)
    if client is None:
        if len(clients) >= MAX_CLIENTS:
            clients.pop(next(iter(clients))).close()
        client = httpx.Client(
            timeout=TIMEOUT, follow_redirects=False, trust_env=False, transport=_transport()
        )
        clients[hostname] = client
    return client


def request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    sign: bool = False,
    sign_as: str | None = None,
    max_bytes: int = MAX_RESPONSE_BYTES,
    follow_redirects: bool = True,
) -> Response:
    """One checked request. With `sign`, each hop is signed by the node (authorized fetch).
    The whole of it, redirects included, ends by DEADLINE seconds from now."""
    outer = getattr(_local, "deadline", None)
    _local.deadline = time.monotonic() + DEADLINE
    if outer is not None:  # a request made while another runs keeps the earlier deadline
        _local.deadline = min(outer, _local.deadline)
    try:
        return _request(method, url, headers, content, sign, sign_as, max_bytes, follow_redirects)
    finally:
        _local.deadline = outer


def _request(
    method: str,
    url: str,
    headers: dict[str, str] | None,
    content: bytes | None,
    sign: bool,
    sign_as: str | None,
    max_bytes: int,
    follow_redirects: bool,
) -> Response:
    for _hop in range(MAX_REDIRECTS + 1):
        pinned, hostname, _port = _pinned(url)
        hop_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        if sign:
            from federation.outgoing import signed_headers

            hop_headers.update(signed_headers(method, url, content, sign_as))
        hop_headers["Host"] = urlsplit(url).netloc
        extensions = {"sni_hostname": hostname} if url.startswith("https:") else {}
        with _Slot(urlsplit(url).netloc.lower()):
            response = _send_hop(
                method,
                url,
                pinned,
                hostname,
                hop_headers,
                content,
                extensions,
                max_bytes,
                follow_redirects,
            )
        if isinstance(response, str):
            url = response  # a redirect to follow
            continue
        return response
    raise FetchError("redirects", f"more than {MAX_REDIRECTS} redirects")


def _send_hop(
    method: str,
    url: str,
    pinned: str,
    hostname: str,
    hop_headers: dict[str, str],
    content: bytes | None,
    extensions: dict[str, Any],
    max_bytes: int,
    follow_redirects: bool,
) -> Response | str:
    """One hop: the response, or the URL a redirect points to."""
    try:
        client = _client(hostname)
        req = client.build_request(
            method, pinned, headers=hop_headers, content=content, extensions=extensions
        )
        req.extensions["timeout"] = TIMEOUT.as_dict()
        response = client.send(req, stream=True)
        try:
            if response.is_redirect and follow_redirects:
                return urljoin(url, response.headers.get("location", ""))
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError("too_large", f"{url} announces {declared} B")
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise FetchError("too_large", f"{url} sent more than {max_bytes} B")
            return Response(url, response.status_code, response.headers, bytes(body))
        finally:
            response.close()
    except httpx.TimeoutException as exc:
        raise FetchError("timeout", f"{url}: {type(exc).__name__}") from None
    except httpx.HTTPError as exc:
        raise FetchError("connect", f"{url}: {type(exc).__name__}: {exc}") from None


def push_post(
    url: str, *, headers: dict[str, str], content: bytes, allow_private: Sequence[str]
) -> PushAnswer:
    """push.ports.SafePost: a Web Push message to a browser's push service, under the same
    address rules as federation but with the push allowlist in place of
    FEDERATION_ALLOW_PRIVATE, and no redirects (RFC 8030 push services answer directly)."""
    from push.ports import TransportError

    outer = getattr(_local, "allow_private", None)
    _local.allow_private = list(allow_private)
    try:
        response = request(
            "POST",
            url,
            headers=headers,
            content=content,
            max_bytes=64 * 1024,
            follow_redirects=False,
        )
    except FetchError as exc:
        raise TransportError(exc.reason, str(exc)) from None
    finally:
        _local.allow_private = outer
    return PushAnswer(response.status, response.content)


ACCEPT = (
    "application/activity+json, "
    'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
)


def get_json(
    url: str, *, sign: bool = True, accept: str = ACCEPT, sign_as: str | None = None
) -> tuple[dict[str, Any], str]:
    """GET a JSON object; returns it with the final URL (after redirects). `sign_as` names
    the local actor the request speaks for (default: the node)."""
    response = request("GET", url, headers={"Accept": accept}, sign=sign, sign_as=sign_as)
    if response.status != 200:
        raise FetchError("status", f"{url} answered {response.status}")
    try:
        data = response.json()
    except ValueError:
        raise FetchError("not_json", f"{url} did not answer JSON") from None
    if not isinstance(data, dict):
        raise FetchError("not_json", f"{url} did not answer a JSON object")
    return data, response.url
