from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from united.errors import Invalid


def body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise Invalid(errors={"_errors": ["Expected a JSON object."]})
    return data


class AnonymousAPIView(APIView):
    """Endpoints used before signing in: no session (hence no CSRF) and no bearer token."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]


class TokenPair(serializers.Serializer):
    mfa = serializers.BooleanField()
    token_type = serializers.CharField()
    access_token = serializers.CharField()
    expires_in = serializers.IntegerField()
    refresh_token = serializers.CharField()
    session_id = serializers.CharField()
    user_id = serializers.CharField()


class LoginResult(serializers.Serializer):
    mfa = serializers.BooleanField(help_text="true: send `ticket` and a code to /auth/login/2fa")
    ticket = serializers.CharField(required=False)
    methods = serializers.ListField(child=serializers.CharField(), required=False)
    token_type = serializers.CharField(required=False)
    access_token = serializers.CharField(required=False)
    expires_in = serializers.IntegerField(required=False)
    refresh_token = serializers.CharField(required=False)
    session_id = serializers.CharField(required=False)
    user_id = serializers.CharField(required=False)


class SignedPrekey(serializers.Serializer):
    key_id = serializers.IntegerField()
    public_key = serializers.CharField(help_text="X25519 public key, base64")
    signature = serializers.CharField(help_text="Ed25519 signature over the 32 key bytes")


class OneTimePrekey(serializers.Serializer):
    key_id = serializers.IntegerField()
    public_key = serializers.CharField(help_text="X25519 public key, base64")


class DeviceRegistration(serializers.Serializer):
    name = serializers.CharField(required=False)
    identity_key = serializers.CharField(help_text="Ed25519 public key, base64")
    signed_prekey = SignedPrekey()
    one_time_prekeys = OneTimePrekey(many=True)
