"""Devices and their public key material, key bundles, identity-key rotation."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.common import DeviceRegistration, OneTimePrekey, SignedPrekey, body
from accounts.ports import remote_keys
from accounts.requests import AuthedRequest
from accounts.services import keys, ratelimit, rotation, tokens

TAG = ["keys"]


class DeviceOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    identity_key = serializers.CharField()
    one_time_prekeys = serializers.IntegerField(help_text="how many are left")
    created_at = serializers.DateTimeField()


class ClaimedPrekey(serializers.Serializer):
    key_id = serializers.IntegerField()
    public_key = serializers.CharField()


class DeviceKeys(serializers.Serializer):
    device_id = serializers.CharField()
    identity_key = serializers.CharField()
    signed_prekey = SignedPrekey()
    one_time_prekey = ClaimedPrekey(allow_null=True)


class KeyBundle(serializers.Serializer):
    user_id = serializers.CharField()
    devices = DeviceKeys(many=True)


class PrekeyUpload(serializers.Serializer):
    one_time_prekeys = OneTimePrekey(many=True)
    signed_prekey = SignedPrekey(required=False, help_text="replace the signed prekey")


class PrekeyCount(serializers.Serializer):
    one_time_prekeys = serializers.IntegerField()


class RotationIn(serializers.Serializer):
    identity_key = serializers.CharField()
    signed_prekey = SignedPrekey(help_text="signed by the new identity key")


class RotationOut(serializers.Serializer):
    id = serializers.CharField()
    device_id = serializers.CharField()
    new_identity_key = serializers.CharField()
    requested_by_session = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    effective_at = serializers.DateTimeField()


class DevicesView(APIView):
    @extend_schema(tags=TAG, responses=DeviceOut(many=True), summary="Your devices")
    def get(self, request: AuthedRequest) -> Response:
        return Response(keys.list_devices(request.user))

    @extend_schema(
        tags=TAG,
        request=DeviceRegistration,
        responses={201: DeviceOut},
        summary="Register a device with its identity key and prekeys",
    )
    def post(self, request: AuthedRequest) -> Response:
        ratelimit.limit("keys", request, request.user.id)
        device = keys.check_register_device(
            request.user, body(request), session=tokens.current_session(request)
        )
        return Response(
            next(d for d in keys.list_devices(request.user) if d["id"] == str(device.id)),
            status=201,
        )


class DeviceView(APIView):
    @extend_schema(
        tags=TAG,
        responses={204: None},
        summary="Remove a device: its keys and sessions are revoked",
    )
    def delete(self, request: AuthedRequest, device_id: str) -> Response:
        device = keys.access_own_device(request.user, device_id)
        keys.do_revoke_device(request.user, device)
        return Response(status=204)


class PrekeysView(APIView):
    @extend_schema(
        tags=TAG,
        request=PrekeyUpload,
        responses=PrekeyCount,
        summary="Upload more one-time prekeys (and optionally a new signed prekey)",
    )
    def post(self, request: AuthedRequest, device_id: str) -> Response:
        ratelimit.limit("keys", request, request.user.id)
        count = keys.check_upload_prekeys(request.user, device_id, body(request))
        return Response({"one_time_prekeys": count})


class UserKeysView(APIView):
    @extend_schema(
        tags=TAG,
        responses=KeyBundle,
        summary="A member's key bundles; each one-time prekey is handed out once",
    )
    def get(self, request: AuthedRequest, user_id: str) -> Response:
        ratelimit.limit("keys", request, request.user.id)
        relay = remote_keys()
        shadow = relay.remote_user(user_id) if relay is not None else None
        if (
            relay is not None and shadow is not None
        ):  # a member of another node: asked of their home node
            return Response(relay.key_bundle(request.user, shadow))
        return Response(keys.fetch_key_bundle(request.user, user_id))


class RotationsView(APIView):
    @extend_schema(
        tags=TAG, responses=RotationOut(many=True), summary="Pending identity-key rotations"
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(
            [rotation.serialize_rotation(r) for r in rotation.pending_rotations(request.user)]
        )


class DeviceRotationView(APIView):
    @extend_schema(
        tags=TAG,
        request=RotationIn,
        responses={202: RotationOut},
        summary="Replace a device's identity key after a 72-hour window",
    )
    def post(self, request: AuthedRequest, device_id: str) -> Response:
        ratelimit.limit("keys", request, request.user.id)
        row = rotation.check_request_rotation(
            request.user, device_id, body(request), session=tokens.current_session(request)
        )
        return Response(rotation.serialize_rotation(row), status=202)


class RotationView(APIView):
    @extend_schema(
        tags=TAG,
        responses={204: None},
        summary="Cancel a pending rotation (from any signed-in session)",
    )
    def delete(self, request: AuthedRequest, rotation_id: str) -> Response:
        rotation.check_cancel_rotation(request.user, rotation_id)
        return Response(status=204)
