"""OpenAPI description of the bot token scheme (drf-spectacular loads it from apps.ready)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BotTokenScheme(OpenApiAuthenticationExtension):
    target_class = "bots.api.BotTokenAuthentication"
    name = "botToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Bot <token>`: an application's bot token (docs/bots.md)",
        }
