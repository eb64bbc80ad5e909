from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from accounts.services.tokens import current_session
from push import services, webpush

SUBSCRIPTION_FIELDS: dict[str, Any] = {
    "id": serializers.CharField(),
    "endpoint": serializers.CharField(),
    "endpoint_host": serializers.CharField(),
    "user_agent": serializers.CharField(),
    "created_at": serializers.DateTimeField(),
}
SubscriptionSchema = inline_serializer("PushSubscription", SUBSCRIPTION_FIELDS)
SubscriptionList = inline_serializer("PushSubscriptionList", SUBSCRIPTION_FIELDS, many=True)


class VapidKeyView(APIView):
    @extend_schema(
        tags=["push"],
        responses=inline_serializer("VapidKey", {"public_key": serializers.CharField()}),
        summary="The node's VAPID public key (applicationServerKey)",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response({"public_key": webpush.public_key()})


class SubscriptionsView(APIView):
    @extend_schema(tags=["push"], responses=SubscriptionList, summary="Your devices")
    def get(self, request: AuthedRequest) -> Response:
        rows = request.user.push_subscriptions.order_by("created_at")
        return Response([services.serialize_subscription(r) for r in rows])

    @extend_schema(
        tags=["push"],
        request=inline_serializer(
            "PushSubscriptionIn",
            {
                "endpoint": serializers.URLField(),
                "keys": inline_serializer(
                    "PushKeys",
                    {"p256dh": serializers.CharField(), "auth": serializers.CharField()},
                ),
            },
        ),
        responses={201: SubscriptionSchema, 200: SubscriptionSchema},
        summary="Subscribe this browser to Web Push",
    )
    def post(self, request: AuthedRequest) -> Response:
        row, created = services.check_subscribe(
            request.user,
            current_session(request),
            request.data,
            user_agent=request.headers.get("User-Agent", ""),
        )
        return Response(services.serialize_subscription(row), status=201 if created else 200)


class SubscriptionView(APIView):
    @extend_schema(tags=["push"], responses={204: None}, summary="Stop pushes to a device")
    def delete(self, request: AuthedRequest, subscription_id: int) -> Response:
        services.do_unsubscribe(services.access_subscription(request.user, subscription_id))
        return Response(status=204)


class PreviewView(APIView):
    @extend_schema(
        tags=["push"],
        responses=inline_serializer(
            "PushPreview",
            {
                "channel_id": serializers.CharField(),
                "guild_id": serializers.CharField(allow_null=True),
                "title": serializers.CharField(),
                "body": serializers.CharField(),
                "encrypted": serializers.BooleanField(),
                "url": serializers.CharField(),
            },
        ),
        summary="What a notification about this channel shows (the service worker asks)",
    )
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        return Response(services.preview(request.user, channel_id))
