"""Turns the messaging service's Discord-shaped message dicts into what the pane draws: day
separators, runs of consecutive messages by one author, the unread divider, mentions of the
viewer, and the quoted original of a reply."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django.utils.html import escape

from bots import embeds_view as embeds
from messaging.services.messages import get_message
from united.errors import APIError
from web.media import layout

GROUP_WINDOW = timedelta(minutes=7)
_MENTION = re.compile(r"&lt;(@!?|@&amp;|#)(\d{1,20})&gt;")


def shown_name(author: dict[str, Any] | None) -> str:
    if not author:
        return "Deleted user"
    return author.get("global_name") or author["username"]


def mentionize(
    html: str,
    names: dict[str, str],
    channels: dict[str, str],
    departed: dict[str, str] | None = None,
) -> str:
    """`content_html` is sanitised and shows `<@id>` escaped; draw those as mention chips.
    Only ids and already-escaped names go into the markup. `departed` names people who are
    no longer members (left, kicked, banned): their chip is greyed, never a raw `<@id>`."""
    departed = departed or {}

    def chip(match: re.Match) -> str:
        kind, ident = match.group(1), match.group(2)
        if kind == "#":
            name = channels.get(ident)
            return f'<span class="mention">#{escape(name)}</span>' if name else match.group(0)
        if kind == "@&amp;":
            return match.group(0)
        name = names.get(ident)
        if name:
            return f'<span class="mention">@{escape(name)}</span>'
        gone = departed.get(ident) or "unknown user"
        return (
            f'<span class="mention departed">@{escape(gone)}'
            '<span class="visually-hidden"> (not a member)</span></span>'
        )

    return _MENTION.sub(chip, html)


_USER_IDS = re.compile(r"&lt;@!?(\d{1,20})&gt;")


def departed_names(messages: list[dict[str, Any]], names: dict[str, str]) -> dict[str, str]:
    """Names of the people these messages mention who are not members any more: from the
    message's own `mentions` (kept when someone leaves), else their account, in one query."""
    found: dict[str, str] = {}
    for message in messages:
        for mentioned in message.get("mentions") or ():
            if mentioned["id"] not in names:
                found[mentioned["id"]] = shown_name(mentioned)
    missing = {
        ident
        for message in messages
        for ident in _USER_IDS.findall(message.get("content_html") or "")
        if ident not in names and ident not in found
    }
    if missing:
        from accounts.models import User

        for user in User.objects.filter(id__in=[int(i) for i in missing]):
            found[str(user.id)] = user.shown_name
    return found


def annotate(
    user,
    messages: list[dict[str, Any]],
    *,
    names: dict[str, str],
    channels: dict[str, str],
    role_ids: set[str] | frozenset[str] = frozenset(),
    first_unread: int | None = None,
    previous: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """`messages` oldest first; `previous` is the message drawn just above them, if any;
    `first_unread` gets the "new messages" divider if it is among them."""
    me = str(user.id)
    unread_marked = False
    departed = departed_names(messages, names)
    for message in messages:
        moment = datetime.fromisoformat(message["timestamp"])
        message["moment"] = moment
        message["author_name"] = shown_name(message["author"])
        message["author_initials"] = message["author_name"][:2].upper()
        message["mine"] = bool(message["author"]) and message["author"]["id"] == me
        message["html"] = mentionize(message["content_html"], names, channels, departed)
        if message.get("attachments"):
            message["media"] = layout(message["attachments"])
        if message.get("embeds"):
            message["embeds_view"] = embeds.view(message["embeds"])
        message["mentioned"] = (
            message["mention_everyone"]
            or any(u["id"] == me for u in message["mentions"])
            or bool(role_ids & set(message["mention_roles"]))
        )
        before = previous
        message["new_day"] = before is None or before["moment"].date() != moment.date()
        message["grouped"] = bool(
            before
            and not message["new_day"]
            and "message_reference" not in message
            and before["author"]
            and message["author"]
            and before["author"]["id"] == message["author"]["id"]
            # One webhook posts under many names: a new name is a new run.
            and before["author"].get("username") == message["author"].get("username")
            and moment - before["moment"] < GROUP_WINDOW
        )
        if not unread_marked and first_unread is not None and int(message["id"]) == first_unread:
            message["first_unread"] = unread_marked = True
            message["grouped"] = False
        reference = message.get("message_reference")
        if reference:
            message["replied"] = _original(user, reference, names, channels)
        previous = message
    _thread_links(user, messages)
    from federation.mirror import annotate_delivery

    annotate_delivery(messages)  # sending / delivered / failed, for messages to remote guilds
    return messages


def first_unread_id(user, channel, last_read_id: int) -> int | None:
    """The oldest message someone else sent after the read marker (read states compare ids,
    like `messaging.services.readstates`)."""
    from messaging.models import Message

    return (
        Message.objects.live()
        .filter(channel=channel, id__gt=last_read_id)
        .exclude(author=user)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )


def _original(user, reference: dict[str, Any], names, channels) -> dict[str, Any] | None:
    try:
        original = get_message(user, int(reference["channel_id"]), int(reference["message_id"]))
    except APIError:
        return None
    return {
        "id": original["id"],
        "author_name": shown_name(original["author"]),
        "deleted": original["deleted"],
        "html": mentionize(
            original["content_html"], names, channels, departed_names([original], names)
        ),
    }


def _thread_links(user, messages: list[dict[str, Any]]) -> None:
    """A starter message shows its thread: name, replies, last reply, unread and mentions
    for the viewer (who reads the thread with the rights they have on this channel)."""
    from guilds.models import Channel, ChannelType
    from messaging.services.threads import thread_summaries

    wanted = {int(m["thread"]["id"]) for m in messages if m.get("thread") and not m["deleted"]}
    if not wanted:
        return
    threads = list(Channel.objects.filter(id__in=wanted, type=ChannelType.PUBLIC_THREAD))
    summaries = thread_summaries(user, threads)
    for message in messages:
        thread = message.get("thread")
        summary = summaries.get(int(thread["id"])) if thread else None
        if summary is not None and not message["deleted"]:
            message["thread_info"] = summary
