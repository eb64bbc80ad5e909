from django.urls import path

from federation import api, views

api_urlpatterns = [
    path("federation/follow", api.FollowView.as_view(), name="api-federation-follow"),
    path("federation/following", api.FollowingView.as_view(), name="api-federation-following"),
]

urlpatterns = [
    path(".well-known/federation", views.well_known_federation, name="federation-manifest"),
    path(".well-known/webfinger", views.well_known_webfinger, name="webfinger"),
    path(".well-known/nodeinfo", views.well_known_nodeinfo, name="nodeinfo-discovery"),
    path(".well-known/host-meta", views.host_meta, name="host-meta"),
    path("nodeinfo/2.1", views.nodeinfo_21, name="nodeinfo"),
    path("actor", views.node_actor, name="ap-node-actor"),
    path("actor/inbox", views.inbox_view, name="ap-node-inbox"),
    path("inbox", views.inbox_view, name="ap-shared-inbox"),
    path("activities/<int:activity_id>", views.activity, name="ap-activity"),
    path("users/<str:name>", views.actor, name="ap-user"),
    path("users/<str:name>/inbox", views.inbox_view, name="ap-user-inbox"),
    path("users/<str:name>/outbox", views.outbox, name="ap-user-outbox"),
    path("users/<str:name>/followers", views.followers, name="ap-user-followers"),
    path("users/<str:name>/following", views.following, name="ap-user-following"),
]
