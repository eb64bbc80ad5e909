"""Channels, positions and permission overwrites."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from guilds.api.common import (
    REASON_HEADER,
    ChannelSchema,
    ChannelWrite,
    OverwritePut,
    PositionItem,
    body,
    body_list,
    many,
    reason,
)
from guilds.serialize import serialize_channel
from guilds.services import channels as services
from guilds.services import overwrites
from guilds.services.access import effective_overwrites


class GuildChannelsView(APIView):
    @extend_schema(
        responses=many(ChannelSchema),
        tags=["channels"],
        summary="Channels of a guild that you can see",
    )
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        return Response(services.list_channels(request.user, guild_id))

    @extend_schema(
        request=ChannelWrite,
        responses={201: ChannelSchema},
        tags=["channels"],
        parameters=[REASON_HEADER],
        summary="Create a channel or category",
    )
    def post(self, request: AuthedRequest, guild_id: int) -> Response:
        channel = services.check_create_channel(
            request.user, guild_id, body(request), reason=reason(request)
        )
        return Response(serialize_channel(channel, effective_overwrites(channel)), status=201)

    @extend_schema(
        request=PositionItem(many=True),
        responses={204: None},
        tags=["channels"],
        parameters=[REASON_HEADER],
        summary="Reorder or move channels",
        operation_id="v1_guilds_channels_reorder",
    )
    def patch(self, request: AuthedRequest, guild_id: int) -> Response:
        services.check_reorder_channels(
            request.user, guild_id, body_list(request), reason=reason(request)
        )
        return Response(status=204)


class ChannelView(APIView):
    @extend_schema(responses=ChannelSchema, summary="Get a channel", tags=["channels"])
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        return Response(services.get_channel(request.user, channel_id))

    @extend_schema(
        request=ChannelWrite,
        responses=ChannelSchema,
        parameters=[REASON_HEADER],
        summary="Edit or move a channel",
        tags=["channels"],
    )
    def patch(self, request: AuthedRequest, channel_id: int) -> Response:
        channel = services.check_update_channel(
            request.user, channel_id, body(request), reason=reason(request)
        )
        return Response(serialize_channel(channel, effective_overwrites(channel)))

    @extend_schema(
        responses=ChannelSchema,
        parameters=[REASON_HEADER],
        summary="Delete a channel",
        tags=["channels"],
    )
    def delete(self, request: AuthedRequest, channel_id: int) -> Response:
        return Response(
            services.check_delete_channel(request.user, channel_id, reason=reason(request))
        )


class OverwriteView(APIView):
    @extend_schema(
        request=OverwritePut,
        responses={204: None},
        parameters=[REASON_HEADER],
        summary="Set a role's or member's overwrite",
        tags=["channels"],
    )
    def put(self, request: AuthedRequest, channel_id: int, overwrite_id: int) -> Response:
        overwrites.check_put_overwrite(
            request.user, channel_id, overwrite_id, body(request), reason=reason(request)
        )
        return Response(status=204)

    @extend_schema(
        responses={204: None},
        parameters=[REASON_HEADER],
        summary="Delete an overwrite",
        tags=["channels"],
    )
    def delete(self, request: AuthedRequest, channel_id: int, overwrite_id: int) -> Response:
        overwrites.check_delete_overwrite(
            request.user, channel_id, overwrite_id, reason=reason(request)
        )
        return Response(status=204)
