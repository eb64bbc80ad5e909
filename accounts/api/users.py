from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api.common import body
from accounts.requests import AuthedRequest
from accounts.services import audit, lifecycle, profile, recovery, tokens

UserSchema = inline_serializer(
    "User",
    {
        "id": serializers.CharField(),
        "username": serializers.CharField(),
        "global_name": serializers.CharField(allow_null=True),
        "avatar": serializers.CharField(allow_null=True),
        "bot": serializers.BooleanField(),
    },
)


class ProfilePatch(serializers.Serializer):
    global_name = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)


class MeView(APIView):
    @extend_schema(responses=UserSchema, summary="The signed-in user")
    def get(self, request: AuthedRequest) -> Response:
        return Response(services.serialize_user(request.user))

    @extend_schema(request=ProfilePatch, responses=UserSchema, summary="Edit your profile")
    def patch(self, request: AuthedRequest) -> Response:
        data = ProfilePatch(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.check_update_profile(
            request.user, display_name=data.validated_data.get("global_name")
        )
        return Response(services.serialize_user(user))


class SessionOut(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["web", "api"])
    name = serializers.CharField()
    device_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    current = serializers.BooleanField()


class SessionsView(APIView):
    @extend_schema(
        tags=["sessions"],
        responses=SessionOut(many=True),
        summary="Signed-in sessions (browsers and API clients)",
    )
    def get(self, request: AuthedRequest) -> Response:
        current = tokens.current_session(request)
        return Response(
            [tokens.serialize_session(s, current) for s in tokens.list_sessions(request.user)]
        )


class SessionView(APIView):
    @extend_schema(tags=["sessions"], responses={204: None}, summary="Revoke a session")
    def delete(self, request: AuthedRequest, session_id: str) -> Response:
        session = tokens.access_session(request.user, session_id)
        tokens.do_revoke_session(session)
        audit.record("session_revoked", user=request.user, request=request, session=str(session.id))
        return Response(status=204)


class SignedProfileIn(serializers.Serializer):
    payload = serializers.CharField(
        help_text="canonical JSON: user_id, node, updated_at, "
        "display_name, avatar, bio, pronouns (sorted, compact)"
    )
    signature = serializers.CharField(help_text="Ed25519 signature of payload's UTF-8 bytes")
    device_id = serializers.CharField(help_text="device whose identity key signed it")


class SignedProfileOut(serializers.Serializer):
    user_id = serializers.CharField()
    profile = serializers.DictField()
    payload = serializers.CharField(allow_null=True)
    signature = serializers.CharField(allow_null=True)
    device_id = serializers.CharField(allow_null=True)
    identity_key = serializers.CharField(allow_null=True)


class MyProfileView(APIView):
    @extend_schema(
        tags=["profile"],
        request=SignedProfileIn,
        responses=SignedProfileOut,
        summary="Publish your profile, signed by a device identity key",
    )
    def put(self, request: AuthedRequest) -> Response:
        data = body(request)
        profile.check_publish_signed_profile(
            request.user,
            payload=data.get("payload"),
            signature=data.get("signature"),
            device_id=data.get("device_id"),
        )
        return Response(profile.signed_profile(request.user.id))


class ProfileView(APIView):
    @extend_schema(
        tags=["profile"],
        responses=SignedProfileOut,
        summary="A member's profile with its signature",
    )
    def get(self, request: Request, user_id: str) -> Response:
        return Response(profile.signed_profile(user_id))


class RecoveryKeyIn(serializers.Serializer):
    public_key = serializers.CharField(help_text="Ed25519 public key from the BIP39 seed")
    password = serializers.CharField()


class RecoveryKeyView(APIView):
    @extend_schema(
        tags=["auth"],
        request=RecoveryKeyIn,
        responses={204: None},
        summary="Set or replace the recovery public key",
    )
    def put(self, request: AuthedRequest) -> Response:
        data = body(request)
        recovery.check_set_recovery_key(
            request, request.user, public_key=data.get("public_key"), password=data.get("password")
        )
        return Response(status=204)


class ExportView(APIView):
    @extend_schema(
        tags=["account"],
        responses=OpenApiTypes.OBJECT,
        summary="Everything this node holds about you, as JSON",
    )
    def get(self, request: AuthedRequest) -> Response:
        audit.record("export", user=request.user, request=request)
        response = Response(lifecycle.export_account(request.user))
        response["Content-Disposition"] = 'attachment; filename="united-account.json"'
        return response


class DeleteIn(serializers.Serializer):
    password = serializers.CharField()


class DeletionView(APIView):
    @extend_schema(
        tags=["account"],
        request=DeleteIn,
        responses={202: None},
        summary="Delete your account after a grace period (signs you out)",
    )
    def post(self, request: AuthedRequest) -> Response:
        lifecycle.check_request_deletion(request, request.user, body(request).get("password"))
        return Response(status=202)

    @extend_schema(tags=["account"], responses={204: None}, summary="Cancel a pending deletion")
    def delete(self, request: AuthedRequest) -> Response:
        lifecycle.do_cancel_deletion(request, request.user)
        return Response(status=204)
