"""NodeInfo 2.1 (github.com/jhass/nodeinfo): discovery document and the schema-shaped body.

Usage counts are coarse by design (users total and active in the last month / half year);
nothing per user is published.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from federation import SOFTWARE_NAME, __version__, actors

SCHEMA_21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"


def discovery() -> dict[str, Any]:
    return {"links": [{"rel": SCHEMA_21, "href": f"{actors.base_url()}/nodeinfo/2.1"}]}


def document() -> dict[str, Any]:
    from accounts.models import User

    now = timezone.now()
    users = User.objects.filter(is_active=True)
    return {
        "version": "2.1",
        "software": {
            "name": SOFTWARE_NAME,
            "version": __version__,
            "homepage": f"{actors.base_url()}/",
        },
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": False,
        "usage": {
            "users": {
                "total": users.count(),
                "activeMonth": users.filter(last_login__gte=now - timedelta(days=30)).count(),
                "activeHalfyear": users.filter(last_login__gte=now - timedelta(days=180)).count(),
            },
        },
        "metadata": {"federation": f"{actors.base_url()}/.well-known/federation"},
    }
