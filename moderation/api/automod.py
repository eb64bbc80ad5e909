"""Discord's auto-moderation rule paths (MANAGE_GUILD), with our simpler rule shape."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from guilds.api.common import body
from moderation.services import automod


class RulesView(APIView):
    @extend_schema(responses={200: dict}, tags=["automod"], summary="A guild's automod rules")
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        return Response(automod.list_rules(request.user, guild_id))

    @extend_schema(
        request=dict,
        responses={201: dict},
        tags=["automod"],
        summary="Create a rule: type keyword, regex, links, invites, mention_spam, flood, "
        "new_account or duplicate; action block, flag or timeout",
    )
    def post(self, request: AuthedRequest, guild_id: int) -> Response:
        rule = automod.check_create_rule(request.user, guild_id, body(request))
        return Response(automod.serialize_rule(rule), status=201)


class RuleView(APIView):
    @extend_schema(request=dict, responses={200: dict}, tags=["automod"], summary="Edit a rule")
    def patch(self, request: AuthedRequest, guild_id: int, rule_id: int) -> Response:
        rule = automod.check_update_rule(request.user, guild_id, rule_id, body(request))
        return Response(automod.serialize_rule(rule))

    @extend_schema(responses={204: None}, tags=["automod"], summary="Delete a rule")
    def delete(self, request: AuthedRequest, guild_id: int, rule_id: int) -> Response:
        automod.check_delete_rule(request.user, guild_id, rule_id)
        return Response(status=204)
