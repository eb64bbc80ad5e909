"""REST doors for members: join a guild on another node, its back-fill, delivery retries,
remote key bundles and the opaque device-message relay (thin: parse, call one service)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from accounts.services import ratelimit
from federation import devices, mirror, reports
from federation.models import GuildLink
from united.errors import NotFound


class InviteBody(serializers.Serializer):
    invite = serializers.CharField(help_text="An invite link of another node")


def _invite(request: Request) -> Any:
    return request.data.get("invite") if isinstance(request.data, dict) else None


class PreviewView(APIView):
    @extend_schema(
        request=InviteBody,
        responses={200: OpenApiTypes.OBJECT},
        summary="Where a remote invite leads, with the host's privacy manifest",
    )
    def post(self, request: Request) -> Response:
        return Response(mirror.preview(_invite(request)))


class JoinView(APIView):
    @extend_schema(
        request=InviteBody,
        responses={202: OpenApiTypes.OBJECT},
        summary="Ask to join a guild on another node (pending until it accepts or rejects)",
    )
    def post(self, request: AuthedRequest) -> Response:
        ratelimit.limit("invite_join", request, request.user.id)
        join = mirror.check_join(request.user, _invite(request))
        return Response(mirror.serialize_join(join), status=202)

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Your requests to join")
    def get(self, request: AuthedRequest) -> Response:
        rows = request.user.remote_joins.order_by("-created_at")[:50]
        return Response([mirror.serialize_join(j) for j in rows])


class SyncView(APIView):
    @extend_schema(request=None, responses={202: None}, summary="Back-fill a remote guild now")
    def post(self, request: AuthedRequest, guild_id: int) -> Response:
        link = GuildLink.objects.filter(
            guild_id=guild_id, guild__members__user=request.user
        ).first()
        if link is None:
            raise NotFound("Unknown Guild", code=10004)
        mirror.sync_all_for(link)
        return Response(status=202)


class RetryView(APIView):
    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT}, summary="Resend")
    def post(self, request: AuthedRequest, message_id: int) -> Response:
        row = mirror.check_retry(request.user, message_id)
        return Response({"id": str(row.message_id), "state": row.state})


class RemoteKeysView(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        summary="Key bundles of user@node, fetched from their home node",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(devices.check_fetch_remote_keys(request.user, request.GET.get("acct")))


class RelayBody(serializers.Serializer):
    to = serializers.CharField(help_text="user@node")
    devices = serializers.ListField(child=serializers.CharField())
    payload = serializers.DictField(help_text="Opaque JSON object, at most 64 KiB")


class DeviceMessagesView(APIView):
    @extend_schema(
        request=RelayBody,
        responses={202: OpenApiTypes.OBJECT},
        summary="Relay an opaque object to some devices of a user on another node",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        result = devices.check_relay(
            request.user, data.get("to"), data.get("devices"), data.get("payload")
        )
        return Response(result, status=202)

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Objects relayed to you")
    def get(self, request: AuthedRequest) -> Response:
        return Response(devices.pending(request.user, request.GET.get("device_id")))


class DeviceMessageView(APIView):
    @extend_schema(request=None, responses={204: None}, summary="Acknowledge (delete) one")
    def delete(self, request: AuthedRequest, envelope_id: int) -> Response:
        devices.check_ack(request.user, envelope_id)
        return Response(status=204)


class ForwardReportView(APIView):
    @extend_schema(
        request=None,
        responses={202: OpenApiTypes.OBJECT},
        summary="Forward your report to the reported person's home node (Flag)",
    )
    def post(self, request: AuthedRequest, report_id: int) -> Response:
        ratelimit.limit("report", request, request.user.id)
        return Response(reports.check_forward(request.user, report_id), status=202)
