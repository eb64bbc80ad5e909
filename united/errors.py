"""One error shape for the whole API, modelled on Discord's.

    {"code": 50035, "message": "Invalid Form Body", "errors": {"name": ["This field is required."]}}

`code` is a stable number (Discord's value where the concept exists, see CODES), `message`
is for people, `errors` maps fields to problems. Rate limits add `retry_after` (seconds,
rounded up to the millisecond) and Discord's `global`.
Services raise `APIError` (or its helpers); views never build error bodies themselves.
"""

from __future__ import annotations

import errno
import math
from typing import Any

import psycopg
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import utils as db_errors
from django.http import Http404, JsonResponse
from kombu.exceptions import OperationalError as BrokerUnreachable
from redis import exceptions as redis_errors
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

# Discord's JSON error codes where the concept exists; ours from 90000 on.
GENERAL = 0
UNKNOWN_OBJECT = 10000
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_INVITE = 10006
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_ROLE = 10011
UNKNOWN_USER = 10013
UNAUTHORIZED = 40001
REQUEST_TOO_LARGE = 40005
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
INVALID_FORM_BODY = 50035
INVALID_JSON = 50109
RATE_LIMITED = 20028
METHOD_NOT_ALLOWED = 90405
UNSUPPORTED_MEDIA_TYPE = 90415
STORAGE_FULL = 90507
SERVICE_UNAVAILABLE = 90503
# errno values of a full disk or an exhausted quota on it.
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class APIError(Exception):
    status = 400
    code = GENERAL
    message = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: int | None = None,
        status: int | None = None,
        errors: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = self.code if code is None else code
        self.status = self.status if status is None else status
        self.errors = errors or {}
        self.retry_after = retry_after
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.errors, self.retry_after)

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": retry_after_header(self.retry_after)}


class NotFound(APIError):
    status = 404
    code = UNKNOWN_OBJECT
    message = "Unknown object"


class Forbidden(APIError):
    status = 403
    code = MISSING_PERMISSIONS
    message = "Missing permissions"


class Invalid(APIError):
    status = 400
    code = INVALID_FORM_BODY
    message = "Invalid form body"


class RateLimited(APIError):
    """A 429 shaped like Discord's: `retry_after` and `global` in the body, the
    X-RateLimit-* headers when the refusing bucket is known (united/ratelimit.py)."""

    status = 429
    code = RATE_LIMITED
    message = "You are being rate limited."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        code: int | None = None,
        is_global: bool = False,
        limit: int | None = None,
        reset_at: float | None = None,
        bucket: str | None = None,
    ) -> None:
        wait = None if retry_after is None else max(0.0, retry_after)
        super().__init__(message, code=code, retry_after=wait)
        self.is_global = is_global
        self.limit = limit
        self.reset_at = reset_at
        self.bucket = bucket

    def body(self) -> dict[str, Any]:
        return {**super().body(), "global": self.is_global}

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        if self.retry_after is not None:
            headers["X-RateLimit-Reset-After"] = f"{_ceil_ms(self.retry_after):.3f}"
        headers["X-RateLimit-Scope"] = "user"
        if self.limit is not None:
            headers["X-RateLimit-Limit"] = str(self.limit)
            headers["X-RateLimit-Remaining"] = "0"
        if self.reset_at is not None:
            headers["X-RateLimit-Reset"] = f"{_ceil_ms(self.reset_at):.3f}"
        if self.bucket is not None:
            headers["X-RateLimit-Bucket"] = self.bucket
        if self.is_global:
            headers["X-RateLimit-Global"] = "true"
        return headers


def _ceil_ms(seconds: float) -> float:
    # Rounded up, never down: an announced wait must not be shorter than the real one.
    return math.ceil(seconds * 1000) / 1000


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up (HTTP's Retry-After has no fractions), at least 1."""
    return str(max(1, math.ceil(seconds)))


class StorageFull(APIError):
    status = 507
    code = STORAGE_FULL
    message = "The node's storage is full; nothing was kept, try again later"


def is_disk_full(exc: BaseException | None) -> bool:
    """An OSError (or a database error caused by one) saying the disk has no room left."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            return True
        # SQLite reports it in words: "database or disk is full".
        if type(exc).__name__ == "OperationalError" and "disk is full" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


# What a client is told to wait while the database or Redis is unreachable: a restart of
# either takes a few seconds (docs/operations.md).
OUTAGE_RETRY_AFTER = 5.0
# SQLite's OperationalError also says "no such table" or "syntax error" (bugs, a 500); only
# these words mean the file is briefly out of reach.
_SQLITE_TRANSIENT = ("locked", "busy", "unable to open", "disk i/o error")


class ServiceUnavailable(APIError):
    """A 503: the database or Redis is out of reach. Nothing was committed by this request
    unless the connection dropped during the commit itself, which is why a send carries a
    nonce: retried with it, the message is stored once (docs/operations.md)."""

    status = 503
    code = SERVICE_UNAVAILABLE
    message = "The node cannot reach its database or cache; try again in a few seconds"

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(
            message, retry_after=OUTAGE_RETRY_AFTER if retry_after is None else retry_after
        )


def _outage(exc: BaseException) -> bool:
    if isinstance(exc, db_errors.InterfaceError):  # the connection is closed or broken
        return True
    if isinstance(exc, db_errors.OperationalError):
        cause = exc.__cause__
        if type(cause).__module__ == "sqlite3":
            return any(word in str(cause).lower() for word in _SQLITE_TRANSIENT)
        # psycopg reports as OperationalError only what is not the programmer's doing:
        # connection refused or lost, shutdown, too many connections, deadlock, timeout.
        return True
    return isinstance(
        exc,
        psycopg.OperationalError
        | psycopg.InterfaceError
        | redis_errors.ConnectionError
        | redis_errors.TimeoutError
        | BrokerUnreachable,  # Celery's broker (Redis) refused a task
    )


def is_outage(exc: BaseException | None) -> bool:
    """The database (PostgreSQL or SQLite's file) or Redis (cache, rate limits, broker) is
    unreachable, whether at connect or mid-query: the request may succeed a moment later."""
    seen = 0
    while exc is not None and seen < 8:
        if _outage(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def error_body(
    code: int, message: str, errors: dict[str, Any] | None = None, retry_after: float | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "errors": errors or {}}
    if retry_after is not None:
        body["retry_after"] = _ceil_ms(retry_after)
    return body


def json_error(status: int, code: int, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse(error_body(code, message, **extra), status=status)


def _field_errors(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {
            k: _field_errors(v) if isinstance(v, dict) else [str(e) for e in _as_list(v)]
            for k, v in detail.items()
        }
    return {"_errors": [str(e) for e in _as_list(detail)]}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error leaves in the shape above."""
    headers: dict[str, str] = {}
    if isinstance(exc, APIError):
        status, body = exc.status, exc.body()
        headers.update(exc.headers())
    elif isinstance(exc, RequestDataTooBig):
        status, body = 413, error_body(REQUEST_TOO_LARGE, "Request body too large")
    elif is_disk_full(exc):
        status, body = StorageFull.status, StorageFull().body()
    elif is_outage(exc):
        unavailable = ServiceUnavailable()
        status, body = unavailable.status, unavailable.body()
        headers.update(unavailable.headers())
    elif isinstance(exc, drf.ParseError):
        status, body = 400, error_body(INVALID_JSON, f"The request body is not valid: {exc.detail}")
    elif isinstance(exc, drf.ValidationError):
        status, body = (
            400,
            error_body(INVALID_FORM_BODY, "Invalid form body", _field_errors(exc.detail)),
        )
    elif isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        status, body = 401, error_body(UNAUTHORIZED, str(exc.detail))
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    elif isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        status, body = 403, error_body(MISSING_PERMISSIONS, "Missing permissions")
    elif isinstance(exc, drf.NotFound | Http404):
        status, body = 404, error_body(UNKNOWN_OBJECT, "Unknown object")
    elif isinstance(exc, drf.MethodNotAllowed):
        status, body = 405, error_body(METHOD_NOT_ALLOWED, str(exc.detail))
    elif isinstance(exc, drf.UnsupportedMediaType):
        status, body = 415, error_body(UNSUPPORTED_MEDIA_TYPE, str(exc.detail))
    elif isinstance(exc, drf.Throttled):
        # DRF sets Throttled.wait in __init__; the stubs miss it.
        wait = float(exc.wait or 1)  # type: ignore[attr-defined]
        status, body = 429, error_body(RATE_LIMITED, "You are being rate limited", retry_after=wait)
        headers["Retry-After"] = retry_after_header(wait)
    elif isinstance(exc, drf.APIException):
        status, body = exc.status_code, error_body(GENERAL, str(exc.detail))
    else:
        return None  # a real bug: let Django log it and answer 500 (ApiErrorMiddleware shapes it)
    set_rollback()
    return Response(body, status=status, headers=headers)
