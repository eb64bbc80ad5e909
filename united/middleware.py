from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.http.request import RawPostDataException
from django.utils.html import escape

from united import errors

logger = logging.getLogger(__name__)

# No inline scripts or styles anywhere: every page loads its code from /static/.
# 'wasm-unsafe-eval' lets the bundled libsodium (E2E DMs) compile its WebAssembly; it does not
# allow eval() or inline script (CSP Level 3).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self'",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # The camera and screen capture serve voice rooms, on our own pages only (no frame of
        # another origin may ask); geolocation is never used.
        response.headers.setdefault(
            "Permissions-Policy",
            "camera=(self), microphone=(self), display-capture=(self), geolocation=()",
        )
        return response


def _wants_html(request: HttpRequest) -> bool:
    # The web client's pages and fragments (/app/, its fetch() sends no Accept) and browsers;
    # the API and peers (ActivityPub) get JSON.
    if request.path.startswith("/api/"):
        return False
    return request.path.startswith("/app/") or "text/html" in request.headers.get("Accept", "")


def outage_response(request: HttpRequest, exception: BaseException) -> HttpResponse:
    """The one answer to a request that failed because the database or Redis is out of reach
    (united.errors.is_outage): 503 with Retry-After, JSON in the API's shape, or a small
    page. Rendered without the database or the cache, which are the things that are down."""
    logger.warning(
        "database or cache unreachable on %s %s: %s: %s",
        request.method,
        request.path,
        type(exception).__name__,
        str(exception).strip()[:300],
    )
    error = errors.ServiceUnavailable()
    if _wants_html(request):
        text = f'<p class="error" role="alert">{escape(error.message)}</p>'
        # A browser's navigation gets a page; HTMX and the client's fetch() a fragment.
        accept = request.headers.get("Accept", "")
        if "text/html" in accept and not request.headers.get("HX-Request"):
            text = (
                '<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f"<title>Unavailable</title></head><body>{text}</body></html>"
            )
        response = HttpResponse(text, status=error.status, content_type="text/html; charset=utf-8")
    else:
        response = errors.json_error(
            error.status, error.code, error.message, retry_after=error.retry_after
        )
    for name, value in error.headers().items():
        response[name] = value
    response["Cache-Control"] = "no-store"
    return response


class ApiErrorMiddleware:
    """Keeps the API's error shape for what happens outside DRF: unknown /api/ paths,
    bodies over the size limit, an unreachable database or Redis (503, for every door), and
    unexpected exceptions (500, logged, no traceback out)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/v1/")
            and response.status_code == 404
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return errors.json_error(404, errors.UNKNOWN_OBJECT, "Unknown endpoint")
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        """A NUL in a query or form field is refused at the door, in both run modes: PostgreSQL
        cannot store one (it raised out of whichever query met it: 500), SQLite could. The
        API's JSON bodies are checked by their parser (united/jsonbody.py); a CSRF-exempt view
        (the federation inboxes) reads its raw body itself, so only its query is looked at."""
        if request.path.startswith("/api/"):
            return None
        fields = [request.GET]
        if request.method == "POST" and not getattr(view_func, "csrf_exempt", False):
            fields.append(request.POST)  # parsed here or by CsrfViewMiddleware just after
        for data in fields:
            for key, values in data.lists():
                if "\x00" in key or any("\x00" in v for v in values):
                    return errors.json_error(
                        400,
                        errors.INVALID_FORM_BODY,
                        "A field holds a NUL character",
                        errors={key.replace("\x00", "") or "_": ["No NUL characters."]},
                    )
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):
            return errors.json_error(413, errors.REQUEST_TOO_LARGE, "Request body too large")
        if isinstance(exception, RawPostDataException):
            # A view that reads its raw body (JSON) was sent a form: the form was parsed first.
            return errors.json_error(
                415, errors.UNSUPPORTED_MEDIA_TYPE, "This endpoint takes a JSON body"
            )
        if errors.is_disk_full(exception):
            logger.error("disk full on %s %s: %s", request.method, request.path, exception)
            return errors.json_error(507, errors.STORAGE_FULL, errors.StorageFull.message)
        if errors.is_outage(exception):
            return outage_response(request, exception)
        if request.path.startswith("/api/"):
            logger.error(
                "unhandled error on %s %s", request.method, request.path, exc_info=exception
            )
            return errors.json_error(500, errors.GENERAL, "Internal server error")
        return None
