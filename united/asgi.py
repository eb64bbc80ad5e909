"""ASGI entry point: HTTP through Django, WebSockets (the gateway) through Channels."""

from __future__ import annotations

import gc
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "united.settings")

from united import bodies  # noqa: E402
from united.config import ConfigError  # noqa: E402

# Before daphne serves anything: large request bodies wait on disk, not in memory.
bodies.install()

try:
    import django

    django.setup(set_prefix=False)
except ConfigError as exc:
    sys.exit(f"error: {exc}")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from bots.consumers import BotGatewayConsumer  # noqa: E402
from messaging.consumers import GatewayConsumer  # noqa: E402
from united.clientaddr import TrustedProxyMiddleware  # noqa: E402
from united.threads import SyncChainHandler, pooled  # noqa: E402

django_asgi_app = SyncChainHandler()
from united.websocket import GatewayAuthMiddleware  # noqa: E402

# Outermost: every door sees the real client address and scheme (united/clientaddr.py).
application = TrustedProxyMiddleware(
    ProtocolTypeRouter(
        {
            # Requests run on long-lived threads that keep their database connection.
            "http": bodies.guard_disk_full(pooled(django_asgi_app)),
            "websocket": GatewayAuthMiddleware(
                URLRouter(
                    [
                        path("gateway", GatewayConsumer.as_asgi()),
                        # Discord's v10 gateway for bots (docs/bots.md).
                        path("bot-gateway", BotGatewayConsumer.as_asgi()),
                    ]
                )
            ),
        }
    )
)

if settings.UNITED_MODE == "embedded" and os.environ.get("UNITED_EMBEDDED_RUNNER", "1") == "1":
    from jobs import runner

    runner.start()

# What is loaded by now (Django, the apps, their modules and caches) lives as long as the
# process: move it out of the collector's sight. Every full collection scanned it all, and
# under a 1,000-member channel's traffic each one stopped the process for 130–200 ms, the
# gateway's worst latencies (docs/performance.md). Objects made later are collected as usual.
gc.collect()
gc.freeze()
