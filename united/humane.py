"""Dates as people say them: "3 hours ago", with the exact moment kept for a tooltip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil

JUST_NOW = timedelta(seconds=45)


def relative(moment: datetime, now: datetime | None = None) -> str:
    now = now or timezone.now()
    if abs(now - moment) < JUST_NOW:
        return "just now"
    # Django joins "3" and "hours" with a no-break space; plain text reads and searches better.
    if moment > now:
        return f"in {timeuntil(moment, now, depth=1)}".replace("\xa0", " ")
    return f"{timesince(moment, now, depth=1)} ago".replace("\xa0", " ")


def exact(moment: datetime) -> str:
    """The full date in UTC, the node's clock: the tooltip must not depend on the viewer."""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def when(moment: datetime | str | None, now: datetime | None = None) -> SafeString | str:
    """A `<time>` element reading "3 hours ago" whose title is the exact date."""
    if moment in (None, ""):
        return "never"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        exact(moment),
        relative(moment, now),
    )
