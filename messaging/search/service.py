"""Permission-aware search over one guild.

The channels a searcher may read are asked of messaging (`readable_channels`: the same rule
as reading a channel's history, VIEW_CHANNEL and READ_MESSAGE_HISTORY, a thread taking its
parent's) at the moment of the search, and handed to the engine as a filter. Search assumes
nothing else about the guild (not that it is hosted here), so a remote guild's messages held
on a member's home node are searchable as soon as messaging lets that member read them.
The engine never sees a query without that filter, so a hidden channel's messages count
toward no total and yield no snippet, and a role change applies to the next search.
`in:#name` resolves only among readable channels, so it cannot probe hidden ones.
If the guild chose so, its banned members' messages are left out too (`hidden_authors`).
Result rows are re-read from the database (live rows only) for the message JSON.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q

from accounts.models import User
from guilds import ports
from guilds.models import Channel, Guild, Member
from guilds.services.access import unknown_guild
from messaging.models import Message
from messaging.search import HAS_KINDS, BackendQuery, get_backend
from messaging.search.query import ParsedQuery, parse
from messaging.search.text import snippet, words
from messaging.services.access import readable_channels
from messaging.services.serialize import prefetched, serialize_message
from united.errors import Invalid
from united.ids import MAX_SNOWFLAKE

MAX_LIMIT = 25
MAX_OFFSET = 5000
MAX_QUERY_CHARS = 512
MAX_TERMS = 32
_USER_REF = re.compile(r"^<@!?(\d{1,20})>$|^(\d{1,20})$")
_CHANNEL_REF = re.compile(r"^<#(\d{1,20})>$|^(\d{1,20})$")


def hidden_authors(guild: Guild) -> frozenset[int] | None:
    """Authors whose messages this guild's search leaves out: its members banned right now,
    if the guild chose so (`search_hides_banned`). Read at query time, so a ban hides at once
    and an unban (or an expired temporary ban) shows the messages again."""
    if not guild.search_hides_banned:
        return None
    return ports.banned_user_ids(guild.id)


def _users(guild_id: int, values: list[str]) -> frozenset[int]:
    ids: set[int] = set()
    names: list[str] = []
    for raw in values:
        value = raw.strip()
        ref = _USER_REF.match(value)
        if ref:
            ids.add(int(ref.group(1) or ref.group(2)))
        else:
            names.append(value.lstrip("@"))
    if names:
        by_name = Q()
        for name in names:
            by_name |= Q(user__username__iexact=name) | Q(nick__iexact=name)
        members = Member.objects.filter(by_name, guild_id=guild_id)
        ids.update(members.values_list("user_id", flat=True))
        # Authors who have left the guild are still findable by their exact username.
        users = User.objects.filter(username__in=names)
        ids.update(users.values_list("id", flat=True))
    return frozenset(ids)


def _channels(readable: dict[int, Channel], values: list[str]) -> set[int]:
    wanted: set[int] = set()
    for raw in values:
        value = raw.strip()
        ref = _CHANNEL_REF.match(value)
        if ref:
            wanted.add(int(ref.group(1) or ref.group(2)))
            continue
        name = value.lstrip("#").casefold()
        wanted.update(cid for cid, c in readable.items() if c.name.casefold() == name)
    return wanted & set(readable)


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(errors={name: ["Must be a number."]}) from None
    if not lo <= number <= hi:
        raise Invalid(errors={name: [f"From {lo} to {hi}."]})
    return number


def _ids(values: list[str] | None, name: str) -> list[str]:
    out = []
    for value in values or []:
        text = str(value)
        if not (text.isascii() and text.isdigit() and len(text) <= 19) or int(text) > MAX_SNOWFLAKE:
            raise Invalid(errors={name: ["Must be snowflake ids."]})
        out.append(str(value))
    return out


def build_query(
    guild: Guild,
    readable: dict[int, Channel],
    parsed: ParsedQuery,
    *,
    sort_by: str,
    descending: bool,
    offset: int,
    limit: int,
) -> BackendQuery:
    channel_ids = set(readable)
    if parsed.channels:
        channel_ids = _channels(readable, parsed.channels)
    return BackendQuery(
        channel_ids=frozenset(channel_ids),
        terms=tuple(dict.fromkeys(parsed.terms)),
        author_ids=_users(guild.id, parsed.authors) if parsed.authors else None,
        exclude_author_ids=hidden_authors(guild),
        mention_ids=_users(guild.id, parsed.mentions) if parsed.mentions else None,
        has=frozenset(parsed.has),
        after=parsed.after,
        before=parsed.before,
        pinned=parsed.pinned,
        sort_by=sort_by if parsed.terms else "timestamp",
        descending=descending,
        offset=offset,
        limit=limit,
    )


def search_guild(
    user: User,
    guild_id: int,
    *,
    q: str = "",
    content: str = "",
    author_ids: list[str] | None = None,
    channel_ids: list[str] | None = None,
    mentions: list[str] | None = None,
    has: list[str] | None = None,
    pinned: str | None = None,
    sort_by: str = "timestamp",
    sort_order: str = "desc",
    offset: Any = 0,
    limit: Any = MAX_LIMIT,
) -> dict[str, Any]:
    """Discord's `GET /guilds/{id}/messages/search`, plus our `q` syntax and `highlights`."""
    readable = readable_channels(user, guild_id)  # 404 Unknown Guild for a non-member
    guild = Guild.objects.filter(id=guild_id).first()
    if guild is None:  # deleted a moment ago
        raise unknown_guild()
    if sort_by not in {"timestamp", "relevance"}:
        raise Invalid(errors={"sort_by": ["timestamp or relevance."]})
    if sort_order not in {"asc", "desc"}:
        raise Invalid(errors={"sort_order": ["asc or desc."]})
    offset = _int(offset, "offset", 0, MAX_OFFSET)
    limit = _int(limit, "limit", 1, MAX_LIMIT)
    if len(q or "") + len(content or "") > MAX_QUERY_CHARS:
        raise Invalid(errors={"q": [f"At most {MAX_QUERY_CHARS} characters."]})
    parsed = parse(q)
    parsed.terms += words(content or "")
    if len(set(parsed.terms)) > MAX_TERMS:
        raise Invalid(errors={"q": [f"At most {MAX_TERMS} words."]})
    parsed.authors += _ids(author_ids, "author_id")
    parsed.channels += _ids(channel_ids, "channel_id")
    parsed.mentions += _ids(mentions, "mentions")
    for kind in has or []:
        if kind not in HAS_KINDS:
            raise Invalid(errors={"has": [f"One of {', '.join(HAS_KINDS)}."]})
        parsed.has.add(kind)
    if pinned is not None:
        flag = str(pinned).lower()
        if flag not in {"true", "false"}:
            raise Invalid(errors={"pinned": ["true or false."]})
        parsed.pinned = flag == "true"
    if parsed.empty:
        raise Invalid(errors={"q": ["Type something to search for."]})
    query = build_query(
        guild,
        readable,
        parsed,
        sort_by=sort_by,
        descending=sort_order == "desc",
        offset=offset,
        limit=limit,
    )
    results = get_backend().search(query)
    order = [hit.id for hit in results.hits]
    rows = Message.objects.live().filter(id__in=order, channel_id__in=query.channel_ids)
    if query.exclude_author_ids:
        rows = rows.exclude(author_id__in=query.exclude_author_ids)
    rows = prefetched(rows)
    by_id = {m.id: m for m in rows}
    messages, highlights = [], []
    for hit in results.hits:
        message = by_id.get(hit.id)
        if message is None:  # deleted since the engine answered (its job is on the way)
            continue
        messages.append([serialize_message(message, viewer_id=user.id)])
        highlights.append(
            {
                "message_id": str(message.id),
                "snippet_html": snippet(message.content, query.terms, hit.marked),
                "jump": {
                    "guild_id": str(guild.id),
                    "channel_id": str(message.channel_id),
                    "message_id": str(message.id),
                    "history_url": (
                        f"/api/v1/channels/{message.channel_id}/messages?around={message.id}"
                    ),
                },
            }
        )
    return {"total_results": results.total, "messages": messages, "highlights": highlights}
