"""The operator's authentication audit log.

Every sign-in attempt, token refresh, factor change and key change becomes an `AuthEvent`. The
client's IP address is kept only when the operator turned UNITED_LOG_IPS on (and says so in the
privacy manifest). Secrets never reach this module: callers pass kinds and ids, not input.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from accounts.models import AuthEvent, User
from united.clientaddr import client_address

logger = logging.getLogger("accounts.audit")


def record(
    kind: str,
    *,
    user: User | None = None,
    username: str = "",
    success: bool = True,
    request: HttpRequest | None = None,
    **detail: Any,
) -> AuthEvent:
    ip = client_address(request) if getattr(settings, "UNITED_LOG_IPS", False) else None
    name = (user.username if user is not None else username)[:150]
    event = AuthEvent.objects.create(
        user=user, username=name, kind=kind, success=success, ip=ip, detail=detail
    )
    logger.info("auth event %s user=%s success=%s", kind, user.id if user else "-", success)
    return event
