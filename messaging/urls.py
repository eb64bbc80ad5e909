from django.urls import path

from messaging import api

M = "channels/<id:channel_id>/messages/<id:message_id>"

api_urlpatterns = [
    path("channels/<id:channel_id>/messages", api.ChannelMessages.as_view()),
    path(M, api.ChannelMessage.as_view()),
    path(f"{M}/reactions/<str:emoji>/@me", api.OwnReaction.as_view()),
    path(f"{M}/reactions/<str:emoji>/<id:user_id>", api.UserReaction.as_view()),
    path(f"{M}/reactions/<str:emoji>", api.Reactors.as_view()),
    path(f"{M}/ack", api.Ack.as_view()),
    path(f"{M}/threads", api.StartThread.as_view()),
    path("channels/<id:channel_id>/threads", api.ChannelThreads.as_view()),
    path("channels/<id:channel_id>/thread-members/@me", api.OwnThreadMember.as_view()),
    path("channels/<id:channel_id>/pins", api.Pins.as_view()),
    path("channels/<id:channel_id>/pins/<id:message_id>", api.Pin.as_view()),
    path("channels/<id:channel_id>/typing", api.Typing.as_view()),
    path("users/@me/channels", api.PrivateChannels.as_view()),
    path("channels/<id:channel_id>/recipients/@me", api.LeaveGroupDM.as_view()),
    path("channels/<id:channel_id>/recipients/<id:user_id>", api.GroupDMRecipient.as_view()),
    path("guilds/<id:guild_id>/messages/search", api.GuildMessageSearch.as_view()),
]
