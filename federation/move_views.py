"""Doors of moving an account (federation.moves): the two settings pages and their API.

Settings → Account → "Moving from another account" (`/settings/account/aliases/`) on the new
node, "Move to another node" (`/settings/account/move/`) on the old one; the same services
answer `GET|POST|DELETE /api/v1/users/@me/aliases` and `POST /api/v1/users/@me/move`.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedHttpRequest, AuthedRequest
from accounts.services import moves as account_moves
from accounts.views.auth import error_context
from federation import moves
from united.errors import APIError, Invalid

MoveSchema = inline_serializer(
    "AccountMove",
    {
        "also_known_as": serializers.ListField(child=serializers.CharField()),
        "moved_to": serializers.CharField(allow_null=True),
        "moved_to_handle": serializers.CharField(allow_null=True),
        "moved_at": serializers.DateTimeField(allow_null=True),
    },
)


class HandleBody(serializers.Serializer):
    handle = serializers.CharField(help_text="name@node")


class MoveBody(serializers.Serializer):
    handle = serializers.CharField(help_text="the new account, name@node")
    password = serializers.CharField()
    code = serializers.CharField(required=False, help_text="TOTP or backup code, if 2FA is on")
    passkey_state = serializers.CharField(required=False)
    passkey_credential = serializers.JSONField(required=False)


def _own_handle(request: AuthedHttpRequest) -> str:
    return f"{request.user.username}@{settings.FEDERATION_DOMAIN}"


@login_required
def move_from(request: AuthedHttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"handle": ""}
    status = 200
    if request.method == "POST":
        try:
            if "remove" in request.POST:
                account_moves.do_remove_alias(request.user, request.POST.get("remove", ""))
                messages.success(request, "Alias removed.")
            else:
                actor = moves.check_add_alias(request.user, request.POST.get("handle"))
                messages.success(
                    request,
                    f"{actor.acct} is now listed as your old account. Start the move there.",
                )
            return redirect("account-move-from")
        except APIError as exc:
            context.update(error_context(exc), handle=request.POST.get("handle", ""))
            status = exc.status
    context["aliases"] = moves.alias_rows(request.user)
    return render(request, "federation/move_from.html", context, status=status)


@login_required
def move_to(request: AuthedHttpRequest) -> HttpResponse:
    user = request.user
    context: dict[str, Any] = {
        "handle": "",
        "own_handle": _own_handle(request),
        "methods": account_moves.reauth_methods(user),
    }
    status = 200
    if request.method == "POST" and account_moves.cooldown_left(user) is None:
        credential: Any = request.POST.get("passkey_credential") or None
        try:
            if credential is not None:
                try:
                    credential = json.loads(credential)
                except ValueError:
                    raise Invalid(errors={"passkey": ["Passkey not accepted."]}) from None
            target = moves.check_move(
                request,
                user,
                request.POST.get("handle"),
                password=request.POST.get("password"),
                code=request.POST.get("code") or None,
                passkey_state=request.POST.get("passkey_state") or None,
                passkey_credential=credential,
            )
        except APIError as exc:
            context.update(error_context(exc), handle=request.POST.get("handle", ""))
            status = exc.status
        else:
            messages.success(request, f"Your account moved to {target.acct}.")
            return redirect("account-move")
    left = account_moves.cooldown_left(user)
    context["cooldown"] = left is not None
    if left is not None and user.moved_at is not None:
        context["cooldown_until"] = user.moved_at + account_moves.MOVE_COOLDOWN
    return render(request, "federation/move_to.html", context, status=status)


class AliasesView(APIView):
    @extend_schema(responses={200: MoveSchema}, summary="Your aliases and move state")
    def get(self, request: AuthedRequest) -> Response:
        return Response(account_moves.serialize_move(request.user))

    @extend_schema(
        request=HandleBody,
        responses={200: MoveSchema},
        summary="Add an alias: the account you are moving here from",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = HandleBody(data=request.data)
        data.is_valid(raise_exception=True)
        moves.check_add_alias(request.user, data.validated_data["handle"])
        return Response(account_moves.serialize_move(request.user))

    @extend_schema(
        request=inline_serializer("AliasRemove", {"actor": serializers.CharField()}),
        responses={204: None},
        summary="Remove an alias",
    )
    def delete(self, request: AuthedRequest) -> Response:
        actor = request.data.get("actor") if isinstance(request.data, dict) else None
        if not isinstance(actor, str) or not account_moves.do_remove_alias(request.user, actor):
            raise Invalid(errors={"actor": ["Not one of your aliases."]})
        return Response(status=204)


class MoveView(APIView):
    @extend_schema(request=MoveBody, responses={200: MoveSchema}, summary="Move to another node")
    def post(self, request: AuthedRequest) -> Response:
        data = MoveBody(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        moves.check_move(
            request,
            request.user,
            body["handle"],
            password=body["password"],
            code=body.get("code"),
            passkey_state=body.get("passkey_state"),
            passkey_credential=body.get("passkey_credential"),
        )
        return Response(account_moves.serialize_move(request.user))
