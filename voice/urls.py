from django.urls import path

from voice import api, fed_views

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

# The hosting node's doors for members of other nodes (voice.federated).
urlpatterns = [
    path("groups/<id:guild_id>/voice/token", fed_views.voice_token, name="voice-fed-token"),
    path("voice/signal", fed_views.voice_signal, name="voice-fed-signal"),
]
