"""WebSocket admission for the gateway.

Browsers always send `Origin`; programs usually don't. A cookie only authenticates a socket
whose Origin is this node, which shuts out cross-site WebSocket hijacking. Sockets without an
Origin get no cookie identity at all and must IDENTIFY with an access token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def origin_allowed(origin: str, host_header: str | None) -> bool:
    netloc = urlsplit(origin).netloc.lower()
    if not netloc:
        return False
    if host_header and netloc == host_header.lower():
        return True
    domain, _port = split_domain_port(netloc)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


class GatewayAuthMiddleware:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.with_cookies = AuthMiddlewareStack(inner)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = _header(scope, b"origin")
        if origin is None:
            scope = dict(scope, user=AnonymousUser(), cookie_auth=False)
            return await self.inner(scope, receive, send)
        if not origin_allowed(origin, _header(scope, b"host")):
            return await WebsocketDenier()(scope, receive, send)
        return await self.with_cookies(dict(scope, cookie_auth=True), receive, send)
