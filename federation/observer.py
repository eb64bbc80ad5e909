"""Federation hears every stored gateway event of a guild (united.events.observe), inside
the transaction of the change, and turns it into outgoing activities: a replica's local
changes go to the guild's host (federation.mirror); a hosted guild's changes go to the nodes
of its remote members (federation.hosting) and to fediverse followers of its announcement
channels (federation.publicchannel). The outbox rows commit with the change or not at all.
Who made the change is the event's `actor_id`, which the service's `do_*` was given by its
door (API, web, admin, job, command): a replica's change goes to the host as that member.
A change whose `origin` is set is a copy of a remote node's change (what the host announced,
applied by federation.mirror): it is never sent anywhere, least of all back to that node."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Subquery, Value

from federation.models import ChannelFollower, GuildLink
from united.events import Published

# Events whose subject may have left (or never be) a member: their node must hear them anyway.
MEMBER_EXIT = frozenset({"GUILD_MEMBER_REMOVE", "GUILD_BAN_ADD", "GUILD_BAN_REMOVE"})


def on_event(event: Published) -> None:
    group, t, d = event.group, event.t, event.d
    if not group.startswith("guild."):
        return
    from federation import hosting, mirror, publicchannel
    from guilds.models import Guild, Member

    guild_id = int(group.split(".", 1)[1])
    channel_id = d.get("channel_id") if t.startswith("MESSAGE_") else None
    # One statement decides where a change goes (it was three on every message of a guild that
    # federates with nobody, the common case): the guild's link if this node is a replica,
    # whether any member is remote, whether the message's channel has fediverse followers.
    flags = (
        Guild.objects.filter(id=guild_id)
        .annotate(
            link_id=Subquery(GuildLink.objects.filter(guild_id=OuterRef("id")).values("id")[:1]),
            remote_members=Exists(
                Member.objects.filter(guild_id=OuterRef("id"), user__remote_identity__isnull=False)
            ),
            followed=Exists(ChannelFollower.objects.filter(channel_id=int(channel_id)))
            if channel_id
            else Value(False),
        )
        .values_list("link_id", "remote_members", "followed")
        .first()
    )
    # No row: the guild is gone (its deletion's own events), and with it its link and members.
    link_id, remote_members, followed = flags or (None, False, False)
    if link_id is not None:
        link = GuildLink.objects.get(id=link_id)
        if event.origin is None:  # the host's own change (origin: the host) stays here
            mirror.on_local_event(link, t, d, event.actor_id)
        return
    if event.origin is not None:
        return  # a copy of another node's change: that node fans it out, not us
    if remote_members or t in MEMBER_EXIT:
        hosting.on_event(guild_id, t, d)
    if followed:
        publicchannel.on_event(guild_id, t, d)
