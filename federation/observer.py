"""Federation hears every stored gateway event of a guild (messaging.events.observe), inside
the transaction of the change, and turns it into outgoing activities: a replica's local
changes go to the guild's host (federation.mirror); a hosted guild's changes go to the nodes
of its remote members (federation.hosting) and to fediverse followers of its announcement
channels (federation.publicchannel). The outbox rows commit with the change or not at all."""

from __future__ import annotations

from typing import Any

from federation.models import ChannelFollower, GuildLink

MEMBER_EXIT = frozenset({"GUILD_MEMBER_REMOVE", "GUILD_BAN_ADD"})


def on_event(group: str, t: str, d: dict[str, Any]) -> None:
    if not group.startswith("guild."):
        return
    from federation import hosting, mirror, publicchannel
    from guilds.models import Member

    guild_id = int(group.split(".", 1)[1])
    link = GuildLink.objects.filter(guild_id=guild_id).first()
    if link is not None:
        mirror.on_local_event(link, t, d)
        return
    if mirror.is_applying():
        return
    remote_members = Member.objects.filter(
        guild_id=guild_id, user__remote_identity__isnull=False
    ).exists()
    if remote_members or t in MEMBER_EXIT:
        hosting.on_event(guild_id, t, d)
    channel_id = d.get("channel_id")
    if (
        t.startswith("MESSAGE_")
        and channel_id
        and ChannelFollower.objects.filter(channel_id=int(channel_id)).exists()
    ):
        publicchannel.on_event(guild_id, t, d)
