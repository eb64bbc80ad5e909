"""Invites: create, list, resolve (public, for visitors and other nodes), revoke, join."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from accounts.services import ratelimit
from guilds.api.common import REASON_HEADER, InviteCreate, InviteSchema, body, many, reason
from guilds.serialize import serialize_invite
from guilds.services import invites as services


class ChannelInvitesView(APIView):
    @extend_schema(
        responses=many(InviteSchema),
        tags=["invites"],
        summary="Active invites of a channel (MANAGE_CHANNELS)",
    )
    def get(self, request: AuthedRequest, channel_id: int) -> Response:
        return Response(services.list_channel_invites(request.user, channel_id))

    @extend_schema(
        request=InviteCreate,
        responses={201: InviteSchema},
        tags=["invites"],
        parameters=[REASON_HEADER],
        summary="Create an invite",
    )
    def post(self, request: AuthedRequest, channel_id: int) -> Response:
        invite = services.check_create_invite(
            request.user, channel_id, body(request), reason=reason(request)
        )
        return Response(serialize_invite(invite, metadata=True), status=201)


class GuildInvitesView(APIView):
    @extend_schema(
        responses=many(InviteSchema),
        tags=["invites"],
        summary="Active invites of a guild (MANAGE_GUILD)",
    )
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        return Response(services.list_guild_invites(request.user, guild_id))


class InviteView(APIView):
    def get_permissions(self):
        # Resolving is public: visitors and other nodes look invites up before joining.
        return [AllowAny()] if self.request.method == "GET" else [IsAuthenticated()]

    @extend_schema(
        responses=InviteSchema,
        tags=["invites"],
        summary="Resolve an invite (public)",
        parameters=[OpenApiParameter("with_counts", bool, required=False)],
    )
    def get(self, request: Request, code: str) -> Response:
        with_counts = request.query_params.get("with_counts", "true") != "false"
        return Response(services.resolve_invite(code, with_counts=with_counts))

    @extend_schema(
        request=None,
        responses=InviteSchema,
        tags=["invites"],
        summary="Join the guild the invite leads to",
    )
    def post(self, request: AuthedRequest, code: str) -> Response:
        ratelimit.limit("invite_join", request, request.user.id)
        invite, _ = services.check_accept_invite(request.user, code)
        return Response(invite)

    @extend_schema(
        responses=InviteSchema,
        parameters=[REASON_HEADER],
        tags=["invites"],
        summary="Revoke an invite",
    )
    def delete(self, request: AuthedRequest, code: str) -> Response:
        return Response(services.check_revoke_invite(request.user, code, reason=reason(request)))
