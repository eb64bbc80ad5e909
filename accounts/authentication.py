"""`Authorization: Bearer <access token>` for the REST API.

DRF imports this class while `rest_framework.views` is still loading, so it imports nothing
of ours (united.errors needs rest_framework.views) until a request arrives.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request


class BearerTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header")
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Malformed Authorization header") from None
        from accounts.services.tokens import access_token_row

        token = access_token_row(raw)
        if token is None:
            raise AuthenticationFailed("Invalid or expired access token")
        return token.session.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
