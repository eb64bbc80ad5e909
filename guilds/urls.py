from django.urls import path

from guilds import views
from guilds.api import channels, guilds, invites, roles

# REST routes (mounted under /api/v1/) and web routes of this app.
api_urlpatterns = [
    path("guilds", guilds.GuildsView.as_view(), name="api-guilds"),
    path("guilds/<id:guild_id>", guilds.GuildView.as_view(), name="api-guild"),
    path("users/@me/guilds", guilds.MyGuildsView.as_view(), name="api-my-guilds"),
    path("users/@me/guilds/<id:guild_id>", guilds.LeaveGuildView.as_view(), name="api-leave-guild"),
    path("directory", guilds.DirectoryView.as_view(), name="api-directory"),
    path(
        "guilds/<id:guild_id>/channels",
        channels.GuildChannelsView.as_view(),
        name="api-guild-channels",
    ),
    path("channels/<id:channel_id>", channels.ChannelView.as_view(), name="api-channel"),
    path(
        "channels/<id:channel_id>/permissions/<id:overwrite_id>",
        channels.OverwriteView.as_view(),
        name="api-channel-overwrite",
    ),
    path("guilds/<id:guild_id>/roles", roles.GuildRolesView.as_view(), name="api-guild-roles"),
    path(
        "guilds/<id:guild_id>/roles/<id:role_id>", roles.RoleView.as_view(), name="api-guild-role"
    ),
    path("guilds/<id:guild_id>/members", roles.MembersView.as_view(), name="api-members"),
    path(
        "guilds/<id:guild_id>/members/<id:user_id>/roles/<id:role_id>",
        roles.MemberRoleView.as_view(),
        name="api-member-role",
    ),
    path(
        "channels/<id:channel_id>/invites",
        invites.ChannelInvitesView.as_view(),
        name="api-channel-invites",
    ),
    path(
        "guilds/<id:guild_id>/invites",
        invites.GuildInvitesView.as_view(),
        name="api-guild-invites",
    ),
    path("invites/<str:code>", invites.InviteView.as_view(), name="api-invite"),
]

urlpatterns = [
    path("invite/<str:code>", views.invite_page, name="guild-invite"),
    path("directory/", views.directory_page, name="guild-directory"),
]
