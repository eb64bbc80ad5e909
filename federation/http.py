"""Outbound HTTP for federation, safe against server-side request forgery.

A remote node names URLs we then fetch (actor ids, key ids, inboxes), so every request goes
through `request()`: the host is resolved here, every address it resolves to must be public
(not private, loopback, link-local, multicast, reserved…) unless the operator's
FEDERATION_ALLOW_PRIVATE covers it, and the connection is made to the checked address (the
Host header and TLS SNI carry the name), so DNS cannot answer differently between check and
connect. Redirects are followed by hand, each hop checked the same way. Every request has
timeouts and a cap on the response size.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings

from federation import __version__

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
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
    return [ipaddress.ip_network(c, strict=False) for c in settings.FEDERATION_ALLOW_PRIVATE]


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
        client = httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False)
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
    """One checked request. With `sign`, each hop is signed by the node (authorized fetch)."""
    for _hop in range(MAX_REDIRECTS + 1):
        pinned, hostname, _port = _pinned(url)
        hop_headers = {"User-Agent": USER_AGENT, **(headers or {})}
        if sign:
            from federation.outgoing import signed_headers

            hop_headers.update(signed_headers(method, url, content, sign_as))
        hop_headers["Host"] = urlsplit(url).netloc
        extensions = {"sni_hostname": hostname} if url.startswith("https:") else {}
        try:
            client = _client(hostname)
            req = client.build_request(
                method, pinned, headers=hop_headers, content=content, extensions=extensions
            )
            req.extensions["timeout"] = TIMEOUT.as_dict()
            response = client.send(req, stream=True)
            try:
                if response.is_redirect and follow_redirects:
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
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
    raise FetchError("redirects", f"more than {MAX_REDIRECTS} redirects")


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
