from django.urls import path

from push import api, views

api_urlpatterns = [
    path("push/vapid-key", api.VapidKeyView.as_view(), name="api-push-vapid-key"),
    path(
        "users/@me/push-subscriptions",
        api.SubscriptionsView.as_view(),
        name="api-push-subscriptions",
    ),
    path(
        "users/@me/push-subscriptions/<id:subscription_id>",
        api.SubscriptionView.as_view(),
        name="api-push-subscription",
    ),
    path(
        "push/channels/<id:channel_id>/preview",
        api.PreviewView.as_view(),
        name="api-push-preview",
    ),
]

urlpatterns = [
    path("settings/notifications/", views.notifications, name="notifications"),
    path(
        "settings/notifications/devices/<id:subscription_id>/remove/",
        views.remove_device,
        name="notifications-remove-device",
    ),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="service-worker"),
    path("offline/", views.offline, name="offline"),
]
