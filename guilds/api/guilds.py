"""Guilds, the user's guild list, leaving, and the public directory."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from guilds.api.common import (
    REASON_HEADER,
    GuildCreate,
    GuildDelete,
    GuildPatch,
    GuildSchema,
    PartialGuildSchema,
    body,
    many,
    query_int,
    reason,
)
from guilds.serialize import serialize_guild
from guilds.services import directory as directory_services
from guilds.services import guilds as services
from guilds.services.access import guild_context


class GuildsView(APIView):
    @extend_schema(
        request=GuildCreate, responses={201: GuildSchema}, summary="Create a guild", tags=["guilds"]
    )
    def post(self, request: AuthedRequest) -> Response:
        data = body(request)
        guild = services.check_create_guild(
            request.user,
            name=data.get("name"),
            icon=data.get("icon"),
            description=data.get("description", ""),
        )
        ctx = guild_context(request.user, guild.id)
        return Response(serialize_guild(guild, roles=ctx.roles.values()), status=201)


class GuildView(APIView):
    @extend_schema(responses=GuildSchema, summary="Get a guild", tags=["guilds"])
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        ctx = guild_context(request.user, guild_id)
        data = serialize_guild(ctx.guild, roles=ctx.roles.values())
        if request.query_params.get("with_counts") == "true":
            from guilds.services.invites import member_count

            data["approximate_member_count"] = member_count(ctx.guild.id)
        return Response(data)

    @extend_schema(
        request=GuildPatch,
        responses=GuildSchema,
        parameters=[REASON_HEADER],
        summary="Edit a guild or transfer its ownership",
        tags=["guilds"],
    )
    def patch(self, request: AuthedRequest, guild_id: int) -> Response:
        services.check_update_guild(request.user, guild_id, body(request), reason=reason(request))
        ctx = guild_context(request.user, guild_id)
        return Response(serialize_guild(ctx.guild, roles=ctx.roles.values()))

    @extend_schema(
        request=GuildDelete,
        responses={204: None},
        tags=["guilds"],
        summary="Delete a guild (owner only, confirm with its name)",
    )
    def delete(self, request: AuthedRequest, guild_id: int) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        confirm = data.get("confirm_name", request.query_params.get("confirm_name"))
        services.check_delete_guild(request.user, guild_id, confirm_name=confirm)
        return Response(status=204)


class MyGuildsView(APIView):
    @extend_schema(
        responses=many(PartialGuildSchema),
        tags=["guilds"],
        summary="Guilds the signed-in user is a member of",
    )
    def get(self, request: AuthedRequest) -> Response:
        return Response(services.list_user_guilds(request.user))


class LeaveGuildView(APIView):
    @extend_schema(request=None, responses={204: None}, summary="Leave a guild", tags=["guilds"])
    def delete(self, request: AuthedRequest, guild_id: int) -> Response:
        services.check_leave_guild(request.user, guild_id)
        return Response(status=204)


class DirectoryView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        responses=many(PartialGuildSchema),
        tags=["directory"],
        summary="Browse this node's public guild directory",
        parameters=[
            OpenApiParameter("tag", str, required=False),
            OpenApiParameter("sort", str, enum=list(directory_services.SORTS), required=False),
            OpenApiParameter("limit", int, required=False),
            OpenApiParameter("offset", int, required=False),
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(
            directory_services.directory(
                tag=request.query_params.get("tag") or None,
                sort=request.query_params.get("sort") or "activity",
                limit=query_int(request, "limit", directory_services.DIRECTORY_PAGE),
                offset=query_int(request, "offset", 0),
            )
        )
