from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services

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
    def get(self, request: Request) -> Response:
        return Response(services.serialize_user(request.user))

    @extend_schema(request=ProfilePatch, responses=UserSchema, summary="Edit your profile")
    def patch(self, request: Request) -> Response:
        data = ProfilePatch(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.check_update_profile(
            request.user, display_name=data.validated_data.get("global_name")
        )
        return Response(services.serialize_user(user))
