"""Small management actions reachable from the chat shell: create a channel of any type or a
category (a channel optionally private: @everyone denied VIEW_CHANNEL) and create an invite.
Permission checks stay in the guild services."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.requests import AuthedHttpRequest
from guilds import permissions as perms
from guilds.models import TEXT_TYPES, ChannelType, PermissionOverwrite
from guilds.serialize import invite_urls
from guilds.services.channels import check_create_channel
from guilds.services.invites import check_create_invite
from united.errors import APIError
from web.views.common import member_view


@require_POST
@member_view
def create_channel(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    kind = request.POST.get("type") or "0"
    data: dict = {
        "name": request.POST.get("name", ""),
        # Anything but a small number is refused by the service's own type check.
        "type": int(kind) if kind.isascii() and kind.isdigit() and len(kind) < 3 else -1,
    }
    parent = request.POST.get("parent_id")
    if parent and data["type"] != ChannelType.GUILD_CATEGORY:
        data["parent_id"] = parent
    if request.POST.get("private") == "1":
        data["permission_overwrites"] = [
            {
                "id": str(guild_id),
                "type": PermissionOverwrite.ROLE,
                "allow": "0",
                "deny": str(int(perms.P.VIEW_CHANNEL)),
            },
            {
                "id": str(request.user.id),
                "type": PermissionOverwrite.MEMBER,
                "allow": str(int(perms.P.VIEW_CHANNEL)),
                "deny": "0",
            },
        ]
    try:
        channel = check_create_channel(request.user, guild_id, data)
    except APIError as exc:
        if exc.status == 404:
            raise
        messages = [m for errs in exc.errors.values() for m in errs] or [exc.message]
        return render(request, "web/_form_error.html", {"messages": messages}, status=exc.status)
    if channel.type not in TEXT_TYPES:
        # Nothing to open: a voice channel is joined from the list, a category holds others.
        # The dialog closes and the channel list refreshes in place; no reload, so a voice
        # call or a half-written message on the page goes on undisturbed.
        if getattr(request, "htmx", False):
            done = HttpResponse(status=204)
            done["HX-Trigger"] = json.dumps({"refresh-channels": True, "united:dialog-done": True})
            return done
        return redirect("web-guild", guild_id=guild_id)
    response: HttpResponse = redirect("web-channel", guild_id=guild_id, channel_id=channel.id)
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = f"/app/guilds/{guild_id}/channels/{channel.id}/"
    return response


@require_POST
@member_view
def create_invite(request: AuthedHttpRequest, channel_id: int) -> HttpResponse:
    invite = check_create_invite(request.user, channel_id, {"max_age": 7 * 86400})
    links = invite_urls(invite.code)
    local = request.build_absolute_uri(f"/invite/{invite.code}")
    return render(
        request, "web/_invite.html", {"invite": invite, "links": links, "local_url": local}
    )
