"""The node's public directory (seed 003's tag discovery).

A guild is listed when its managers opt in (`discoverable`, PATCH /guilds/{id}) and the
operator has not hidden it (`directory_hidden`, set from the Django admin). Sorting by
activity uses `last_activity_at`, bumped on joins and by messaging's `note_activity`.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, F

from guilds.models import Guild
from guilds.serialize import serialize_partial_guild
from guilds.services.guilds import TAG_RE
from united.errors import Invalid

SORTS = ("activity", "members")
DIRECTORY_PAGE = 50
MAX_DIRECTORY_OFFSET = 100_000  # deeper pages are not browsing; SQLite overflows past 2**63


def directory(
    tag: str | None = None, sort: str = "activity", limit: int = DIRECTORY_PAGE, offset: int = 0
) -> list[dict[str, Any]]:
    if sort not in SORTS:
        raise Invalid(errors={"sort": [f"One of {', '.join(SORTS)}."]})
    if not 1 <= limit <= DIRECTORY_PAGE:
        raise Invalid(errors={"limit": [f"Between 1 and {DIRECTORY_PAGE}."]})
    if not 0 <= offset <= MAX_DIRECTORY_OFFSET:
        raise Invalid(errors={"offset": [f"Between 0 and {MAX_DIRECTORY_OFFSET}."]})
    guilds = (
        Guild.objects.filter(discoverable=True, directory_hidden=False)
        .annotate(member_count=Count("members", distinct=True))
        .prefetch_related("tags")
    )
    if tag:
        tag = tag.strip().lower()
        if not TAG_RE.match(tag):
            raise Invalid(errors={"tag": ["Tags are 1-24 lowercase letters, digits or dashes."]})
        guilds = guilds.filter(tags__tag=tag)
    if sort == "activity":
        guilds = guilds.order_by(F("last_activity_at").desc(nulls_last=True), "-member_count", "id")
    else:
        guilds = guilds.order_by("-member_count", "id")
    return [
        {
            **serialize_partial_guild(g, g.member_count),
            "tags": sorted(t.tag for t in g.tags.all()),
            "last_activity_at": g.last_activity_at.isoformat() if g.last_activity_at else None,
        }
        for g in guilds[offset : offset + limit]
    ]


@transaction.atomic
def do_set_directory_hidden(guild_ids: list[int], hidden: bool) -> int:
    """Operator action: hide (or show again) directory entries."""
    return Guild.objects.filter(id__in=guild_ids).update(directory_hidden=hidden)
