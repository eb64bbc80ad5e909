"""Reports and report cases (our concept, in the API's Discord-like style)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from accounts.services import ratelimit
from moderation.services import cases, reports
from united.errors import Invalid


class ReportCreate(serializers.Serializer):
    type = serializers.ChoiceField(choices=["message", "user", "guild"])
    category = serializers.CharField()
    note = serializers.CharField(required=False, allow_blank=True)
    channel_id = serializers.CharField(required=False)
    message_id = serializers.CharField(required=False)
    user_id = serializers.CharField(required=False)
    guild_id = serializers.CharField(required=False)
    reporter_attached_content = serializers.CharField(required=False)
    reporter_signature = serializers.CharField(required=False)
    reporter_device_id = serializers.CharField(required=False)


class CasePatch(serializers.Serializer):
    state = serializers.CharField(required=False)
    assignee_id = serializers.CharField(required=False, allow_null=True)


class CaseActionBody(serializers.Serializer):
    action = serializers.ChoiceField(choices=list(cases.ACTIONS))
    reason = serializers.CharField(required=False, allow_blank=True)
    duration_seconds = serializers.IntegerField(required=False)
    delete_message_seconds = serializers.IntegerField(required=False)


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise Invalid("The request body must be a JSON object")
    return request.data


class ReportsView(APIView):
    @extend_schema(
        request=ReportCreate,
        responses={201: dict},
        tags=["reports"],
        summary="Report a message, a user or a guild",
    )
    def post(self, request: AuthedRequest) -> Response:
        ratelimit.limit("report", request, request.user.id)
        report = reports.check_create_report(request.user, _body(request))
        return Response({"id": str(report.id), "case_id": str(report.case_id)}, status=201)


STATE = OpenApiParameter("state", str, required=False, description="Default: open + assigned")


class GuildCasesView(APIView):
    @extend_schema(
        responses={200: dict}, tags=["reports"], parameters=[STATE], summary="A guild's queue"
    )
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        rows = cases.queue(request.user, guild_id, request.query_params.get("state"))
        return Response([cases.serialize_case(c) for c in rows])


class NodeCasesView(APIView):
    @extend_schema(
        responses={200: dict},
        tags=["reports"],
        parameters=[STATE],
        summary="The node's queue (operators)",
    )
    def get(self, request: AuthedRequest) -> Response:
        rows = cases.queue(request.user, None, request.query_params.get("state"))
        return Response([cases.serialize_case(c) for c in rows])


class CaseView(APIView):
    @extend_schema(responses={200: dict}, tags=["reports"], summary="A case, with its evidence")
    def get(self, request: AuthedRequest, case_id: int) -> Response:
        case = cases.access_case(request.user, case_id)
        return Response(cases.serialize_case(case, detail=True))

    @extend_schema(
        request=CasePatch, responses={200: dict}, tags=["reports"], summary="Assign or resolve"
    )
    def patch(self, request: AuthedRequest, case_id: int) -> Response:
        case = cases.check_update_case(request.user, case_id, _body(request))
        return Response(cases.serialize_case(case, detail=True))


class CaseNotesView(APIView):
    @extend_schema(responses={201: dict}, tags=["reports"], summary="Add an internal note")
    def post(self, request: AuthedRequest, case_id: int) -> Response:
        cases.check_add_note(request.user, case_id, _body(request).get("body"))
        return Response(status=201)


class CaseActionsView(APIView):
    @extend_schema(
        request=CaseActionBody,
        responses={201: dict},
        tags=["reports"],
        summary="Act on a case: delete the message, time out, kick or ban",
    )
    def post(self, request: AuthedRequest, case_id: int) -> Response:
        data = _body(request)
        done = cases.check_case_action(
            request.user,
            case_id,
            data.get("action"),
            reason=str(data.get("reason") or ""),
            duration_seconds=data.get("duration_seconds"),
            delete_message_seconds=data.get("delete_message_seconds", 0),
        )
        seq = done.audit_entry.seq if done.audit_entry else None
        return Response({"action": done.action, "modlog_seq": seq}, status=201)
