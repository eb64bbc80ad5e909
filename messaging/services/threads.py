"""Following threads, and what a member's thread list and a starter message's link show.

A thread is a channel (`PUBLIC_THREAD`) linked to its starter message; it has no permissions
of its own (access.py). Who follows it is a `ThreadFollow` row; where they have read to is
their `ReadState` on it, like any channel. A member follows a thread they start, reply in or
are mentioned in, as Discord adds thread members, and may follow or unfollow by hand. Only
followed threads turn unread; a mention counts whether followed or not, as in a channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q
from django.utils import timezone

from guilds.models import Channel, ChannelType, Member
from messaging.models import Message, ReadState, ThreadFollow
from messaging.services.access import access_text_channel, can_read_history
from united import events
from united.errors import Invalid

# A thread with a reply (or started) this recently is "active": listed first.
ACTIVE_FOR = timedelta(days=7)


@dataclass
class ThreadSummary:
    thread: Channel
    starter_id: int | None
    reply_count: int
    last_message_id: int
    last_reply_at: datetime | None
    following: bool
    unread: bool
    mentions: int

    @property
    def last_activity(self) -> datetime:
        return self.last_reply_at or self.thread.created_at

    @property
    def active(self) -> bool:
        return timezone.now() - self.last_activity < ACTIVE_FOR

    def serialize(self) -> dict[str, Any]:
        from guilds.serialize import serialize_channel

        data = serialize_channel(self.thread)
        data.update(
            message_count=self.reply_count,
            last_message_id=str(self.last_message_id) if self.last_message_id else None,
            starter_message_id=str(self.starter_id) if self.starter_id else None,
            following=self.following,
            unread=self.unread,
            mention_count=self.mentions,
        )
        return data


def _access_thread(user, thread_id: int) -> Channel:
    access = access_text_channel(user, thread_id)
    if access.channel.type != ChannelType.PUBLIC_THREAD:
        raise Invalid(errors={"channel_id": ["Not a thread."]})
    return access.channel


def do_follow_thread(user, thread: Channel, *, following: bool = True) -> bool:
    """Follow or unfollow; False when nothing changed. The member's other sessions hear of it
    (THREAD_MEMBER_UPDATE on their own group), so every open tab shows the same state."""
    if following:
        _row, changed = ThreadFollow.objects.get_or_create(thread=thread, user=user)
    else:
        changed = bool(ThreadFollow.objects.filter(thread=thread, user=user).delete()[0])
    if changed:
        events.broadcast(
            events.user_group(user.id),
            "THREAD_MEMBER_UPDATE",
            {
                "id": str(thread.id),
                "guild_id": str(thread.guild_id) if thread.guild_id else None,
                "parent_id": str(thread.parent_id) if thread.parent_id else None,
                "user_id": str(user.id),
                "following": following,
            },
        )
    return changed


def check_follow_thread(user, thread_id: int, *, following: bool) -> Channel:
    thread = _access_thread(user, thread_id)
    do_follow_thread(user, thread, following=following)
    return thread


def follow_on_send(thread: Channel, author, mentioned_ids: list[int]) -> None:
    """A reply makes its author follow the thread, and a mention the members it names
    (do_send_message calls this for messages in threads)."""
    if author is not None:
        do_follow_thread(author, thread)
    if not mentioned_ids or thread.guild_id is None:
        return
    from accounts.models import User

    members = Member.objects.filter(guild_id=thread.guild_id, user_id__in=mentioned_ids)
    for user in User.objects.filter(id__in=members.values("user_id")):
        do_follow_thread(user, thread)


def thread_summaries(user, threads: list[Channel]) -> dict[int, ThreadSummary]:
    """Reply count, last reply, follow and unread state and mentions of `user`, per thread,
    in a fixed number of queries however many threads there are. The caller has already
    decided `user` may read them."""
    if not threads:
        return {}
    ids = [t.id for t in threads]
    live = Message.objects.live().filter(channel_id__in=ids)
    totals = {
        row["channel_id"]: row
        for row in live.values("channel_id").annotate(
            n=Count("id"), last=Max("id"), at=Max("created_at")
        )
    }
    read = dict(
        ReadState.objects.filter(user=user, channel_id__in=ids).values_list(
            "channel_id", "last_message_id"
        )
    )
    followed = set(
        ThreadFollow.objects.filter(user=user, thread_id__in=ids).values_list(
            "thread_id", flat=True
        )
    )
    starters = dict(Message.objects.filter(thread_id__in=ids).values_list("thread_id", "id"))
    # Only threads with something past the reader's marker need looking into.
    behind = Q()
    for tid, row in totals.items():
        if row["last"] > read.get(tid, 0):
            behind |= Q(channel_id=tid, id__gt=read.get(tid, 0))
    unread: set[int] = set()
    mentions: dict[int, int] = {}
    if behind:
        newer = live.filter(behind).exclude(author=user)
        unread = set(newer.values_list("channel_id", flat=True).distinct())
        role_ids = list(
            Member.roles.through.objects.filter(
                member__user=user, member__guild_id__in={t.guild_id for t in threads}
            ).values_list("role_id", flat=True)
        )
        mentioned = newer.filter(
            Q(mentions=user) | Q(mention_everyone=True) | Q(mention_roles__in=role_ids)
        )
        mentions = dict(
            mentioned.values("channel_id")
            .annotate(n=Count("id", distinct=True))
            .values_list("channel_id", "n")
        )
    out = {}
    for thread in threads:
        total = totals.get(thread.id)
        out[thread.id] = ThreadSummary(
            thread=thread,
            starter_id=starters.get(thread.id),
            reply_count=total["n"] if total else 0,
            last_message_id=total["last"] if total else 0,
            last_reply_at=total["at"] if total else None,
            following=thread.id in followed,
            unread=thread.id in followed and thread.id in unread,
            mentions=mentions.get(thread.id, 0),
        )
    return out


def channel_threads(user, channel_id: int) -> list[ThreadSummary]:
    """The threads started in a channel, for someone who may read it: active ones first
    (see ACTIVE_FOR), most recent activity first within each group."""
    access = access_text_channel(user, channel_id)
    if access.channel.type == ChannelType.PUBLIC_THREAD:
        raise Invalid(errors={"channel_id": ["Threads have no threads of their own."]})
    if not can_read_history(access):
        return []
    threads = list(Channel.objects.filter(parent=access.channel, type=ChannelType.PUBLIC_THREAD))
    summaries = list(thread_summaries(user, threads).values())
    return sorted(summaries, key=lambda s: (not s.active, -s.last_activity.timestamp()))
