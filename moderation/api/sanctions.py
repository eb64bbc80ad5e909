"""Bans: Discord's PUT/GET/DELETE /guilds/{id}/bans/{uid} and GET /guilds/{id}/bans.
Kicks and timeouts ride on the guild member route (DELETE and PATCH
/guilds/{id}/members/{uid}, moderation/api/members.py), which calls the same services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from guilds.api.common import REASON_HEADER, query_int, reason
from moderation.services import sanctions
from united.errors import Invalid


class BanCreate(serializers.Serializer):
    delete_message_seconds = serializers.IntegerField(required=False, min_value=0, max_value=604800)
    delete_message_days = serializers.IntegerField(
        required=False, min_value=0, max_value=7, help_text="Deprecated by Discord; use seconds"
    )
    duration_seconds = serializers.IntegerField(
        required=False, help_text="A temporary ban; absent for permanent"
    )
    reason = serializers.CharField(required=False, allow_blank=True)


def _body(request: Request) -> dict[str, Any]:
    data = request.data if request.data else {}
    if not isinstance(data, dict):
        raise Invalid("The request body must be a JSON object")
    return data


class BansView(APIView):
    @extend_schema(
        responses={200: dict},
        tags=["moderation"],
        summary="Banned users (BAN_MEMBERS)",
        parameters=[OpenApiParameter(n, str, required=False) for n in ("limit", "after")],
    )
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        return Response(
            sanctions.list_bans(
                request.user,
                guild_id,
                limit=query_int(request, "limit", 1000),
                after=query_int(request, "after", 0),
            )
        )


class BanView(APIView):
    @extend_schema(responses={200: dict}, tags=["moderation"], summary="One ban (BAN_MEMBERS)")
    def get(self, request: AuthedRequest, guild_id: int, user_id: int) -> Response:
        return Response(sanctions.get_ban(request.user, guild_id, user_id))

    @extend_schema(
        request=BanCreate,
        responses={204: None},
        parameters=[REASON_HEADER],
        tags=["moderation"],
        summary="Ban a user (BAN_MEMBERS), optionally deleting their recent messages",
    )
    def put(self, request: AuthedRequest, guild_id: int, user_id: int) -> Response:
        data = _body(request)
        seconds = data.get("delete_message_seconds")
        if seconds is None and data.get("delete_message_days") is not None:
            days = data["delete_message_days"]
            seconds = days * 86400 if isinstance(days, int) and not isinstance(days, bool) else days
        sanctions.check_ban(
            request.user,
            guild_id,
            user_id,
            reason=reason(request) or str(data.get("reason") or "")[:512],
            delete_message_seconds=0 if seconds is None else seconds,
            duration_seconds=data.get("duration_seconds"),
        )
        return Response(status=204)

    @extend_schema(
        responses={204: None},
        parameters=[REASON_HEADER],
        tags=["moderation"],
        summary="Lift a ban (BAN_MEMBERS)",
    )
    def delete(self, request: AuthedRequest, guild_id: int, user_id: int) -> Response:
        sanctions.check_unban(request.user, guild_id, user_id, reason=reason(request))
        return Response(status=204)
