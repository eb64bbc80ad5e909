"""WebAuthn passkeys: registration, naming, removal, second factor, passwordless sign-in."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.common import AnonymousAPIView, LoginResult, body
from accounts.requests import AuthedRequest
from accounts.services import passkeys, signin, twofactor

TAG = ["passkeys"]


class CeremonyOut(serializers.Serializer):
    state = serializers.CharField(help_text="echo back with the credential")
    options = serializers.DictField(help_text="PublicKeyCredential options (JSON form)")


class PasskeyOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class PasskeyRegistrationIn(serializers.Serializer):
    state = serializers.CharField()
    credential = serializers.DictField(help_text="the RegistrationResponseJSON")
    name = serializers.CharField(required=False)


class BeginSignInIn(serializers.Serializer):
    ticket = serializers.CharField(
        required=False, help_text="second-factor ticket; omit for passwordless"
    )


class FinishSignInIn(serializers.Serializer):
    state = serializers.CharField()
    credential = serializers.DictField(help_text="the AuthenticationResponseJSON")
    ticket = serializers.CharField(required=False)


class RenameIn(serializers.Serializer):
    name = serializers.CharField()


class PasskeysView(APIView):
    @extend_schema(tags=TAG, responses=PasskeyOut(many=True), summary="Your passkeys")
    def get(self, request: AuthedRequest) -> Response:
        return Response(passkeys.list_passkeys(request.user))

    @extend_schema(
        tags=TAG,
        request=PasskeyRegistrationIn,
        responses={201: PasskeyOut},
        summary="Finish registering a passkey",
    )
    def post(self, request: AuthedRequest) -> Response:
        data = body(request)
        passkeys.finish_registration(
            request,
            request.user,
            state=data.get("state"),
            credential=data.get("credential"),
            name=data.get("name"),
        )
        return Response(passkeys.list_passkeys(request.user)[-1], status=201)


class PasskeyOptionsView(APIView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses=CeremonyOut,
        summary="Options for navigator.credentials.create()",
    )
    def post(self, request: AuthedRequest) -> Response:
        return Response(passkeys.begin_registration(request, request.user))


class PasskeyConfirmOptionsView(APIView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses=CeremonyOut,
        summary="Options for navigator.credentials.get(), to confirm a sensitive change",
    )
    def post(self, request: AuthedRequest) -> Response:
        # The assertion goes with the change it confirms (a move: accounts.services.moves).
        return Response(passkeys.begin_authentication(request, request.user))


class PasskeyView(APIView):
    @extend_schema(tags=TAG, request=RenameIn, responses=PasskeyOut, summary="Rename")
    def patch(self, request: AuthedRequest, passkey_id: str) -> Response:
        passkeys.check_rename_passkey(request.user, passkey_id, body(request).get("name"))
        return Response(
            next(p for p in passkeys.list_passkeys(request.user) if p["id"] == str(passkey_id))
        )

    @extend_schema(tags=TAG, responses={204: None}, summary="Remove")
    def delete(self, request: AuthedRequest, passkey_id: str) -> Response:
        passkeys.do_remove_passkey(
            request.user, passkeys.access_passkey(request.user, passkey_id), request
        )
        return Response(status=204)


class PasskeySignInOptionsView(AnonymousAPIView):
    @extend_schema(
        tags=["auth"],
        request=BeginSignInIn,
        responses=CeremonyOut,
        summary="Options for navigator.credentials.get()",
    )
    def post(self, request: Request) -> Response:
        ticket = body(request).get("ticket")
        user = twofactor.read_ticket(ticket)[0] if ticket else None
        return Response(passkeys.begin_authentication(request, user))


class PasskeySignInView(AnonymousAPIView):
    @extend_schema(
        tags=["auth"],
        request=FinishSignInIn,
        responses=LoginResult,
        summary="Sign in with a passkey (passwordless, or as the second factor)",
    )
    def post(self, request: Request) -> Response:
        data = body(request)
        return Response(signin.finish_passkey(request, data, web=False))
