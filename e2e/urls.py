from django.urls import path

from e2e import api

api_urlpatterns = [
    path("channels/<id:channel_id>/envelopes", api.Envelopes.as_view()),
    path("users/@me/device-list", api.OwnDeviceList.as_view()),
    path("users/@me/e2e-backup", api.OwnKeyBackup.as_view()),
    path("users/@me/e2e-history", api.OwnHistory.as_view()),
    path("users/@me/e2e-history/<str:name>", api.OwnHistoryChunk.as_view()),
    path("users/<id:user_id>/device-list", api.UserDeviceList.as_view()),
    path("users/@me/mls/key-packages", api.OwnKeyPackages.as_view()),
    path("channels/<id:channel_id>/mls", api.MlsGroupView.as_view()),
    path("channels/<id:channel_id>/mls/log", api.MlsLog.as_view()),
    path("channels/<id:channel_id>/mls/commits", api.MlsCommits.as_view()),
    path("channels/<id:channel_id>/mls/proposals", api.MlsProposals.as_view()),
    path("channels/<id:channel_id>/mls/messages", api.MlsMessages.as_view()),
    path("channels/<id:channel_id>/mls/knock", api.MlsKnock.as_view()),
    path("channels/<id:channel_id>/mls/key-packages/claim", api.MlsClaim.as_view()),
]
