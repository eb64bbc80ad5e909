"""Onboarding after the sign-up screen (/register/): join with an invite, create a
community, or browse the directory — then land in the community's default channel."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.requests import AuthedHttpRequest
from accounts.services import ratelimit
from guilds.services import invites as invite_services
from guilds.services.guilds import check_create_guild
from united.errors import APIError
from web import sidebar
from web.views.common import member_view

_CODE = re.compile(r"(?:invite/)?([A-Za-z0-9_-]{2,32})/?$")


def invite_code(text: str) -> str:
    """Accepts a bare code or any link ending in /invite/<code>."""
    match = _CODE.search(text.strip())
    return match.group(1) if match else ""


def _start(request: HttpRequest, error: str = "", status: int = 200, **values) -> HttpResponse:
    return render(
        request,
        "web/start.html",
        {"rail": sidebar.rail(request.user), "error": error, "values": values},
        status=status,
    )


@member_view
def start(request: HttpRequest) -> HttpResponse:
    return _start(request)


@require_POST
@member_view
def join(request: AuthedHttpRequest) -> HttpResponse:
    raw = request.POST.get("invite", "")
    from web.views.federation import remote_invite_redirect

    remote = remote_invite_redirect(raw)  # a link of another node: show its manifest first
    if remote is not None:
        return remote
    try:
        ratelimit.limit("invite_join", request, request.user.id)
        invite, _ = invite_services.check_accept_invite(request.user, invite_code(raw))
    except APIError as exc:
        return _start(request, exc.message, exc.status, invite=raw)
    return _land(invite)


def _land(invite: dict) -> HttpResponse:
    return redirect(
        "web-channel", guild_id=invite["guild"]["id"], channel_id=invite["channel"]["id"]
    )


@require_POST
@member_view
def accept(request: AuthedHttpRequest, code: str) -> HttpResponse:
    """The invite landing page's Join button: join, then straight into the guild."""
    ratelimit.limit("invite_join", request, request.user.id)
    try:
        invite, _ = invite_services.check_accept_invite(request.user, code)
    except APIError:
        return redirect("guild-invite", code=code)
    return _land(invite)


@require_POST
@member_view
def create(request: AuthedHttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    try:
        guild = check_create_guild(request.user, name=name)
    except APIError as exc:
        messages = [m for errs in exc.errors.values() for m in errs] or [exc.message]
        return _start(request, " ".join(messages), exc.status, name=name)
    return redirect("web-guild", guild_id=guild.id)
