from django.urls import path

from federation import api, guild_api, guild_views, move_views, views, voice_views

api_urlpatterns = [
    path("users/@me/aliases", move_views.AliasesView.as_view(), name="api-aliases"),
    path("users/@me/move", move_views.MoveView.as_view(), name="api-move"),
    path("federation/follow", api.FollowView.as_view(), name="api-federation-follow"),
    path("federation/following", api.FollowingView.as_view(), name="api-federation-following"),
    path("federation/invites/preview", guild_api.PreviewView.as_view(), name="api-fed-preview"),
    path("federation/guilds/join", guild_api.JoinView.as_view(), name="api-fed-join"),
    path("federation/guilds/<id:guild_id>/sync", guild_api.SyncView.as_view(), name="api-fed-sync"),
    path(
        "federation/messages/<id:message_id>/retry",
        guild_api.RetryView.as_view(),
        name="api-fed-retry",
    ),
    path(
        "federation/reports/<id:report_id>/forward",
        guild_api.ForwardReportView.as_view(),
        name="api-fed-report-forward",
    ),
    path("federation/keys", guild_api.RemoteKeysView.as_view(), name="api-fed-keys"),
    path("federation/device-messages", guild_api.DeviceMessagesView.as_view(), name="api-fed-dm"),
    path(
        "federation/device-messages/<id:envelope_id>",
        guild_api.DeviceMessageView.as_view(),
        name="api-fed-dm-ack",
    ),
]

urlpatterns = [
    path("settings/account/aliases/", move_views.move_from, name="account-move-from"),
    path("settings/account/move/", move_views.move_to, name="account-move"),
    path(".well-known/federation", views.well_known_federation, name="federation-manifest"),
    path(".well-known/webfinger", views.well_known_webfinger, name="webfinger"),
    path(".well-known/nodeinfo", views.well_known_nodeinfo, name="nodeinfo-discovery"),
    path(".well-known/host-meta", views.host_meta, name="host-meta"),
    path("nodeinfo/2.1", views.nodeinfo_21, name="nodeinfo"),
    path("actor", views.node_actor, name="ap-node-actor"),
    path("actor/inbox", views.inbox_view, name="ap-node-inbox"),
    path("inbox", views.inbox_view, name="ap-shared-inbox"),
    path("activities/<id:activity_id>", views.activity, name="ap-activity"),
    path("users/<str:name>", views.actor, name="ap-user"),
    path("users/<str:name>/inbox", views.inbox_view, name="ap-user-inbox"),
    path("users/<str:name>/outbox", views.outbox, name="ap-user-outbox"),
    path("users/<str:name>/followers", views.followers, name="ap-user-followers"),
    path("users/<str:name>/following", views.following, name="ap-user-following"),
    path("users/<str:name>/keys", guild_views.user_keys, name="ap-user-keys"),
    path(
        "users/<str:name>/device-list",
        guild_views.user_device_list,
        name="ap-user-device-list",
    ),
    path("groups/<id:guild_id>", guild_views.group_actor, name="ap-group"),
    path("groups/<id:guild_id>/inbox", guild_views.group_inbox, name="ap-group-inbox"),
    path("groups/<id:guild_id>/state", guild_views.group_state, name="ap-group-state"),
    path(
        "groups/<id:guild_id>/channels/<id:channel_id>/messages",
        guild_views.group_history,
        name="ap-group-history",
    ),
    path(
        "groups/<id:guild_id>/<str:which>",
        guild_views.group_collection,
        name="ap-group-collection",
    ),
    path("announcements/<id:channel_id>", guild_views.announcement_actor, name="ap-news"),
    path(
        "announcements/<id:channel_id>/inbox", guild_views.announcement_inbox, name="ap-news-inbox"
    ),
    path(
        "announcements/<id:channel_id>/<str:which>",
        guild_views.announcement_collection,
        name="ap-news-collection",
    ),
    path("announcements/notes/<id:message_id>", guild_views.announcement_note, name="ap-news-note"),
    path(
        "announcements/media/<id:attachment_id>",
        guild_views.announcement_media,
        name="ap-news-media",
    ),
    # The hosting node's doors for voice of members of other nodes (federation.voice).
    path("groups/<id:guild_id>/voice/token", voice_views.voice_token, name="voice-fed-token"),
    path("voice/signal", voice_views.voice_signal, name="voice-fed-signal"),
]
