from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def node(request: HttpRequest) -> dict[str, Any]:
    return {"node_domain": settings.FEDERATION_DOMAIN, "node_mode": settings.UNITED_MODE}
