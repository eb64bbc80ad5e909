"""REST doors for envelopes and device lists (docs/e2e.md)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from e2e import mls, services
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


# --- encrypted channels (MLS delivery service, e2e/mls.py) -----------------------------------
class MlsGroupView(APIView):
    @extend_schema(
        tags=TAG,
        summary="An encrypted channel's MLS group: epoch, log position, members who should be "
        "in it and their devices",
        responses=dict,
    )
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        return Response(mls.group_state(request.user, channel_id))

    @extend_schema(
        tags=TAG,
        summary="Turn the channel end-to-end encrypted (Manage Channels; irreversible)",
        request=dict,
        responses={200: dict, 201: dict},
    )
    def put(self, request: AuthedRequest, channel_id: int) -> Response:
        group, created = mls.check_enable(request.user, channel_id, request.data or None)
        return Response(mls.serialize_group(group), status=201 if created else 200)


class MlsLog(APIView):
    @extend_schema(
        tags=TAG,
        summary="The group's log after a position (commits, proposals, your welcomes, "
        "messages), oldest first",
        parameters=[
            OpenApiParameter("device_id", str, required=True),
            OpenApiParameter("after", int, required=False),
            OpenApiParameter("limit", int, required=False),
        ],
        responses=dict,
    )
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        q = request.query_params
        return Response(
            mls.list_entries(
                request.user,
                channel_id,
                device_id=q.get("device_id"),
                after=q.get("after"),
                limit=q.get("limit"),
            )
        )


class MlsCommits(APIView):
    @extend_schema(
        tags=TAG,
        summary="Post a commit made in `epoch` (and its welcome); 409 if another commit "
        "already ended that epoch",
        request=dict,
        responses={201: dict, 409: dict},
    )
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        rows = mls.check_post_commit(request.user, channel_id, request.data)
        channel = rows[0].group.channel
        return Response([mls.serialize_entry(r, channel) for r in rows], status=201)


class MlsProposals(APIView):
    @extend_schema(tags=TAG, summary="Post a proposal for the current epoch", request=dict)
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        row = mls.check_post_proposal(request.user, channel_id, request.data)
        return Response(mls.serialize_entry(row, row.group.channel), status=201)


class MlsMessages(APIView):
    @extend_schema(
        tags=TAG,
        summary="Post an encrypted message made in the current epoch (Send Messages)",
        request=dict,
        responses={200: dict, 201: dict, 409: dict},
    )
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        row, created = mls.check_post_message(request.user, channel_id, request.data)
        return Response(mls.serialize_entry(row, row.group.channel), status=201 if created else 200)


class MlsKnock(APIView):
    @extend_schema(
        tags=TAG,
        summary="Ask the members' devices online to add this device to the group now",
        request=dict,
        responses={204: None},
    )
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        mls.check_knock(request.user, channel_id, request.data)
        return Response(status=204)


class MlsClaim(APIView):
    @extend_schema(
        tags=TAG,
        summary="Claim one KeyPackage per device, to add those devices to this channel's group",
        request=dict,
        responses=dict,
    )
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        return Response(mls.check_claim_key_packages(request.user, channel_id, request.data))


class OwnKeyPackages(APIView):
    @extend_schema(
        tags=TAG,
        summary="How many unclaimed KeyPackages one of your devices has",
        parameters=[OpenApiParameter("device_id", str, required=True)],
        responses=dict,
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(
            mls.own_key_package_count(request.user, request.query_params.get("device_id"))
        )

    @extend_schema(
        tags=TAG, summary="Upload a batch of KeyPackages for one of your devices", request=dict
    )
    def post(self, request: AuthedRequest) -> Response:
        return Response(mls.check_upload_key_packages(request.user, request.data), status=201)
