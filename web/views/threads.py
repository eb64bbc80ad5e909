"""Threads in the chat client: start one from a message, the panel beside the channel (its
page is the channel's with the panel open, so a reload keeps it), the channel's thread list
and the Follow button. Every check is the messaging services' own."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.requests import AuthedHttpRequest
from guilds import permissions as perms
from guilds.models import ChannelType
from guilds.services.access import ChannelAccess
from messaging.models import Message
from messaging.services import messages as message_services
from messaging.services.access import access_text_channel
from messaging.services.readstates import read_states
from messaging.services.threads import channel_threads, check_follow_thread, thread_summaries
from united.errors import APIError
from web import timeline
from web.htmx import render_fragment
from web.views.common import member_view

PAGE = 50


def can_start_thread(access: ChannelAccess) -> bool:
    """Whether the message menu offers "Create thread" (check_start_thread decides again)."""
    return (
        access.ctx is not None
        and access.channel.type != ChannelType.PUBLIC_THREAD
        and perms.has(access.permissions, perms.P.SEND_MESSAGES | perms.P.CREATE_PUBLIC_THREADS)
    )


def thread_url(guild_id: int, channel_id: int, thread_id: int) -> str:
    return reverse(
        "web-thread",
        kwargs={"guild_id": guild_id, "channel_id": channel_id, "thread_id": thread_id},
    )


def panel_context(
    request: AuthedHttpRequest,
    channel_id: int,
    thread_id: int,
    *,
    names: dict[str, str],
    channels: dict[str, str],
    role_ids: set[str],
) -> dict[str, Any]:
    """What the thread panel draws: the starter message, the newest replies with the unread
    divider, and what the viewer may do there (their rights on the parent channel)."""
    access = access_text_channel(request.user, thread_id)
    thread = access.channel
    if thread.type != ChannelType.PUBLIC_THREAD or thread.parent_id != channel_id:
        raise Http404
    user = request.user
    rows = message_services.history(user, thread_id, limit=PAGE)[::-1]
    state = read_states(user, [thread])[0]
    last_read = int(state["last_message_id"] or 0)
    unread_id = timeline.first_unread_id(user, thread, last_read) if state["unread"] else None
    replies = timeline.annotate(
        user, rows, names=names, channels=channels, role_ids=role_ids, first_unread=unread_id
    )
    starter_id = Message.objects.filter(thread=thread).values_list("id", flat=True).first()
    starter = None
    if starter_id is not None:
        data = message_services.get_message(user, channel_id, starter_id)
        (starter,) = timeline.annotate(user, [data], names=names, channels=channels)
    summary = thread_summaries(user, [thread])[thread.id]
    granted = access.permissions
    return {
        "thread": thread,
        "thread_summary": summary,
        "thread_starter": starter,
        "thread_messages": replies,
        "thread_has_more": len(rows) == PAGE,
        "thread_can_send": perms.has(granted, perms.P.SEND_MESSAGES),
        "thread_can_attach": perms.has(granted, perms.P.SEND_MESSAGES | perms.P.ATTACH_FILES),
        "thread_can_react": perms.has(granted, perms.P.ADD_REACTIONS),
        "thread_can_manage": perms.has(granted, perms.P.MANAGE_MESSAGES),
        "thread_slowmode": 0
        if perms.has(granted, perms.P.MANAGE_MESSAGES | perms.P.MANAGE_CHANNELS)
        else thread.rate_limit_per_user,
    }


@require_POST
@member_view
def start(request: AuthedHttpRequest, channel_id: int, message_id: int) -> HttpResponse:
    """The "Create thread" dialog: a refusal is shown in the dialog, success opens the panel."""
    try:
        thread = message_services.check_start_thread(
            request.user, channel_id, message_id, name=request.POST.get("name", "")
        )
    except APIError as exc:
        if exc.status == 404:
            raise
        messages = [m for errs in exc.errors.values() for m in errs] or [exc.message]
        return render(request, "web/_form_error.html", {"messages": messages}, status=exc.status)
    url = thread_url(thread.guild_id, channel_id, thread.id)  # type: ignore[arg-type]
    response = HttpResponse(status=204)
    response["HX-Redirect"] = url
    return response


@member_view
def thread_list(request: AuthedHttpRequest, channel_id: int) -> HttpResponse:
    access = access_text_channel(request.user, channel_id)
    rows = channel_threads(request.user, channel_id)
    return render_fragment(
        request,
        "web/_threads.html",
        {
            "channel": access.channel,
            "active": [r for r in rows if r.active],
            "older": [r for r in rows if not r.active],
        },
    )


@require_POST
@member_view
def follow(request: AuthedHttpRequest, channel_id: int) -> HttpResponse:
    following = request.POST.get("following") == "1"
    thread = check_follow_thread(request.user, channel_id, following=following)
    return render_fragment(
        request, "web/_thread_follow.html", {"thread": thread, "following": following}
    )
