from __future__ import annotations

from typing import overload

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from moderation.services import audit as services
from united.errors import Invalid
from united.ids import MAX_SNOWFLAKE

AuditLogSchema = inline_serializer(
    "AuditLog",
    {
        "audit_log_entries": serializers.ListField(
            child=inline_serializer(
                "AuditLogEntry",
                {
                    "id": serializers.CharField(),
                    "guild_id": serializers.CharField(),
                    "user_id": serializers.CharField(allow_null=True),
                    "target_id": serializers.CharField(allow_null=True),
                    "action_type": serializers.IntegerField(),
                    "changes": serializers.ListField(),
                    "reason": serializers.CharField(allow_null=True),
                },
            )
        ),
        "users": serializers.ListField(child=serializers.DictField()),
    },
)


@overload
def _int(request: Request, name: str, default: int) -> int: ...
@overload
def _int(request: Request, name: str, default: None = None) -> int | None: ...
def _int(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    # Past 2**63-1 the database cannot compare the number (OverflowError).
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or int(raw) > MAX_SNOWFLAKE:
        raise Invalid(errors={name: ["Must be a non-negative integer below 2**63."]})
    return int(raw)


class AuditLogView(APIView):
    @extend_schema(
        responses=AuditLogSchema,
        tags=["moderation"],
        summary="The guild's audit log (VIEW_AUDIT_LOG), newest first",
        parameters=[
            OpenApiParameter(n, str, required=False)
            for n in ("user_id", "action_type", "before", "after", "limit")
        ],
    )
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        return Response(
            services.check_list_audit_log(
                request.user,
                guild_id,
                user_id=_int(request, "user_id"),
                action_type=_int(request, "action_type"),
                before=_int(request, "before"),
                after=_int(request, "after"),
                limit=_int(request, "limit", 50),
            )
        )


class ModlogExportView(APIView):
    @extend_schema(
        responses={200: dict},
        tags=["moderation"],
        summary="The signed, hash-chained moderation log as JSON (VIEW_AUDIT_LOG)",
        description="Verify offline with moderation/verify.py and the node's public key.",
    )
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        return Response(services.check_export_modlog(request.user, guild_id))
