"""Server-rendered pages: the invite landing page and the public directory."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.services import ratelimit
from guilds.models import Member
from guilds.serialize import invite_urls
from guilds.services import directory as directory_services
from guilds.services import invites as invite_services
from united.errors import APIError


@require_http_methods(["GET", "POST"])
def invite_page(request: HttpRequest, code: str) -> HttpResponse:
    """Shows where an invite leads. A visitor without an account is sent to sign up or sign
    in with `next` pointing back here; a signed-in user joins with the button (a POST)."""
    invite = invite_services.lookup_invite(code)
    if invite is None:
        return render(request, "guilds/invite.html", {"invite": None}, status=404)
    context = {
        "invite": invite,
        "guild": invite.guild,
        "member_count": invite_services.member_count(invite.guild_id),
        "links": invite_urls(invite.code),
        "error": None,
    }
    if request.user.is_authenticated:
        context["is_member"] = Member.objects.filter(
            guild_id=invite.guild_id, user=request.user
        ).exists()
        if request.method == "POST":
            try:
                ratelimit.limit("invite_join", request, request.user.id)
                invite_services.check_accept_invite(request.user, code)
            except APIError as exc:
                context["error"] = exc.message
                return render(request, "guilds/invite.html", context, status=exc.status)
            return redirect("guild-invite", code=code)
    else:
        if request.method == "POST":
            return redirect(f"/login/?{urlencode({'next': request.path})}")
        next_query = urlencode({"next": request.path})
        context["login_url"] = f"/login/?{next_query}"
        context["register_url"] = f"/register/?{next_query}"
    return render(request, "guilds/invite.html", context)


def directory_page(request: HttpRequest) -> HttpResponse:
    tag = request.GET.get("tag") or None
    sort = request.GET.get("sort") or "activity"
    try:
        entries = directory_services.directory(tag=tag, sort=sort)
    except APIError as exc:
        return render(
            request,
            "guilds/directory.html",
            {"entries": [], "tag": tag, "sort": "activity", "error": exc.message},
            status=400,
        )
    return render(
        request,
        "guilds/directory.html",
        {"entries": entries, "tag": tag, "sort": sort, "error": None},
    )
