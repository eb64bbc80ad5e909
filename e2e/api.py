"""REST doors for envelopes and device lists (docs/e2e.md)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from e2e import services
from e2e.models import EnvelopeCopy
from e2e.ports import remote_devices

TAG = ["e2e"]


class Envelopes(APIView):
    @extend_schema(
        tags=TAG,
        summary="History of a DM for one of your devices (its copies only, oldest first)",
        parameters=[
            OpenApiParameter("device_id", str, required=True),
            OpenApiParameter("after", str, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses={200: dict},
    )
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        q = request.query_params
        return Response(
            services.list_envelopes(
                request.user,
                channel_id,
                q.get("device_id"),
                after=q.get("after"),
                limit=q.get("limit", 50),
            )
        )

    @extend_schema(
        tags=TAG,
        summary="Send an encrypted event (message, edit or delete) to a DM",
        request=dict,
        responses={200: dict, 201: dict},
    )
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        envelope, created = services.check_store_envelope(request.user, channel_id, request.data)
        copies = list(EnvelopeCopy.objects.filter(envelope=envelope, user=request.user))
        return Response(
            services.serialize_envelope(envelope, copies), status=201 if created else 200
        )


class OwnDeviceList(APIView):
    @extend_schema(
        tags=TAG, summary="Publish your signed device list", request=dict, responses=dict
    )
    def put(self, request: AuthedRequest) -> Response:
        services.check_publish_device_list(request.user, request.data)
        return Response(services.get_device_list(request.user.id))


class UserDeviceList(APIView):
    @extend_schema(tags=TAG, summary="A member's signed device list", responses=dict)
    def get(self, request: AuthedRequest, user_id: str) -> Response:
        if user_id == "@me":
            user_id = str(request.user.id)
        relay = remote_devices()
        shadow = relay.remote_user(user_id) if relay is not None else None
        if (
            relay is not None and shadow is not None
        ):  # a member of another node: asked of their home node
            return Response(relay.device_list(request.user, shadow))
        return Response(services.get_device_list(user_id))


class OwnKeyBackup(APIView):
    @extend_schema(tags=TAG, summary="Your encrypted key backup", responses=dict)
    def get(self, request: AuthedRequest) -> Response:
        return Response(services.get_backup(request.user))

    @extend_schema(
        tags=TAG,
        summary="Store your key backup (encrypted on your device from the recovery phrase)",
        request=dict,
        responses=dict,
    )
    def put(self, request: AuthedRequest) -> Response:
        services.check_put_backup(request.user, request.data)
        return Response(services.get_backup(request.user))


class OwnHistory(APIView):
    @extend_schema(
        tags=TAG,
        summary="Your encrypted history backup, a page of sealed chunks in name order",
        parameters=[
            OpenApiParameter("after", str, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=dict,
    )
    def get(self, request: AuthedRequest) -> Response:
        q = request.query_params
        return Response(
            services.list_history_chunks(request.user, after=q.get("after"), limit=q.get("limit"))
        )


class OwnHistoryChunk(APIView):
    @extend_schema(
        tags=TAG,
        summary="Store one sealed chunk of your history backup (encrypted on your device)",
        request=dict,
        responses=dict,
    )
    def put(self, request: AuthedRequest, name: str) -> Response:
        row = services.check_put_history_chunk(request.user, name, request.data)
        return Response(services.serialize_chunk(row))

    @extend_schema(tags=TAG, summary="Delete one chunk of your history backup", responses=None)
    def delete(self, request: AuthedRequest, name: str) -> Response:
        services.do_delete_history_chunk(request.user, name)
        return Response(status=204)
