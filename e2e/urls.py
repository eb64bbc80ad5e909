from django.urls import path

from e2e import api

api_urlpatterns = [
    path("channels/<id:channel_id>/envelopes", api.Envelopes.as_view()),
    path("users/@me/device-list", api.OwnDeviceList.as_view()),
    path("users/@me/e2e-backup", api.OwnKeyBackup.as_view()),
    path("users/@me/e2e-history", api.OwnHistory.as_view()),
    path("users/@me/e2e-history/<str:name>", api.OwnHistoryChunk.as_view()),
    path("users/<id:user_id>/device-list", api.UserDeviceList.as_view()),
]
