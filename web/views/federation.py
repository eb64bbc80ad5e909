"""Web pages of federation for members: joining a guild on another node (its privacy
manifest first), and sending again a message its host did not get. They are web's (web sits
above federation and calls its services), served under /app/federation/."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.requests import AuthedHttpRequest
from accounts.services import ratelimit
from federation import mirror
from united.errors import APIError, Invalid
from web.views.common import member_view


def remote_invite_redirect(raw: str) -> HttpResponse | None:
    """The start page's invite box: a link of another node goes to the join page."""
    try:
        _, code = mirror.parse_invite(raw)
    except Invalid:
        return None
    from guilds.services.invites import lookup_invite

    if lookup_invite(code) is not None:
        return None  # one of our own invites, whatever host name the link was copied with
    return redirect(f"{reverse('web-fed-join')}?{urlencode({'invite': raw.strip()})}")


@member_view
def join(request: AuthedHttpRequest) -> HttpResponse:
    raw = request.POST.get("invite") or request.GET.get("invite") or ""
    context: dict = {"invite": raw}
    status = 200
    if raw:
        try:
            context["preview"] = mirror.preview(raw)
            if request.method == "POST":
                ratelimit.limit("invite_join", request, request.user.id)
                context["join"] = mirror.serialize_join(mirror.check_join(request.user, raw))
        except APIError as exc:
            context["error"] = exc.message
            status = exc.status
    return render(request, "federation/join.html", context, status=status)


@member_view
def join_state(request: AuthedHttpRequest, join_id: int) -> HttpResponse:
    """Polled by the join page until the host answered; then straight into the guild."""
    row = request.user.remote_joins.filter(id=join_id).first()
    if row is None:
        return HttpResponse(status=404)
    if row.state == "accepted" and row.user.memberships.filter(guild_id=row.guild_id).exists():
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("web-guild", args=[row.guild_id])
        return response
    return render(request, "federation/_join_state.html", {"join": mirror.serialize_join(row)})


@require_POST
@member_view
def retry(request: AuthedHttpRequest, message_id: int) -> HttpResponse:
    row = mirror.check_retry(request.user, message_id)
    from messaging.models import Message

    message = Message.objects.select_related("channel").get(id=row.message_id)
    return redirect("web-channel", guild_id=message.channel.guild_id, channel_id=message.channel_id)
