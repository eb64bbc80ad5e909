"""Discord's application command routes under /api/v10 (bots/commands.py holds the rules):

GET|POST|PUT /applications/{app}/commands
GET|PATCH|DELETE /applications/{app}/commands/{id}
the same under /applications/{app}/guilds/{guild}/commands
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from accounts.requests import AuthedRequest
from bots import commands
from bots.api import BotView
from bots.models import Application


def _app(request: AuthedRequest, application_id: int, guild_id: int | None) -> Application:
    app: Application = request.auth  # type: ignore[assignment]  # BotTokenAuthentication
    commands.check_scope(app, application_id, guild_id)
    return app


class Commands(BotView):
    @extend_schema(
        summary="The application's commands (global or one guild's)", responses={200: dict}
    )
    def get(
        self, request: AuthedRequest, application_id: int, guild_id: int | None = None
    ) -> Response:
        app = _app(request, application_id, guild_id)
        return Response([commands.shape(c) for c in commands.list_commands(app, guild_id)])

    @extend_schema(
        summary="Create (or update by name) a command", request=dict, responses={201: dict}
    )
    def post(
        self, request: AuthedRequest, application_id: int, guild_id: int | None = None
    ) -> Response:
        app = _app(request, application_id, guild_id)
        row, created = commands.check_create_command(app, guild_id, request.data)
        return Response(commands.shape(row), status=201 if created else 200)

    @extend_schema(summary="Overwrite all commands", request=dict, responses={200: dict})
    def put(
        self, request: AuthedRequest, application_id: int, guild_id: int | None = None
    ) -> Response:
        app = _app(request, application_id, guild_id)
        rows = commands.check_overwrite_commands(app, guild_id, request.data)
        return Response([commands.shape(c) for c in rows])


class Command(BotView):
    @extend_schema(summary="One command", responses={200: dict})
    def get(
        self,
        request: AuthedRequest,
        application_id: int,
        command_id: int,
        guild_id: int | None = None,
    ) -> Response:
        app = _app(request, application_id, guild_id)
        return Response(commands.shape(commands.access_command(app, guild_id, command_id)))

    @extend_schema(summary="Edit a command", request=dict, responses={200: dict})
    def patch(
        self,
        request: AuthedRequest,
        application_id: int,
        command_id: int,
        guild_id: int | None = None,
    ) -> Response:
        app = _app(request, application_id, guild_id)
        row = commands.check_edit_command(app, guild_id, command_id, request.data)
        return Response(commands.shape(row))

    @extend_schema(summary="Delete a command", responses={204: None})
    def delete(
        self,
        request: AuthedRequest,
        application_id: int,
        command_id: int,
        guild_id: int | None = None,
    ) -> Response:
        app = _app(request, application_id, guild_id)
        commands.check_delete_command(app, guild_id, command_id)
        return Response(status=204)


def urlpatterns() -> list[Any]:
    from django.urls import path

    base = "applications/<id:application_id>"
    return [
        path(f"{base}/commands", Commands.as_view(), name="bot-commands"),
        path(f"{base}/commands/<id:command_id>", Command.as_view(), name="bot-command"),
        path(
            f"{base}/guilds/<id:guild_id>/commands", Commands.as_view(), name="bot-guild-commands"
        ),
        path(
            f"{base}/guilds/<id:guild_id>/commands/<id:command_id>",
            Command.as_view(),
            name="bot-guild-command",
        ),
    ]
