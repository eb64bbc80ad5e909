"""Helpers shared by the web views: service errors become pages, names for mentions."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from guilds.services.access import GuildContext
from united.errors import APIError, NotFound


def member_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in only; a service's NotFound is a 404 page, any other refusal is shown with
    its status (HTMX swaps the small error fragment into an alert region)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound:
            raise Http404 from None
        except APIError as exc:
            response = render(request, "web/_error.html", {"error": exc}, status=exc.status)
            for name, value in exc.headers().items():
                response[name] = value
            return response

    return wrapper


def guild_names(ctx: GuildContext) -> dict[str, str]:
    return {
        str(m.user_id): m.nick or m.user.shown_name
        for m in ctx.guild.members.select_related("user")
    }
