"""The doors of interactions (bots/interactions/ holds the rules).

For applications, Discord's routes under /api/v10 (no bot token: the interaction token is
the credential, as on Discord):

    POST /interactions/{id}/{token}/callback           the answer (?with_response=1: its result)
    POST /webhooks/{application}/{token}               a follow-up
    GET|PATCH|DELETE /webhooks/{application}/{token}/messages/{@original|id}

For members, from the web client (session and CSRF):

    GET  /interactions/commands?channel_id=            the picker's commands
    POST /interactions/invoke                          invoke; waits for the answer (3 s)
    GET  /interactions/{id}/ephemeral                  the member's ephemeral answers, as HTML
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, re_path
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.requests import AuthedHttpRequest
from bots import commands, embeds_view, interactions
from bots.models import Interaction
from messaging.services.access import access_text_channel
from united.errors import APIError, Invalid, error_body

TOKEN = interactions.TOKEN_PREFIX + r"[A-Za-z0-9_-]{1,180}"
POLL_EVERY = 0.1


class Callback(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    @extend_schema(summary="Answer an interaction", request=dict, responses={200: dict})
    def post(self, request: Request, interaction_id: int, token: str) -> Response:
        answer = interactions.check_callback(interaction_id, token, request.data)
        if request.query_params.get("with_response") in ("1", "true", "True"):
            return Response(answer)
        return Response(status=204)


class Followup(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    @extend_schema(summary="Send a follow-up message", request=dict, responses={200: dict})
    def post(self, request: Request, application_id: int, token: str) -> Response:
        return Response(interactions.check_followup(application_id, token, request.data))


class Answer(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    @extend_schema(summary="The original answer or a follow-up", responses={200: dict})
    def get(self, request: Request, application_id: int, token: str, message_id: str) -> Response:
        return Response(interactions.get_answer(application_id, token, message_id))

    @extend_schema(
        summary="Edit the original answer or a follow-up", request=dict, responses={200: dict}
    )
    def patch(self, request: Request, application_id: int, token: str, message_id: str) -> Response:
        return Response(
            interactions.check_edit_answer(application_id, token, message_id, request.data)
        )

    @extend_schema(summary="Delete the original answer or a follow-up", responses={204: None})
    def delete(
        self, request: Request, application_id: int, token: str, message_id: str
    ) -> Response:
        interactions.check_delete_answer(application_id, token, message_id)
        return Response(status=204)


def api_urlpatterns() -> list[Any]:
    # re_path with ints converted by hand: the token pattern keeps these routes apart from
    # incoming webhooks' /webhooks/{id}/{token} (their tokens never start with the prefix).
    return [
        path(
            "interactions/<id:interaction_id>/<str:token>/callback",
            Callback.as_view(),
            name="interaction-callback",
        ),
        re_path(
            rf"^webhooks/(?P<application_id>[0-9]{{1,19}})/(?P<token>{TOKEN})$",
            _ints(Followup.as_view()),
            name="interaction-followup",
        ),
        re_path(
            rf"^webhooks/(?P<application_id>[0-9]{{1,19}})/(?P<token>{TOKEN})"
            r"/messages/(?P<message_id>@original|[0-9]{1,19})$",
            _ints(Answer.as_view()),
            name="interaction-answer",
        ),
    ]


def _ints(view: Any) -> Any:
    def wrapped(request: HttpRequest, application_id: str, **kwargs: Any) -> Any:
        return view(request, application_id=int(application_id), **kwargs)

    wrapped.csrf_exempt = True  # type: ignore[attr-defined]
    return wrapped


# --- the member's side ---------------------------------------------------------------------------


def _error(exc: APIError) -> JsonResponse:
    return JsonResponse(exc.body(), status=exc.status, headers=exc.headers())


def _unauthenticated() -> JsonResponse:
    return JsonResponse(error_body(40001, "Sign in first"), status=401)


@require_GET
def command_list(request: HttpRequest) -> JsonResponse:
    """The commands a member may see in a channel's picker: those of the guild's bots
    (global and this guild's), with each application's name."""
    if not request.user.is_authenticated:
        return _unauthenticated()
    try:
        try:
            channel_id = int(request.GET.get("channel_id", ""))
        except ValueError:
            raise Invalid(errors={"channel_id": ["Must be a channel id."]}) from None
        access = access_text_channel(request.user, channel_id)
        if access.channel.guild_id is None:
            return JsonResponse({"commands": []})
        rows = commands.commands_for(request.user, access.channel.guild_id)
        out = []
        for row in rows:
            data = commands.shape(row)
            data["application_name"] = row.application.name
            out.append(data)
        return JsonResponse({"commands": out})
    except APIError as exc:
        return _error(exc)


def _start(user: User, body: Any) -> tuple[Interaction, str]:
    if not isinstance(body, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    kind = body.get("type")
    if kind in (interactions.APPLICATION_COMMAND, interactions.AUTOCOMPLETE):
        return interactions.check_invoke_command(user, body)
    if kind == interactions.MESSAGE_COMPONENT:
        return interactions.check_click(user, body)
    if kind == interactions.MODAL_SUBMIT:
        return interactions.check_submit_modal(user, body)
    raise Invalid(errors={"type": ["Must be 2, 3, 4 or 5."]})


@require_POST
async def invoke(request: HttpRequest) -> JsonResponse:
    """Invoke, then wait up to RESPOND_WITHIN seconds for the application's answer: what the
    page does next is in the reply (interactions.outcome)."""
    user = await request.auser()
    if not user.is_authenticated:
        return _unauthenticated()
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        return JsonResponse(error_body(50109, "The request body is not valid JSON"), status=400)
    try:
        interaction, token = await sync_to_async(_start)(user, body)
    except APIError as exc:
        return _error(exc)
    started = time.monotonic()
    if interaction.application.interactions_endpoint_url:
        # The POST runs off the thread that holds the database connection: a slow endpoint
        # must not stall every other request's queries for 3 s.
        url, data, headers = await sync_to_async(interactions.endpoint_request)(interaction, token)
        left = max(0.1, interactions.RESPOND_WITHIN - (time.monotonic() - started))
        try:
            answer = await asyncio.wait_for(
                sync_to_async(interactions.post_bytes, thread_sensitive=False)(url, data, headers),
                timeout=left,
            )
        except TimeoutError:
            answer = None
        await sync_to_async(interactions.apply_endpoint_answer)(interaction, token, answer)
    else:
        while time.monotonic() - started < interactions.RESPOND_WITHIN:
            if await sync_to_async(interactions.responded)(interaction.id):
                break
            await asyncio.sleep(POLL_EVERY)
    return JsonResponse(await sync_to_async(interactions.outcome)(user, interaction.id))


@require_GET
def ephemeral(request: HttpRequest, interaction_id: int) -> HttpResponse:
    """The member's own ephemeral answers of one interaction, drawn like messages with
    "Only you can see this"."""
    if not request.user.is_authenticated:
        return _unauthenticated()
    try:
        rows = interactions.ephemeral_for(request.user, interaction_id)
    except APIError as exc:
        return _error(exc)
    for row in rows:
        row["embeds_view"] = embeds_view.view(row.get("embeds") or [])
    return render(
        request, "bots/_ephemeral.html", {"answers": rows, "interaction_id": interaction_id}
    )


web_urlpatterns = [
    path("interactions/commands", command_list, name="interaction-commands"),
    path("interactions/invoke", invoke, name="interaction-invoke"),
    path("interactions/<id:interaction_id>/ephemeral", ephemeral, name="interaction-ephemeral"),
]


@login_required
@require_POST
def set_endpoint(request: AuthedHttpRequest, application_id: int) -> HttpResponse:
    """The Developer page's interactions endpoint URL: saved only once it answers a signed
    PING with a PONG (and refuses a forged one)."""
    try:
        app = interactions.check_set_endpoint(
            request.user, application_id, request.POST.get("interactions_endpoint_url", "")
        )
    except APIError as exc:
        messages.error(request, " ".join(_flatten(exc)))
        return redirect("developer")
    if app.interactions_endpoint_url:
        messages.success(request, "Interactions endpoint URL saved: it answered the PING.")
    else:
        messages.success(request, "Interactions now reach the bot over the gateway.")
    return redirect("developer")


def _flatten(exc: APIError) -> list[str]:
    out: list[str] = []
    for problems in exc.errors.values():
        if isinstance(problems, list):
            out.extend(str(p) for p in problems)
    return out or [exc.message]
