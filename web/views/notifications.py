"""A member's notification settings for one community or one channel (its bell in the
community's header and in the channel's header): what notifies them there and a mute for a
while. The rule they feed is messaging.services.notify's, for pushes and badges alike."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from accounts.requests import AuthedHttpRequest
from guilds.services.access import guild_context
from messaging.models import NotifyLevel
from messaging.services.access import access_text_channel
from messaging.services.dms import DM_TYPES
from messaging.services.notify import check_set_notifications, effective, setting_for
from united.errors import APIError
from web import sidebar
from web.views.common import member_view

MUTES = [
    ("off", "Not muted"),
    ("1h", "For 1 hour"),
    ("8h", "For 8 hours"),
    ("24h", "For 24 hours"),
    ("forever", "Until I turn it back on"),
]


def _page(
    request: AuthedHttpRequest, context: dict[str, Any], row: Any, status: int = 200
) -> HttpResponse:
    now = timezone.now()
    muted = row.muted_at(now)
    context.update(
        {
            "row": row,
            "muted": muted,
            "muted_until": row.muted_until if muted else None,
            "mutes": MUTES,
            "rail": sidebar.rail(request.user),
        }
    )
    return render(request, "web/notifications.html", context, status=status)


def _save(request: AuthedHttpRequest, **target: Any) -> tuple[Any, APIError | None]:
    mute = request.POST.get("mute") or None
    try:
        row = check_set_notifications(
            request.user, **target, level=request.POST.get("level", ""), mute=mute
        )
    except APIError as exc:
        return setting_for(request.user.id, **target), exc
    return row, None


@member_view
def guild_notifications(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    ctx = guild_context(request.user, guild_id)
    levels = [(v, label) for v, label in NotifyLevel.choices if v]
    context: dict[str, Any] = {
        "heading": f"Notifications for {ctx.guild.name}",
        "levels": levels,
        "back": reverse("web-guild", args=[ctx.guild.id]),
        "back_label": f"Back to {ctx.guild.name}",
        "current_id": ctx.guild.id,
    }
    if request.method == "POST":
        row, error = _save(request, guild=ctx.guild)
        context["error"], context["saved"] = error, error is None
        return _page(request, context, row, status=error.status if error else 200)
    return _page(request, context, setting_for(request.user.id, guild=ctx.guild))


@member_view
def channel_notifications(request: AuthedHttpRequest, channel_id: int) -> HttpResponse:
    channel = access_text_channel(request.user, channel_id).channel
    dm = channel.type in DM_TYPES
    shown = {NotifyLevel.ALL, NotifyLevel.NOTHING} if dm else set(NotifyLevel)
    levels = [(v, label) for v, label in NotifyLevel.choices if v in shown]
    if dm:
        back = reverse("web-dm", args=[channel.id])
        heading = "Notifications for this conversation"
    else:
        back = reverse("web-channel", args=[channel.guild_id, channel.id])
        heading = f"Notifications for #{channel.name}"
    context: dict[str, Any] = {
        "heading": heading,
        "levels": levels,
        "back": back,
        "back_label": "Back to the conversation" if dm else f"Back to #{channel.name}",
        "current_id": channel.guild_id,
    }
    if request.method == "POST":
        row, error = _save(request, channel=channel)
        context["error"], context["saved"] = error, error is None
    else:
        row = setting_for(request.user.id, channel=channel)
        if dm and not row.level:
            row.level = effective(request.user.id, channel).level
    return _page(
        request, context, row, status=context["error"].status if context.get("error") else 200
    )
