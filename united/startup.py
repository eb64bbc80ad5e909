"""Turns configuration and connection failures into one line that names the variable."""

from __future__ import annotations

import sys

from united.config import ConfigError


def explain(exc: BaseException) -> str | None:
    """A one-line explanation for failures that come from configuration, else None."""
    if isinstance(exc, ConfigError):
        return str(exc)
    try:
        from django.db import OperationalError
    except ImportError:  # pragma: no cover
        OperationalError = ()  # type: ignore[assignment,misc]  # noqa: N806
    if isinstance(exc, OperationalError):
        from django.conf import settings

        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        url = settings.CONFIG.database_url
        if url:
            return f"cannot connect to the database at DATABASE_URL ({_redact(url)}): {first}"
        return f"cannot open the SQLite database in UNITED_DATA_DIR: {first}"
    try:
        import redis
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, redis.exceptions.ConnectionError):
        from django.conf import settings

        return (
            f"cannot reach Redis at REDIS_URL ({_redact(settings.CONFIG.redis_url or '')}): {exc}"
        )
    return None


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def run_cli(argv: list[str]) -> None:
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(argv)
    except Exception as exc:
        message = explain(exc)
        if message is None:
            raise
        sys.exit(f"error: {message}")
