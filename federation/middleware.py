"""Remembers the request being served, so federation knows which member made a change it
hears about through a gateway event (DRF sets the authenticated user on the same request)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from federation.mirror import acting_request


class ActingRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = acting_request.set(request)
        try:
            return self.get_response(request)
        finally:
            acting_request.reset(token)
