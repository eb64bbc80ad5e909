from django.urls import path

from web.views import (
    channel_settings,
    chat,
    dms,
    federation,
    manage,
    members,
    messages,
    notifications,
    onboarding,
    search,
    settings,
    threads,
)
from web.views import moderation as mod

CHANNEL = "channels/<id:channel_id>/"
MESSAGE = CHANNEL + "messages/<id:message_id>/"

urlpatterns = [
    path("", chat.home, name="web-home"),
    path("start/", onboarding.start, name="web-start"),
    path("start/join/", onboarding.join, name="web-join"),
    path("start/create/", onboarding.create, name="web-create"),
    path("invites/<str:code>/accept/", onboarding.accept, name="web-accept-invite"),
    path("rail/", chat.rail, name="web-rail"),
    path("dms/", dms.dm_list, name="web-dms"),
    path("dms/<id:channel_id>/", dms.dm, name="web-dm"),
    path("dms/<id:channel_id>/leave", dms.dm_leave, name="web-dm-leave"),
    path("dms/<id:channel_id>/remove/<id:user_id>", dms.dm_remove, name="web-dm-remove"),
    path("switcher.json", chat.switcher, name="web-switcher"),
    path("guilds/<id:guild_id>/", chat.guild, name="web-guild"),
    path("guilds/<id:guild_id>/channels/", chat.channel_list, name="web-channel-list"),
    path(
        "guilds/<id:guild_id>/channels/create/",
        manage.create_channel,
        name="web-create-channel",
    ),
    path("guilds/<id:guild_id>/members/", chat.member_list, name="web-members"),
    path(
        "guilds/<id:guild_id>/members/<id:user_id>/card/",
        members.card,
        name="web-member-card",
    ),
    path("guilds/<id:guild_id>/search/", search.search, name="web-search"),
    path(
        "guilds/<id:guild_id>/notifications/",
        notifications.guild_notifications,
        name="web-guild-notifications",
    ),
    path(
        CHANNEL + "notifications/",
        notifications.channel_notifications,
        name="web-channel-notifications",
    ),
    path("guilds/<id:guild_id>/settings/", settings.index, name="web-settings"),
    path(
        "guilds/<id:guild_id>/settings/overview/",
        settings.overview,
        name="web-settings-overview",
    ),
    path("guilds/<id:guild_id>/settings/roles/", settings.roles, name="web-settings-roles"),
    path(
        "guilds/<id:guild_id>/settings/roles/<id:role_id>/",
        settings.role,
        name="web-settings-role",
    ),
    path(
        "guilds/<id:guild_id>/settings/channels/",
        channel_settings.channels,
        name="web-settings-channels",
    ),
    path(
        "guilds/<id:guild_id>/settings/view-as/",
        channel_settings.view_as,
        name="web-settings-view-as",
    ),
    path(
        "guilds/<id:guild_id>/settings/channels/<id:channel_id>/",
        settings.channel_permissions,
        name="web-settings-channel",
    ),
    path(
        "guilds/<id:guild_id>/settings/invites/",
        settings.invites,
        name="web-settings-invites",
    ),
    path("guilds/<id:guild_id>/" + CHANNEL, chat.channel, name="web-channel"),
    path(
        "guilds/<id:guild_id>/" + CHANNEL + "threads/<id:thread_id>/",
        chat.channel,
        name="web-thread",
    ),
    path(CHANNEL + "threads/", threads.thread_list, name="web-threads"),
    path(CHANNEL + "follow/", threads.follow, name="web-follow-thread"),
    path(MESSAGE + "thread/", threads.start, name="web-start-thread"),
    path(CHANNEL + "messages/", chat.older, name="web-older"),
    path(CHANNEL + "messages/send/", messages.send, name="web-send"),
    path(CHANNEL + "pins/", messages.pins, name="web-pins"),
    path(CHANNEL + "typing/", messages.typing, name="web-typing"),
    path(CHANNEL + "read/", messages.read, name="web-read"),
    path(CHANNEL + "invite/", manage.create_invite, name="web-create-invite"),
    path(MESSAGE + "fragment/", messages.fragment, name="web-message"),
    path(MESSAGE + "edit/", messages.edit, name="web-edit"),
    path(MESSAGE + "delete/", messages.delete, name="web-delete"),
    path(MESSAGE + "react/", messages.react, name="web-react"),
    path(MESSAGE + "pin/", messages.pin, name="web-pin"),
    path("federation/join/", federation.join, name="web-fed-join"),
    path("federation/join/<id:join_id>/", federation.join_state, name="web-fed-join-state"),
    path("federation/messages/<id:message_id>/retry/", federation.retry, name="web-fed-retry"),
    # Reports and the moderators' screens inside the client (web/views/moderation.py).
    path("reports/", mod.my_reports, name="web-my-reports"),
    path("reports/new/", mod.report, name="web-report"),
    path("guilds/<id:guild_id>/moderation/", mod.queue, name="web-mod-queue"),
    path(
        "guilds/<id:guild_id>/moderation/cases/<id:case_id>/",
        mod.case,
        name="web-mod-case",
    ),
    path("guilds/<id:guild_id>/moderation/log/", mod.modlog, name="web-mod-log"),
    path("guilds/<id:guild_id>/moderation/log/verify/", mod.verify, name="web-mod-verify"),
]
