from django.urls import path

from voice import api

api_urlpatterns = [
    path(
        "guilds/<id:guild_id>/voice-states", api.VoiceStatesView.as_view(), name="api-voice-states"
    ),
    path(
        "guilds/<id:guild_id>/voice-states/<id:user_id>",
        api.VoiceStateView.as_view(),
        name="api-voice-state",
    ),
]
