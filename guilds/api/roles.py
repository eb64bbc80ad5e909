"""Roles and members."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from guilds.api.common import (
    REASON_HEADER,
    MemberSchema,
    PositionItem,
    RoleSchema,
    RoleWrite,
    body,
    body_list,
    many,
    query_int,
    reason,
)
from guilds.serialize import serialize_role
from guilds.services import members, roles


class GuildRolesView(APIView):
    @extend_schema(responses=many(RoleSchema), summary="Roles of a guild", tags=["roles"])
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        return Response(roles.list_roles(request.user, guild_id))

    @extend_schema(
        request=RoleWrite,
        responses={201: RoleSchema},
        parameters=[REASON_HEADER],
        summary="Create a role",
        tags=["roles"],
    )
    def post(self, request: AuthedRequest, guild_id: int) -> Response:
        role = roles.check_create_role(
            request.user, guild_id, body(request), reason=reason(request)
        )
        return Response(serialize_role(role), status=201)

    @extend_schema(
        request=PositionItem(many=True),
        responses=many(RoleSchema),
        parameters=[REASON_HEADER],
        summary="Reorder roles",
        operation_id="v1_guilds_roles_reorder",
        tags=["roles"],
    )
    def patch(self, request: AuthedRequest, guild_id: int) -> Response:
        return Response(
            roles.check_reorder_roles(
                request.user, guild_id, body_list(request), reason=reason(request)
            )
        )


class RoleView(APIView):
    @extend_schema(
        request=RoleWrite,
        responses=RoleSchema,
        parameters=[REASON_HEADER],
        summary="Edit a role",
        tags=["roles"],
    )
    def patch(self, request: AuthedRequest, guild_id: int, role_id: int) -> Response:
        role = roles.check_update_role(
            request.user, guild_id, role_id, body(request), reason=reason(request)
        )
        return Response(serialize_role(role))

    @extend_schema(
        responses={204: None}, parameters=[REASON_HEADER], summary="Delete a role", tags=["roles"]
    )
    def delete(self, request: AuthedRequest, guild_id: int, role_id: int) -> Response:
        roles.check_delete_role(request.user, guild_id, role_id, reason=reason(request))
        return Response(status=204)


class MembersView(APIView):
    @extend_schema(
        responses=many(MemberSchema),
        summary="List members",
        tags=["members"],
        parameters=[
            OpenApiParameter("limit", int, required=False),
            OpenApiParameter("after", str, required=False),
        ],
    )
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        return Response(
            members.list_members(
                request.user,
                guild_id,
                limit=query_int(request, "limit", 1),
                after=query_int(request, "after", 0),
            )
        )


class MemberRoleView(APIView):
    @extend_schema(
        request=None,
        responses={204: None},
        parameters=[REASON_HEADER],
        summary="Give a member a role",
        tags=["members"],
    )
    def put(self, request: AuthedRequest, guild_id: int, user_id: int, role_id: int) -> Response:
        members.check_member_role(
            request.user, guild_id, user_id, role_id, add=True, reason=reason(request)
        )
        return Response(status=204)

    @extend_schema(
        responses={204: None},
        parameters=[REASON_HEADER],
        summary="Take a role from a member",
        tags=["members"],
    )
    def delete(self, request: AuthedRequest, guild_id: int, user_id: int, role_id: int) -> Response:
        members.check_member_role(
            request.user, guild_id, user_id, role_id, add=False, reason=reason(request)
        )
        return Response(status=204)
