"""What the chat shell shows around the message pane, assembled from the owning services:
the guild rail (unread dot, mention badge), one guild's channel tree and its member list.
Nothing here decides access; every list comes from a service that already filtered it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from guilds import permissions as perms
from guilds.models import TEXT_TYPES, Channel, ChannelType
from guilds.services.access import GuildContext, guild_context, visible_channels
from guilds.services.guilds import list_user_guilds
from guilds.services.member_list import MemberPage, member_page, online_members
from messaging.presence import guild_presences, store
from messaging.services.readstates import read_states
from messaging.services.threads import thread_summaries
from united.errors import NotFound


@dataclass
class ChannelItem:
    channel: Channel
    unread: bool = False
    mentions: int = 0
    muted: bool = False
    last_read_id: int = 0
    # A followed thread of this channel has replies the member has not read.
    thread_unread: bool = False

    @property
    def is_text(self) -> bool:
        return self.channel.type in TEXT_TYPES

    @property
    def is_voice(self) -> bool:
        return self.channel.type == ChannelType.GUILD_VOICE


@dataclass
class Category:
    channel: Channel | None
    items: list[ChannelItem] = field(default_factory=list)

    @property
    def default_type(self) -> int:
        """What its "+" creates first: a voice channel in a category of voice channels (or an
        empty one named for voice, as the new guild's "Voice Channels" is), else text."""
        if self.items:
            voice = all(item.is_voice for item in self.items)
        else:
            voice = self.channel is not None and "voice" in self.channel.name.lower()
        return ChannelType.GUILD_VOICE if voice else ChannelType.GUILD_TEXT


def initials(name: str) -> str:
    words = [w for w in name.replace("-", " ").split() if w]
    letters = "".join(w[0] for w in words[:2]) if len(words) > 1 else name[:2]
    return letters.upper()


def _states(user, channels: list[Channel]) -> dict[int, dict[str, Any]]:
    text = [c for c in channels if c.type in TEXT_TYPES]
    return {int(s["id"]): s for s in read_states(user, text)}


def channel_items(user, ctx: GuildContext) -> list[ChannelItem]:
    """The channels of the tree. Threads are not entries of their own: their mentions count
    on their channel, and a followed thread with unread replies marks it unread."""
    visible = [c for c, _ in visible_channels(ctx)]
    channels = [c for c in visible if c.type != ChannelType.PUBLIC_THREAD]
    states = _states(user, channels)
    items = []
    for channel in channels:
        state = states.get(channel.id, {})
        items.append(
            ChannelItem(
                channel,
                unread=bool(state.get("unread")),
                mentions=int(state.get("mention_count") or 0),
                muted=bool(state.get("muted")),
                last_read_id=int(state.get("last_message_id") or 0),
            )
        )
    by_id = {item.channel.id: item for item in items}
    threads = [c for c in visible if c.type == ChannelType.PUBLIC_THREAD and c.parent_id in by_id]
    for summary in thread_summaries(user, threads).values():
        parent = by_id[summary.thread.parent_id]  # type: ignore[index]
        if parent.muted:
            continue  # a muted channel's threads are quiet with it
        parent.mentions += summary.mentions
        parent.thread_unread = parent.thread_unread or summary.unread
    return items


def channel_tree(items: list[ChannelItem]) -> list[Category]:
    """Uncategorised channels first, then each category with its children (Discord's order)."""
    loose = Category(None)
    categories: dict[int, Category] = {}
    for item in items:
        if item.channel.type == ChannelType.GUILD_CATEGORY:
            categories[item.channel.id] = Category(item.channel)
    for item in items:
        if item.channel.type == ChannelType.GUILD_CATEGORY:
            continue
        parent = categories.get(item.channel.parent_id or 0)
        (parent or loose).items.append(item)
    tree = [loose] if loose.items else []
    # Categories are built from channels: never None here.
    return tree + sorted(categories.values(), key=lambda c: (c.channel.position, c.channel.id))  # type: ignore[union-attr]


def default_channel(ctx: GuildContext, items: list[ChannelItem]) -> Channel | None:
    text = [i.channel for i in items if i.is_text]
    preferred = ctx.guild.default_channel_id
    for channel in text:
        if channel.id == preferred:
            return channel
    return text[0] if text else None


def rail(user) -> list[dict[str, Any]]:
    """The user's guilds with an unread dot and a mention badge each."""
    from federation.models import GuildLink

    out = []
    guilds = list_user_guilds(user)
    hosts = dict(
        GuildLink.objects.filter(guild_id__in=[int(g["id"]) for g in guilds]).values_list(
            "guild_id", "domain"
        )
    )
    for entry in guilds:
        try:
            ctx = guild_context(user, int(entry["id"]))
        except NotFound:
            # Suspended by the operator (or gone since the list was read): the rail leaves it
            # out, as clients drop a guild the gateway marks unavailable, instead of every
            # page of its members answering 404.
            continue
        items = channel_items(user, ctx)
        out.append(
            {
                "id": entry["id"],
                "name": entry["name"],
                "initials": initials(entry["name"]),
                "unread": any(i.unread or i.thread_unread for i in items),
                "mentions": sum(i.mentions for i in items),
                "remote": hosts.get(int(entry["id"]), ""),
            }
        )
    return out


def members(ctx: GuildContext, start: int = 0) -> MemberPage:
    """One page of the member list (hoisted roles, online, offline), each member with a
    status; the first page unless `start` says where the page begins. Presence comes from
    the node's connected users, so a page never reads every member of a large guild."""
    candidates = online_members(ctx.guild, store().live_users())
    statuses = {int(p["user"]["id"]): p["status"] for p in guild_presences(candidates)}
    page = member_page(ctx.guild, set(statuses), start=start)
    for group in page.groups:
        for member in group.members:
            member["color"] = role_color(ctx, member["roles"])
            member["status"] = statuses.get(int(member["user"]["id"]), "offline")
            shown = member["nick"] or member["user"]["global_name"] or member["user"]["username"]
            member["shown_name"] = shown
            member["initials"] = initials(shown)
    return page


def role_color(ctx: GuildContext, role_ids: list[str]) -> str:
    """A member's name colour: that of their highest role that has one (Discord's rule)."""
    held = [ctx.roles[int(r)] for r in role_ids if int(r) in ctx.roles]
    colored = [r for r in held if r.color]
    top = max(colored, key=lambda r: r.position, default=None)
    return f"#{top.color:06x}" if top else ""


def can(ctx: GuildContext, flag: int, channel: Channel | None = None) -> bool:
    granted = ctx.base if channel is None else ctx.channel_permissions(channel)
    return perms.has(granted, flag)
