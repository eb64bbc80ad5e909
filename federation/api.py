"""REST doors for members: follow and unfollow remote accounts, list follows."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from federation import services
from federation.models import Follow

FollowSchema = inline_serializer(
    "FederatedFollow",
    {
        "id": serializers.CharField(),
        "acct": serializers.CharField(),
        "actor": serializers.CharField(),
        "state": serializers.CharField(),
        "outgoing": serializers.BooleanField(),
    },
)


class AcctBody(serializers.Serializer):
    acct = serializers.CharField(help_text="user@domain")


class FollowView(APIView):
    @extend_schema(request=AcctBody, responses={202: FollowSchema}, summary="Follow a remote user")
    def post(self, request: AuthedRequest) -> Response:
        data = AcctBody(data=request.data)
        data.is_valid(raise_exception=True)
        follow = services.check_follow(request.user, data.validated_data["acct"])
        return Response(services.serialize_follow(follow), status=202)

    @extend_schema(request=AcctBody, responses={204: None}, summary="Unfollow a remote user")
    def delete(self, request: AuthedRequest) -> Response:
        data = AcctBody(data=request.data)
        data.is_valid(raise_exception=True)
        services.check_unfollow(request.user, data.validated_data["acct"])
        return Response(status=204)


class FollowingView(APIView):
    @extend_schema(responses={200: FollowSchema}, summary="Remote users you follow")
    def get(self, request: AuthedRequest) -> Response:
        follows = Follow.objects.filter(local_user=request.user, outgoing=True).select_related(
            "remote_actor__node"
        )
        return Response([services.serialize_follow(f) for f in follows])
