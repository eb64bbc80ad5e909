"""The search box syntax, Discord's: free text plus operators.

    from:alice  from:<@123>   in:#general  in:general  in:123  in:<#123>
    has:link|file|image|video  mentions:bob  pinned:true|false
    before:2026-01-31  after:2026-01-01  during:2026-01-15   (UTC days)

Operator values may be quoted (`from:"Bob Smith"`). An unknown `word:thing` is plain text.
`before:` excludes its day, `after:` starts the day after, `during:` is that day, as Discord
does. Repeated `from:`, `in:`, `mentions:` widen (any of them); repeated `has:` narrows (all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from messaging.search import HAS_KINDS
from messaging.search.text import words
from united.errors import Invalid

TOKEN = re.compile(
    r'(?:(?P<key>[A-Za-z]+):(?:"(?P<qval>[^"]*)"?|(?P<val>\S*)))|"(?P<phrase>[^"]*)"?|(?P<word>\S+)'
)
OPERATORS = frozenset({"from", "in", "has", "mentions", "before", "after", "during", "pinned"})


@dataclass
class ParsedQuery:
    terms: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    has: set[str] = field(default_factory=set)
    after: datetime | None = None
    before: datetime | None = None
    pinned: bool | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.terms
            or self.authors
            or self.channels
            or self.mentions
            or self.has
            or self.after
            or self.before
            or self.pinned is not None
        )


def _day(value: str, op: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise Invalid(errors={"q": [f"{op}: wants a date as YYYY-MM-DD, not {value!r}."]}) from None
    return datetime.combine(day, time.min, tzinfo=UTC)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else max(a, b)


def _earlier(a: datetime | None, b: datetime) -> datetime:
    return b if a is None else min(a, b)


def _apply(parsed: ParsedQuery, key: str, value: str) -> None:
    if key == "from":
        parsed.authors.append(value)
    elif key == "in":
        parsed.channels.append(value)
    elif key == "mentions":
        parsed.mentions.append(value)
    elif key == "has":
        kind = value.lower()
        if kind not in HAS_KINDS:
            raise Invalid(errors={"q": [f"has: takes one of {', '.join(HAS_KINDS)}."]})
        parsed.has.add(kind)
    elif key == "pinned":
        flag = value.lower()
        if flag not in {"true", "false"}:
            raise Invalid(errors={"q": ["pinned: takes true or false."]})
        parsed.pinned = flag == "true"
    elif key == "before":
        parsed.before = _earlier(parsed.before, _day(value, key))
    elif key == "after":
        parsed.after = _later(parsed.after, _day(value, key) + timedelta(days=1))
    elif key == "during":
        start = _day(value, key)
        parsed.after = _later(parsed.after, start)
        parsed.before = _earlier(parsed.before, start + timedelta(days=1))


def parse(q: str) -> ParsedQuery:
    parsed = ParsedQuery()
    for match in TOKEN.finditer(q or ""):
        key = (match.group("key") or "").lower()
        if key in OPERATORS:
            value = match.group("qval")
            if value is None:
                value = match.group("val") or ""
            value = value.strip()
            if value:
                _apply(parsed, key, value)
            continue
        parsed.terms.extend(words(match.group()))
    return parsed
