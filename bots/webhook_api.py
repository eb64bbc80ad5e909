"""Discord's webhook routes (docs/bots.md, "Webhooks"): thin doors over bots/webhooks.py.

Managing (`/channels/{id}/webhooks`, `/guilds/{id}/webhooks`, `/webhooks/{id}`) takes a
member's session or bearer token or a bot's `Bot <token>`; the token forms
(`/webhooks/{id}/{token}…`, also unversioned under `/api/webhooks/`) take no account at all:
the token in the path is the credential.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import BearerTokenAuthentication
from accounts.requests import AuthedRequest
from bots import shapes, uploads
from bots import webhook_execute as execute
from bots import webhooks as hooks
from bots.api import BotTokenAuthentication
from messaging.services.serialize import serialize_message
from united.errors import Invalid
from united.parsers import JSONParser


class MaybeBotToken(BotTokenAuthentication):
    """`Bot <token>` when that is the scheme; otherwise the next class decides."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.lower().startswith("bot "):
            return None
        return super().authenticate(request)


class ManageView(APIView):
    authentication_classes = [MaybeBotToken, BearerTokenAuthentication, SessionAuthentication]


_body = uploads.payload
_files = uploads.posted_files


def _files_refused(request: Request) -> None:
    if _files(request):
        raise Invalid(errors={"files": ["Files are posted with the message, not on an edit."]})


def _message(message: Any) -> dict[str, Any]:
    return shapes.message(serialize_message(message))


class ChannelWebhooks(ManageView):
    @extend_schema(summary="The channel's webhooks", responses={200: dict})
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        rows = hooks.list_channel_webhooks(request.user, channel_id)
        return Response([hooks.serialize_webhook(w) for w in rows])

    @extend_schema(summary="Make a webhook (its token is in this answer only)", request=dict)
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        data = _body(request)
        webhook, token = hooks.check_create_webhook(
            request.user,
            channel_id,
            name=data.get("name"),
            avatar_url=data.get("avatar_url"),
        )
        return Response(hooks.serialize_webhook(webhook, token))


class GuildWebhooks(ManageView):
    @extend_schema(summary="The guild's webhooks", responses={200: dict})
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        rows = hooks.list_guild_webhooks(request.user, guild_id)
        return Response([hooks.serialize_webhook(w) for w in rows])


class WebhookView(ManageView):
    @extend_schema(summary="A webhook", responses={200: dict})
    def get(self, request: AuthedRequest, webhook_id: int) -> Response:
        return Response(hooks.serialize_webhook(hooks.access_webhook(request.user, webhook_id)))

    @extend_schema(summary="Rename, change its avatar or move it", request=dict)
    def patch(self, request: AuthedRequest, webhook_id: int) -> Response:
        webhook = hooks.check_modify_webhook(request.user, webhook_id, _body(request))
        return Response(hooks.serialize_webhook(webhook))

    @extend_schema(summary="Delete a webhook", responses={204: None})
    def delete(self, request: AuthedRequest, webhook_id: int) -> Response:
        hooks.check_delete_webhook(request.user, webhook_id)
        return Response(status=204)


class TokenView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code == 429:
            response["Via"] = "1.1 united"  # discord.py reads a 429 without it as a proxy's
        return response


class WebhookWithToken(TokenView):
    @extend_schema(summary="A webhook, by its token", responses={200: dict})
    def get(self, request: Request, webhook_id: int, token: str) -> Response:
        return Response(hooks.serialize_webhook(hooks.authenticate(webhook_id, token)))

    @extend_schema(
        summary="Post through the webhook (?wait=true answers the message)", request=dict
    )
    def post(self, request: Request, webhook_id: int, token: str) -> Response:
        q = request.query_params
        webhook, message = execute.check_execute(
            webhook_id, token, _body(request), thread_id=q.get("thread_id"), files=_files(request)
        )
        wait = str(q.get("wait", "")).lower() in ("1", "true")
        response = Response(_message(message)) if wait else Response(status=204)
        standing = execute.standing(webhook)
        if standing is not None:
            for name, value in standing.headers().items():
                response[name] = value
        return response

    @extend_schema(summary="Rename the webhook or change its avatar, by its token", request=dict)
    def patch(self, request: Request, webhook_id: int, token: str) -> Response:
        webhook = hooks.check_modify_with_token(webhook_id, token, _body(request))
        return Response(hooks.serialize_webhook(webhook))

    @extend_schema(summary="Delete the webhook, by its token", responses={204: None})
    def delete(self, request: Request, webhook_id: int, token: str) -> Response:
        hooks.check_delete_with_token(webhook_id, token)
        return Response(status=204)


class WebhookMessage(TokenView):
    @extend_schema(summary="A message this webhook posted", responses={200: dict})
    def get(self, request: Request, webhook_id: int, token: str, message_id: int) -> Response:
        thread = request.query_params.get("thread_id")
        return Response(
            _message(execute.get_webhook_message(webhook_id, token, message_id, thread))
        )

    @extend_schema(summary="Edit a message this webhook posted", request=dict)
    def patch(self, request: Request, webhook_id: int, token: str, message_id: int) -> Response:
        _files_refused(request)
        message = execute.check_edit_webhook_message(
            webhook_id,
            token,
            message_id,
            _body(request),
            thread_id=request.query_params.get("thread_id"),
        )
        return Response(_message(message))

    @extend_schema(summary="Delete a message this webhook posted", responses={204: None})
    def delete(self, request: Request, webhook_id: int, token: str, message_id: int) -> Response:
        execute.check_delete_webhook_message(
            webhook_id, token, message_id, thread_id=request.query_params.get("thread_id")
        )
        return Response(status=204)
