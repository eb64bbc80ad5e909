from __future__ import annotations

from guilds.models import Channel, ChannelType
from guilds.permissions import Permissions as P
from guilds.services.access import ChannelAccess, access_channel, unknown_channel

TEXTUAL = frozenset(
    {ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT, ChannelType.PUBLIC_THREAD}
)


def access_text_channel(
    user, channel_id: int, *, lock: bool = False, channel: Channel | None = None
) -> ChannelAccess:
    """The channel if the user can see it and it holds messages, else 404 Unknown Channel.

    A thread has no permissions of its own: a member has in it what they have in its parent.
    """
    from messaging.services.dms import DM_TYPES, access_dm

    if channel is None or channel.id != channel_id:
        channel = Channel.objects.filter(id=channel_id).first()
    if channel is not None and channel.type in DM_TYPES:
        return access_dm(user, channel)
    access = access_channel(user, channel_id, lock=lock, channel=channel)
    if access.channel.type not in TEXTUAL:
        raise unknown_channel()
    if access.channel.type == ChannelType.PUBLIC_THREAD and access.channel.parent_id:
        parent = access_channel(user, access.channel.parent_id)
        return ChannelAccess(parent.ctx, access.channel, parent.permissions)
    return access


def can_read_history(access: ChannelAccess) -> bool:
    return bool(access.permissions & P.READ_MESSAGE_HISTORY)


def readable_channels(user, guild_id: int) -> dict[int, Channel]:
    """Every message channel (threads included) of a guild whose history `user` may read now:
    exactly the channels for which `can_read_history(access_text_channel(user, id))` holds,
    computed in one pass (search filters on this set). 404 Unknown Guild for a non-member.

    This is messaging's answer to "may this member read this history", so whatever makes a
    guild's history readable (a local guild's roles and overwrites today; a remote guild's
    copy on a member's home node with Federation II) must make it here, and search follows.
    tests/search/test_visibility.py holds the two paths to the same answer.
    """
    from guilds.permissions import has
    from guilds.services.access import guild_context, overwrites_by_channel

    ctx = guild_context(user, guild_id)
    table = overwrites_by_channel(ctx.guild.id)
    channels = {c.id: c for c in Channel.objects.filter(guild=ctx.guild, type__in=TEXTUAL)}
    perms: dict[int, int] = {}

    def granted(channel: Channel) -> int:
        if channel.id not in perms:
            perms[channel.id] = ctx.channel_permissions(channel, table)
        return perms[channel.id]

    out = {}
    for channel in channels.values():
        if not has(granted(channel), P.VIEW_CHANNEL):
            continue
        effective = granted(channel)
        if channel.type == ChannelType.PUBLIC_THREAD and channel.parent_id:
            parent = channels.get(channel.parent_id)
            if parent is None:
                parent = Channel.objects.filter(id=channel.parent_id, guild=ctx.guild).first()
            if parent is None or not has(granted(parent), P.VIEW_CHANNEL):
                continue
            effective = granted(parent)
        if effective & P.READ_MESSAGE_HISTORY:
            out[channel.id] = channel
    return out


def channel_of(channel_id: int) -> Channel:
    try:
        return Channel.objects.get(id=channel_id)
    except Channel.DoesNotExist:
        raise unknown_channel() from None


def can_read_channel(user, channel_id: str) -> bool:
    """Media's resolver for attachments sent in a channel: readable by whoever can read the
    channel's history right now (guild permissions, or DM recipients)."""
    from united.errors import APIError

    try:
        return can_read_history(access_text_channel(user, int(channel_id)))
    except (APIError, ValueError):
        return False
