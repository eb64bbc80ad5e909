"""The search panel: the same service, permission checks and query syntax as
`GET /api/v1/guilds/{id}/messages/search`, rendered as an HTMX fragment (results with
highlighted snippets, sorting, paging, and a link that opens the channel around each hit)."""

from __future__ import annotations

from datetime import datetime
from math import ceil
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse
from django.urls import reverse

from accounts.requests import AuthedHttpRequest
from guilds.models import Channel
from guilds.services.access import guild_context
from messaging.search import service as search_service
from united.errors import APIError, NotFound
from web import timeline
from web.htmx import render_fragment
from web.views.common import guild_names, member_view

PER_PAGE = 10
# Label, then the service's (sort_by, sort_order).
SORTS = {
    "newest": ("Newest", "timestamp", "desc"),
    "oldest": ("Oldest", "timestamp", "asc"),
    "relevance": ("Most relevant", "relevance", "desc"),
}


def _page(raw: str) -> int:
    return max(1, min(int(raw), search_service.MAX_OFFSET // PER_PAGE + 1)) if raw.isdigit() else 1


@member_view
def search(request: AuthedHttpRequest, guild_id: int) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", "newest")
    if sort not in SORTS:
        sort = "newest"
    page = _page(request.GET.get("page", ""))
    ctx = guild_context(request.user, guild_id)
    _, sort_by, sort_order = SORTS[sort]
    try:
        found = search_service.search_guild(
            request.user,
            guild_id,
            q=query,
            sort_by=sort_by,
            sort_order=sort_order,
            offset=(page - 1) * PER_PAGE,
            limit=PER_PAGE,
        )
    except NotFound:
        raise
    except APIError as exc:
        # Shown in the panel (htmx is told to swap 400s there) with the right status.
        return render_fragment(
            request, "web/_search_results.html", {"error": exc}, status=exc.status
        )
    base = reverse("web-search", args=[guild_id])

    def url(**change: Any) -> str:
        params = {"q": query, "sort": sort, "page": page, **change}
        return f"{base}?{urlencode(params)}"

    total = found["total_results"]
    pages = max(1, ceil(min(total, search_service.MAX_OFFSET + PER_PAGE) / PER_PAGE))
    return render_fragment(
        request,
        "web/_search_results.html",
        {
            "query": query,
            "total": total,
            "results": _hits(ctx, found),
            "page": page,
            "pages": pages,
            "previous_url": url(page=page - 1) if page > 1 else None,
            "next_url": url(page=page + 1) if page < pages else None,
            "sorts": [
                {"key": key, "label": label, "active": key == sort, "url": url(sort=key, page=1)}
                for key, (label, _, _) in SORTS.items()
            ],
        },
    )


def _hits(ctx, found: dict[str, Any]) -> list[dict[str, Any]]:
    names = guild_names(ctx)
    rows = [group[0] for group in found["messages"]]
    channel_names = dict(
        Channel.objects.filter(id__in={int(m["channel_id"]) for m in rows}).values_list(
            "id", "name"
        )
    )
    hits = []
    for message, highlight in zip(rows, found["highlights"], strict=True):
        author = message["author"]
        name = names.get(author["id"]) if author else None
        shown = name or timeline.shown_name(author)
        jump = highlight["jump"]
        hits.append(
            {
                "author_name": shown,
                "author_initials": shown[:2].upper(),
                "channel_name": channel_names.get(int(message["channel_id"]), "unknown"),
                "timestamp": message["timestamp"],
                "moment": datetime.fromisoformat(message["timestamp"]),
                "snippet_html": highlight["snippet_html"],
                "attachments": len(message.get("attachments") or []),
                "jump_url": reverse(
                    "web-channel", args=[int(jump["guild_id"]), int(jump["channel_id"])]
                )
                + f"?around={jump['message_id']}#message-{jump['message_id']}",
            }
        )
    return hits
