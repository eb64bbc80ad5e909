from django.urls import include, path

from bots import api, commands_api, interactions_api, views, webhook_api

# Incoming webhooks (bots/webhook_api.py); the token forms are also served unversioned at
# /api/webhooks/… (the URL the web client hands out), as Discord does.
webhook_token_urlpatterns = [
    path(
        "webhooks/<id:webhook_id>/<str:token>",
        webhook_api.WebhookWithToken.as_view(),
        name="webhook-token",
    ),
    path(
        "webhooks/<id:webhook_id>/<str:token>/messages/<id:message_id>",
        webhook_api.WebhookMessage.as_view(),
        name="webhook-message",
    ),
]
webhook_api_urlpatterns = [
    path(
        "channels/<id:channel_id>/webhooks",
        webhook_api.ChannelWebhooks.as_view(),
        name="bot-channel-webhooks",
    ),
    path(
        "guilds/<id:guild_id>/webhooks",
        webhook_api.GuildWebhooks.as_view(),
        name="bot-guild-webhooks",
    ),
    path("webhooks/<id:webhook_id>", webhook_api.WebhookView.as_view(), name="bot-webhook"),
    *webhook_token_urlpatterns,
]

# Mounted at /api/v10/ and /api/v9/ (united/urls.py): the paths discord.py and other Discord
# libraries call, with Discord's shapes (docs/bots.md).
api_urlpatterns = [
    # First: an interaction's follow-up routes (/webhooks/{app}/{token}, tokens starting with
    # Discord's "interaction:" prefix) must match before incoming webhooks' /webhooks/{id}/{token}.
    *interactions_api.api_urlpatterns(),
    path("users/@me", api.Me.as_view(), name="bot-me"),
    path("users/<id:user_id>", api.UserView.as_view(), name="bot-user"),
    path("oauth2/applications/@me", api.ApplicationMe.as_view(), name="bot-application"),
    # discord.js's `client.application.fetch()` asks here.
    path("applications/@me", api.ApplicationMe.as_view(), name="bot-current-application"),
    path("users/@me/guilds", api.MyGuilds.as_view(), name="bot-my-guilds"),
    path("gateway", api.Gateway.as_view(), name="bot-gateway-url"),
    path("gateway/bot", api.GatewayBot.as_view(), name="bot-gateway-bot"),
    path("channels/<id:channel_id>", api.ChannelView.as_view(), name="bot-channel"),
    path("channels/<id:channel_id>/typing", api.Typing.as_view(), name="bot-typing"),
    path(
        "channels/<id:channel_id>/messages",
        api.ChannelMessages.as_view(),
        name="bot-messages",
    ),
    path(
        "channels/<id:channel_id>/messages/<id:message_id>",
        api.ChannelMessage.as_view(),
        name="bot-message",
    ),
    path(
        "channels/<id:channel_id>/messages/<id:message_id>/reactions/<str:emoji>/@me",
        api.OwnReaction.as_view(),
        name="bot-own-reaction",
    ),
    path("guilds/<id:guild_id>", api.GuildView.as_view(), name="bot-guild"),
    path("guilds/<id:guild_id>/channels", api.GuildChannels.as_view(), name="bot-guild-channels"),
    path("guilds/<id:guild_id>/roles", api.GuildRoles.as_view(), name="bot-guild-roles"),
    path("guilds/<id:guild_id>/members", api.GuildMembers.as_view(), name="bot-guild-members"),
    path(
        "guilds/<id:guild_id>/members/<id:user_id>",
        api.GuildMember.as_view(),
        name="bot-guild-member",
    ),
    *webhook_api_urlpatterns,
    *commands_api.urlpatterns(),
]

urlpatterns = [
    path("settings/developer/", views.developer, name="developer"),
    path("settings/developer/new/", views.create_application, name="developer-create"),
    path(
        "settings/developer/<id:application_id>/reset-token/",
        views.reset_token,
        name="developer-reset-token",
    ),
    path(
        "settings/developer/<id:application_id>/intents/",
        views.set_intents,
        name="developer-intents",
    ),
    path("oauth2/authorize", views.authorize, name="bot-authorize"),
    path("api/", include(webhook_token_urlpatterns)),
    path(
        "settings/developer/<id:application_id>/interactions/",
        interactions_api.set_endpoint,
        name="developer-interactions",
    ),
    *interactions_api.web_urlpatterns,
]
