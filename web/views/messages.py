"""Message actions from the pane. Each calls the messaging service and answers with the
server-rendered fragment of what changed; other tabs hear of it through the gateway."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from accounts.requests import AuthedHttpRequest
from guilds import permissions as perms
from guilds.services.access import access_channel
from messaging.services import messages as message_services
from messaging.services import reactions as reaction_services
from messaging.services.readstates import check_mark_read
from united.errors import Invalid, is_outage
from united.ids import parse_snowflake
from web import sidebar, timeline
from web.htmx import render_fragment
from web.views.common import guild_names, member_view
from web.views.threads import can_start_thread

logger = logging.getLogger(__name__)


def _message_context(request: HttpRequest, channel_id: int, message_id: int) -> dict[str, Any]:
    access, _ = message_services.access_message(request.user, channel_id, message_id)
    data = message_services.get_message(request.user, channel_id, message_id)
    items = sidebar.channel_items(request.user, access.ctx)
    (message,) = timeline.annotate(
        request.user,
        [data],
        names=guild_names(access.ctx),
        channels={str(i.channel.id): i.channel.name for i in items},
        role_ids={str(r) for r in access.ctx.role_ids},
    )
    # A lone message has no neighbour here; the client keeps runs grouped by asking with
    # ?grouped=1 when the previous message on screen has the same author.
    message["new_day"] = False
    message["grouped"] = request.GET.get("grouped") == "1" and "message_reference" not in data
    return {
        "message": message,
        "channel": access.channel,
        "can_react": perms.has(access.permissions, perms.P.ADD_REACTIONS),
        "can_manage_messages": perms.has(access.permissions, perms.P.MANAGE_MESSAGES),
        "can_send": perms.has(access.permissions, perms.P.SEND_MESSAGES),
        "can_create_thread": can_start_thread(access),
    }


def _message(request: HttpRequest, channel_id: int, message_id: int, status: int = 200):
    context = _message_context(request, channel_id, message_id)
    return render_fragment(request, "web/_message.html", context, status=status)


@member_view
def fragment(request: HttpRequest, channel_id: int, message_id: int) -> HttpResponse:
    return _message(request, channel_id, message_id)


@require_POST
@member_view
def send(request: HttpRequest, channel_id: int) -> HttpResponse:
    message, created = message_services.check_send_message(
        request.user,
        channel_id,
        content=request.POST.get("content", ""),
        nonce=request.POST.get("nonce") or None,
        reply_to=request.POST.get("reply_to") or None,
        attachments=request.POST.getlist("attachments") or None,
    )
    status = 201 if created else 200
    try:
        return _message(request, channel_id, message.id, status=status)
    except Exception as exc:
        if not is_outage(exc):
            raise
        # The message is committed: an error here would have the member send it again. The
        # answer is empty; the message reaches the pane through the gateway (pane.add).
        logger.warning("message %s sent, its fragment not rendered: %s", message.id, exc)
        return HttpResponse("", status=status)


@require_POST
@member_view
def edit(request: HttpRequest, channel_id: int, message_id: int) -> HttpResponse:
    message_services.check_edit_message(
        request.user, channel_id, message_id, content=request.POST.get("content", "")
    )
    return _message(request, channel_id, message_id)


@require_POST
@member_view
def delete(request: HttpRequest, channel_id: int, message_id: int) -> HttpResponse:
    message_services.check_delete_message(request.user, channel_id, message_id)
    return HttpResponse("")


@require_POST
@member_view
def react(request: HttpRequest, channel_id: int, message_id: int) -> HttpResponse:
    """Toggle: a reaction you already gave is taken back."""
    emoji = request.POST.get("emoji", "")
    mine = any(
        r["emoji"]["name"] == emoji and r.get("me")
        for r in message_services.get_message(request.user, channel_id, message_id)["reactions"]
    )
    if mine:
        reaction_services.check_remove_reaction(request.user, channel_id, message_id, emoji)
    else:
        reaction_services.check_add_reaction(request.user, channel_id, message_id, emoji)
    return _message(request, channel_id, message_id)


@require_POST
@member_view
def pin(request: HttpRequest, channel_id: int, message_id: int) -> HttpResponse:
    message_services.check_pin(
        request.user, channel_id, message_id, pinned=request.POST.get("pinned") == "1"
    )
    return _message(request, channel_id, message_id)


@member_view
def pins(request: AuthedHttpRequest, channel_id: int) -> HttpResponse:
    rows = message_services.pins(request.user, channel_id)
    access = access_channel(request.user, channel_id)
    names = guild_names(access.ctx)
    departed = timeline.departed_names(rows, names)
    for row in rows:
        row["author_name"] = timeline.shown_name(row["author"])
        row["html"] = timeline.mentionize(row["content_html"], names, {}, departed)
    return render_fragment(request, "web/_pins.html", {"pins": rows, "channel": access.channel})


@require_POST
@member_view
def typing(request: HttpRequest, channel_id: int) -> HttpResponse:
    message_services.check_typing(request.user, channel_id)
    return HttpResponse(status=204)


@require_POST
@member_view
def read(request: HttpRequest, channel_id: int) -> HttpResponse:
    message_id = parse_snowflake(request.POST.get("message_id"))
    if message_id is None:
        raise Invalid(errors={"message_id": ["A message id."]})
    check_mark_read(request.user, channel_id, message_id)
    return HttpResponse(status=204)
