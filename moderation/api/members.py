"""Discord's GET/PATCH/DELETE /guilds/{id}/members/{uid}. The route is moderation's because
what its PATCH and DELETE add to the guild's own services is moderation: the timeout field
(`communication_disabled_until`) and the kick. The guild's fields (nick, roles) and the member
shape stay the guild services' (docs/architecture.md, "Layers")."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from guilds.api.common import REASON_HEADER, MemberPatch, MemberSchema, body, reason
from guilds.services import members
from moderation.services import sanctions, timeouts


class MemberView(APIView):
    @extend_schema(responses=MemberSchema, summary="Get a member", tags=["members"])
    def get(self, request: AuthedRequest, guild_id: int, user_id: int) -> Response:
        return Response(members.get_member(request.user, guild_id, user_id))

    @extend_schema(
        request=MemberPatch,
        responses=MemberSchema,
        parameters=[REASON_HEADER],
        summary="Change a member's nickname, roles or timeout",
        tags=["members"],
    )
    def patch(self, request: AuthedRequest, guild_id: int, user_id: int) -> Response:
        return Response(
            timeouts.check_update_member(
                request.user, guild_id, user_id, body(request), reason=reason(request)
            )
        )

    @extend_schema(
        responses={204: None},
        parameters=[REASON_HEADER],
        summary="Kick a member (KICK_MEMBERS)",
        tags=["members"],
    )
    def delete(self, request: AuthedRequest, guild_id: int, user_id: int) -> Response:
        sanctions.check_kick(request.user, guild_id, user_id, reason=reason(request))
        return Response(status=204)
