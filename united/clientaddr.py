"""Who is really on the other end: the one place that decides a request's client address.

The socket peer is the client, unless the peer is one of the operator's reverse proxies
(`UNITED_TRUSTED_PROXIES`). Only then are `X-Forwarded-For` and `X-Forwarded-Proto` believed,
and `X-Forwarded-For` is read from the right: each trusted proxy appended the address it saw,
so the first address from the right that is not one of ours is the client, and everything to
its left was written by the client itself (an attacker chooses it freely, so it never counts).

`TrustedProxyMiddleware` applies this once to every HTTP and WebSocket scope, so Django's
`REMOTE_ADDR`, `request.is_secure()` and a consumer's `scope["client"]` are already the real
values, and it drops the forwarding headers so nothing downstream can read them raw. With
`UNITED_HTTPS` on, the scheme is https whatever the headers say.
`client_address()` is what code asks (rate limits, the audit log); it applies the same rule
to a request that did not come through the ASGI application (Django's test client, WSGI).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_FORWARDED = {b"x-forwarded-for", b"x-forwarded-proto"}


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def trusted_networks() -> tuple[Network, ...]:
    return _networks(tuple(getattr(settings, "UNITED_TRUSTED_PROXIES", ()) or ()))


def _address(text: str) -> Address | None:
    """An address from one X-Forwarded-For hop: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: Iterable[Network]) -> bool:
    return any(address in network for network in networks)


def real_client(
    peer: str | None, forwarded_for: str | None, networks: tuple[Network, ...] | None = None
) -> str | None:
    """The client's address given the socket peer and the X-Forwarded-For header (if any)."""
    networks = trusted_networks() if networks is None else networks
    if not peer or not networks:
        return peer or None
    current = _address(peer)
    if current is None or not _trusted(current, networks):
        return peer
    for hop in reversed((forwarded_for or "").split(",")):
        if not hop.strip():
            continue
        address = _address(hop)
        if address is None:
            break  # garbage written by someone: the last proxy we trust is all we know
        current = address
        if not _trusted(address, networks):
            break
    return str(current)


def forwarded_proto(peer: str | None, header: str | None) -> str | None:
    """`http`/`https` from a trusted peer's X-Forwarded-Proto; None when it is not believed."""
    networks = trusted_networks()
    address = _address(peer or "")
    if not header or address is None or not _trusted(address, networks):
        return None
    proto = header.split(",")[-1].strip().lower()  # the nearest proxy's word
    return proto if proto in {"http", "https"} else None


def client_address(source: HttpRequest | Request | Mapping[str, Any] | None) -> str | None:
    """The real client address of an HTTP request (Django's or DRF's) or an ASGI scope."""
    if source is None:
        return None
    if isinstance(source, HttpRequest | Request):
        meta = source.META
        return real_client(meta.get("REMOTE_ADDR"), meta.get("HTTP_X_FORWARDED_FOR"))
    client = source.get("client")
    peer = client[0] if client else None
    return real_client(peer, _header(source, b"x-forwarded-for"))


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    values = [v.decode("latin1") for k, v in scope.get("headers", ()) if k.lower() == name]
    return ",".join(values) if values else None


class TrustedProxyMiddleware:
    """ASGI middleware (outermost): rewrites `client` and `scheme` from a trusted proxy's
    headers and removes the forwarding headers from every scope."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope.get("type") in {"http", "websocket"}:
            scope = resolve_scope(scope)
        return await self.app(scope, receive, send)


def resolve_scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    client = scope.get("client")
    peer = client[0] if client else None
    resolved = dict(scope)
    address = real_client(peer, _header(scope, b"x-forwarded-for"))
    if address != peer:
        resolved["client"] = (address, 0)
    proto = forwarded_proto(peer, _header(scope, b"x-forwarded-proto"))
    if getattr(settings, "UNITED_HTTPS", False):
        # The operator says the node is public over HTTPS (TLS ends at a proxy, listed or not):
        # WebAuthn origins and CSRF checks must see https even without a believed header.
        proto = "https"
    if proto is not None:
        secure = proto == "https"
        if scope["type"] == "websocket":
            resolved["scheme"] = "wss" if secure else "ws"
        else:
            resolved["scheme"] = proto
    resolved["headers"] = [
        (k, v) for k, v in scope.get("headers", ()) if k.lower() not in _FORWARDED
    ]
    return resolved
