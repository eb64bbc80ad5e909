"""System checks that refuse dangerous combinations loudly (they run on migrate and check)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register


@register()
def configuration_checks(app_configs: Any, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    config = settings.CONFIG
    if config.production and config.secret_key_generated:
        problems.append(
            Error(
                "UNITED_SECRET_KEY is not set in production mode.",
                hint="Set UNITED_SECRET_KEY to a random string of at least 32 characters.",
                id="united.E001",
            )
        )
    if config.production and not getattr(settings, "EVENT_BUS_URL", None):
        problems.append(
            Error(
                "Without an event bus, gateway events cannot cross the processes of a "
                "production node.",
                hint="Set REDIS_URL.",
                id="united.E002",
            )
        )
    if config.production and getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        problems.append(
            Error(
                "Celery eager mode would run remote deliveries inside members' requests.",
                hint="Remove CELERY_TASK_ALWAYS_EAGER.",
                id="united.E003",
            )
        )
    if config.production and config.debug:
        problems.append(
            Warning(
                "UNITED_DEBUG is on in production: error pages would show internals.",
                hint="Unset UNITED_DEBUG.",
                id="united.W001",
            )
        )
    return problems
