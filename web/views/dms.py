"""End-to-end encrypted DMs in the web client. The server renders only the frame (who is in
the conversation); static/src/e2e-chat.js fetches envelopes and decrypts them in the browser,
so no message text ever passes through these views."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect, render

from accounts.models import User
from accounts.requests import AuthedHttpRequest
from accounts.services import ratelimit
from e2e.services import access_dm_channel, last_activity
from guilds.models import ChannelType, Member
from messaging import presence
from messaging.services.dms import (
    check_create_group_dm,
    check_leave_group_dm,
    check_open_dm,
    check_remove_group_member,
    list_dms,
)
from united.errors import APIError, Invalid
from web import sidebar
from web.sidebar import initials
from web.views.common import member_view


def _conversation(d: dict, me: str, last: dict[int, int]) -> dict:
    """One row of the DM list: who is in it (the others' names and initials), for the avatars
    and the label; the preview and the unread count are drawn in the browser from what the
    device decrypted (static/src/e2e-chat/sidebar.js)."""
    others = [u for u in d["recipients"] if u["id"] != me]
    names = [u.get("global_name") or u["username"] for u in others]
    return {
        "id": d["id"],
        "label": d["name"] or ", ".join(names),
        "group": len(others) > 1,
        "avatars": [initials(n) for n in names[:2]],
        "handle": (
            f"@{others[0]['username']}"
            if len(others) == 1
            else f"{len(others) + 1} members"
            if others
            else "Only you"
        ),
        "last": last.get(int(d["id"]), 0),
    }


def _frame(request: AuthedHttpRequest) -> dict:
    guild_ids = Member.objects.filter(user=request.user).values_list("guild_id", flat=True)
    people = (
        User.objects.filter(memberships__guild_id__in=guild_ids, is_active=True)
        .exclude(id=request.user.id)
        .distinct()
        .order_by("username")
    )
    found = list_dms(request.user)
    last = last_activity([int(d["id"]) for d in found])
    dms = [_conversation(d, str(request.user.id), last) for d in found]
    # The most recent conversation first (ids are time-sortable), new empty ones by creation.
    dms.sort(key=lambda d: (d["last"], int(d["id"])), reverse=True)
    return {
        "rail": sidebar.rail(request.user),
        "rail_current": "dms",  # the rail marks its DM button as the current place
        "dms": dms,
        "people": [{"user": p, "initials": initials(p.shown_name)} for p in people],
        "my_status": presence.chosen(request.user).status,
    }


@member_view
def dm_list(request: AuthedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        ratelimit.limit("dm_request", request, request.user.id)
    if request.method == "POST" and "handle" in request.POST:  # name@node, any node
        handle = request.POST["handle"].strip()
        try:
            if "@" not in handle.lstrip("@"):
                raise Invalid("Type a handle like name@node.")
            channel, _ = check_open_dm(request.user, handle)
        except APIError as exc:
            context = {**_frame(request), "handle": handle, "handle_error": exc.message}
            context["new_dm_open"] = True  # the error shows in the dialog it was typed in
            return render(request, "web/dm.html", context, status=exc.status)
        return redirect("web-dm", channel_id=channel.id)
    if request.method == "POST" and "members" in request.POST:  # a group, any nodes
        typed = request.POST["members"]
        try:
            channel = check_create_group_dm(
                request.user, _member_list(typed), request.POST.get("name") or None
            )
        except APIError as exc:
            context = {**_frame(request), "members_typed": typed, "group_error": _said(exc)}
            context["new_dm_open"] = True  # the error shows in the dialog it was typed in
            return render(request, "web/dm.html", context, status=exc.status)
        return redirect("web-dm", channel_id=channel.id)
    if request.method == "POST":
        channel, _ = check_open_dm(request.user, request.POST.get("recipient_id"))
        return redirect("web-dm", channel_id=channel.id)
    return render(request, "web/dm.html", _frame(request))


def _member_list(typed: str) -> list[str]:
    """`bob, carol@node.example` → ids for this node's members, handles for the others."""
    names = [n.strip().lstrip("@") for n in typed.replace(",", " ").split() if n.strip("@ ")]
    if not names:
        raise Invalid(errors={"recipients": ["Type at least one name."]})
    out = []
    for name in names:
        if "@" in name:
            out.append(name)
            continue
        found = User.objects.filter(username__iexact=name, is_active=True).first()
        if found is None:
            raise Invalid(f"No one here is called {name}.")
        out.append(str(found.id))
    return out


def _said(exc: APIError) -> str:
    """The error and its field details, as one sentence for the form."""
    details = [m for msgs in (exc.errors or {}).values() for m in msgs]
    return " ".join([exc.message, *details]) if details else exc.message


def _node_of(user: User) -> str:
    """Where a member lives: the `node` of a `name@node` account, else this node."""
    name, at, node = user.username.partition("@")
    return node if at else settings.FEDERATION_DOMAIN


@member_view
def dm_leave(request: AuthedHttpRequest, channel_id: int) -> HttpResponse:
    if request.method == "POST":
        check_leave_group_dm(request.user, channel_id)
    return redirect("web-dms")


@member_view
def dm_remove(request: AuthedHttpRequest, channel_id: int, user_id: int) -> HttpResponse:
    if request.method == "POST":
        check_remove_group_member(request.user, channel_id, user_id)
    return redirect("web-dm", channel_id=channel_id)


@member_view
def dm(request: AuthedHttpRequest, channel_id: int) -> HttpResponse:
    channel = access_dm_channel(request.user, channel_id)
    recipients = list(channel.recipients.order_by("id"))
    others = [u for u in recipients if u.id != request.user.id]
    return render(
        request,
        "web/dm.html",
        {
            **_frame(request),
            "dm": channel,
            "title": channel.name or ", ".join(u.shown_name for u in others) or "Just you",
            "avatars": [initials(u.shown_name) for u in others[:2]],
            "recipients_json": json.dumps([str(u.id) for u in recipients]),
            "names_json": json.dumps({str(u.id): u.shown_name for u in recipients}),
            "members": [
                {
                    "id": u.id,
                    "name": u.shown_name,
                    "handle": u.username.partition("@")[0],
                    "node": _node_of(u),
                    "me": u.id == request.user.id,
                    "owner": u.id == channel.owner_id,
                }
                for u in recipients
            ],
            "is_group": channel.type == ChannelType.GROUP_DM,
            "is_owner": channel.owner_id == request.user.id,
        },
    )
