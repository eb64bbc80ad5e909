"""/api/v1/auth/*: registration, sign-in (password, key challenge, second factor), tokens,
TOTP and recovery. Thin: parse, call a service, answer."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.common import AnonymousAPIView, DeviceRegistration, LoginResult, TokenPair, body
from accounts.requests import AuthedRequest
from accounts.services import passwords, recovery, signin, tokens, twofactor

TAG = ["auth"]


class RegisterIn(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()
    invite = serializers.CharField(required=False, help_text="when registration is invite-only")
    recovery_public_key = serializers.CharField(
        required=False, help_text="Ed25519 public key derived from the BIP39 phrase, base64"
    )


class LoginIn(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()


class SecondFactorIn(serializers.Serializer):
    ticket = serializers.CharField()
    code = serializers.CharField(help_text="TOTP code or backup code")


class RefreshIn(serializers.Serializer):
    refresh_token = serializers.CharField()


class ChallengeIn(serializers.Serializer):
    username = serializers.CharField()


class ChallengeOut(serializers.Serializer):
    nonce = serializers.CharField()
    expires_at = serializers.DateTimeField()
    message = serializers.CharField(help_text="sign these UTF-8 bytes with Ed25519")


class ChallengeAnswerIn(serializers.Serializer):
    username = serializers.CharField()
    nonce = serializers.CharField()
    signature = serializers.CharField(help_text="Ed25519 signature of `message`, base64")


class RecoverIn(ChallengeAnswerIn):
    new_password = serializers.CharField()
    device = DeviceRegistration(required=False)


class PasswordIn(serializers.Serializer):
    password = serializers.CharField()


class CodeIn(serializers.Serializer):
    code = serializers.CharField()


class TotpSetupOut(serializers.Serializer):
    secret = serializers.CharField()
    otpauth_uri = serializers.CharField()
    qr_svg = serializers.CharField(help_text="data: URI of an SVG QR code")


class BackupCodesOut(serializers.Serializer):
    backup_codes = serializers.ListField(child=serializers.CharField())


class PasswordChangeIn(serializers.Serializer):
    current_password = serializers.CharField()
    new_password = serializers.CharField()


class RegisterView(AnonymousAPIView):
    @extend_schema(
        tags=TAG,
        request=RegisterIn,
        responses={201: TokenPair},
        summary="Create an account (username + password, no email)",
    )
    def post(self, request: Request) -> Response:
        data = body(request)
        user = passwords.check_register(
            request,
            username=data.get("username"),
            password=data.get("password"),
            invite=data.get("invite"),
            recovery_public_key=data.get("recovery_public_key"),
        )
        return Response(
            signin.finish_sign_in(request, user, method="register", web=False), status=201
        )


class LoginView(AnonymousAPIView):
    @extend_schema(
        tags=TAG,
        request=LoginIn,
        responses=LoginResult,
        summary="Sign in with a password; may ask for a second factor",
    )
    def post(self, request: Request) -> Response:
        data = body(request)
        user = passwords.check_credentials(request, data.get("username"), data.get("password"))
        return Response(signin.finish_first_factor(request, user, method="password", web=False))


class SecondFactorLoginView(AnonymousAPIView):
    @extend_schema(
        tags=TAG,
        request=SecondFactorIn,
        responses=TokenPair,
        summary="Finish a sign-in with a TOTP or backup code",
    )
    def post(self, request: Request) -> Response:
        data = body(request)
        user, method = twofactor.check_second_factor(request, data.get("ticket"), data.get("code"))
        return Response(signin.finish_sign_in(request, user, method=method, web=False))


class RefreshView(AnonymousAPIView):
    @extend_schema(
        tags=TAG,
        request=RefreshIn,
        responses=TokenPair,
        summary="Trade a refresh token for a new token pair (rotation)",
    )
    def post(self, request: Request) -> Response:
        from accounts.services import ratelimit

        ratelimit.limit("refresh", request)
        # A missing token is refused by do_refresh (401), as a wrong one is.
        result = tokens.do_refresh(body(request).get("refresh_token"), request)  # type: ignore[arg-type]
        return Response({"mfa": False, **result})


class LogoutView(APIView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses={204: None},
        summary="End the current session and its tokens",
    )
    def post(self, request: Request) -> Response:
        tokens.do_logout(request)
        return Response(status=204)


class ChallengeView(AnonymousAPIView):
    @extend_schema(
        tags=TAG,
        request=ChallengeIn,
        responses=ChallengeOut,
        summary="Get a single-use nonce to sign with a device identity key",
    )
    def post(self, request: Request) -> Response:
        return Response(signin.do_issue_challenge(request, body(request).get("username"), "signin"))


class ChallengeLoginView(AnonymousAPIView):
    @extend_schema(
        tags=TAG,
        request=ChallengeAnswerIn,
        responses=LoginResult,
        summary="Sign in with the signed nonce (Ed25519)",
    )
    def post(self, request: Request) -> Response:
        data = body(request)
        user = signin.check_challenge_response(
            request,
            username=data.get("username"),
            nonce=data.get("nonce"),
            signature=data.get("signature"),
            purpose="signin",
        )
        return Response(signin.finish_first_factor(request, user, method="key", web=False))


class RecoveryChallengeView(AnonymousAPIView):
    @extend_schema(
        tags=TAG,
        request=ChallengeIn,
        responses=ChallengeOut,
        summary="Get a nonce to sign with the recovery key",
    )
    def post(self, request: Request) -> Response:
        return Response(
            signin.do_issue_challenge(request, body(request).get("username"), "recovery")
        )


class RecoverView(AnonymousAPIView):
    @extend_schema(
        tags=TAG,
        request=RecoverIn,
        responses=TokenPair,
        summary="Reset the password and re-establish identity with the recovery key",
    )
    def post(self, request: Request) -> Response:
        data = body(request)
        return Response(
            recovery.check_recover(
                request,
                username=data.get("username"),
                nonce=data.get("nonce"),
                signature=data.get("signature"),
                new_password=data.get("new_password"),
                device=data.get("device"),
            )
        )


class TwoFactorEnableView(APIView):
    @extend_schema(
        tags=TAG,
        request=PasswordIn,
        responses=TotpSetupOut,
        summary="Start TOTP setup: secret, otpauth URI and QR code",
    )
    def post(self, request: AuthedRequest) -> Response:
        passwords.require_password(request, request.user, body(request).get("password"))
        return Response(twofactor.do_begin_totp(request.user, request))


class TwoFactorVerifyView(APIView):
    @extend_schema(
        tags=TAG,
        request=CodeIn,
        responses=BackupCodesOut,
        summary="Confirm TOTP setup with a code; returns one-time backup codes",
    )
    def post(self, request: AuthedRequest) -> Response:
        codes = twofactor.check_confirm_totp(request.user, body(request).get("code"), request)
        return Response({"backup_codes": codes})


class TwoFactorDisableView(APIView):
    @extend_schema(
        tags=TAG,
        request=CodeIn,
        responses={204: None},
        summary="Turn TOTP off (needs a current TOTP or backup code)",
    )
    def post(self, request: AuthedRequest) -> Response:
        twofactor.check_disable_totp(request.user, body(request).get("code"), request)
        return Response(status=204)


class BackupCodesView(APIView):
    @extend_schema(
        tags=TAG, request=CodeIn, responses=BackupCodesOut, summary="Replace the backup codes"
    )
    def post(self, request: AuthedRequest) -> Response:
        codes = twofactor.check_regenerate_backup_codes(
            request.user, body(request).get("code"), request
        )
        return Response({"backup_codes": codes})


class PasswordView(APIView):
    @extend_schema(
        tags=TAG, request=PasswordChangeIn, responses={204: None}, summary="Change the password"
    )
    def post(self, request: AuthedRequest) -> Response:
        data = body(request)
        passwords.check_change_password(
            request,
            request.user,
            current=data.get("current_password"),
            new=data.get("new_password"),
            keep=tokens.current_session(request),
        )
        return Response(status=204)
