"""Voice REST routes: the guild's voice states and the moderator actions (Discord's
`PATCH /guilds/{id}/voice-states/{uid}` path, with the member fields mute/deaf/channel_id)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.requests import AuthedRequest
from guilds.api.common import body
from guilds.services.access import guild_context
from voice import services


class VoiceStatesView(APIView):
    @extend_schema(summary="List who is connected to the guild's voice channels", tags=["voice"])
    def get(self, request: AuthedRequest, guild_id: int) -> Response:
        guild_context(request.user, guild_id)
        return Response(services.guild_voice_states(guild_id))


class VoiceStateView(APIView):
    @extend_schema(
        summary="Server mute/deafen, move (channel_id) or disconnect (channel_id null)",
        tags=["voice"],
    )
    def patch(self, request: AuthedRequest, guild_id: int, user_id: int) -> Response:
        return Response(services.check_moderate(request.user, guild_id, user_id, body(request)))
