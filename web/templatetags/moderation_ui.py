"""Moderation pieces the chat templates include without their views knowing: the sidebar's
Moderation entry with its count of open reports (only for those who work the queue), and
the moment a timed-out member may speak again in a channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template

from moderation.services.cases import open_count
from moderation.services.mine import CATEGORY_WORDS
from moderation.services.timeouts import timed_out_until

register = template.Library()


@register.inclusion_tag("web/moderation/_entry.html", takes_context=True)
def moderation_entry(context: template.Context, guild: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    count = open_count(user, guild.id) if guild is not None and user is not None else None
    # A refresh of the channel list (HTMX) names the page it is for in HX-Current-URL.
    page = request.headers.get("HX-Current-URL", request.path) if request is not None else ""
    return {"guild": guild, "count": count, "current": "/moderation/" in page}


@register.simple_tag
def report_categories() -> list[tuple[str, str]]:
    return list(CATEGORY_WORDS.items())


@register.simple_tag(takes_context=True)
def speak_again_at(context: template.Context, channel: Any) -> datetime | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    if channel is None or user is None:
        return None
    return timed_out_until(user, channel)
