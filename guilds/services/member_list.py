"""The sidebar member list, a page at a time (docs/performance.md, "The member list of a large
guild").

Display order is Discord's: online members under their highest hoisted role (highest role
first), then the other online members ("Online"), then everyone offline ("Offline"), each
group by shown name. Online members are few next to a large guild's total and are known to
the caller (presence lives outside the database), so they are read whole and ordered here;
the offline members are an index range (`member_list_idx`: guild, sort_name, id) read from
the page's offset. A page costs the same few queries whatever the guild's size, and every
group carries its full count for its header ("Offline — 98,766").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from guilds.models import Guild, Member, Role, member_sort_name
from guilds.serialize import serialize_member, serialize_role
from united.events import Published

PAGE_SIZE = 100
MAX_START = 10_000_000


@dataclass
class Group:
    """One group's slice on a page: `first` tells whether the slice opens the group (the
    page shows its header) or continues it from the page before."""

    id: str
    name: str
    role: dict[str, Any] | None
    count: int
    first: bool
    members: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count_label(self) -> str:
        return f"{self.count:,}"


@dataclass
class MemberPage:
    groups: list[Group]
    start: int
    next_start: int | None
    total: int
    online: int


def _order(member: Member) -> tuple[str, int]:
    return (member.sort_name or member_sort_name(member.nick, member.user), member.id)


def online_members(guild: Guild, live_user_ids: Iterable[int]) -> list[int]:
    """Which of the node's connected users are members of `guild` (one query, bounded by the
    connected users rather than by the guild's size)."""
    rows = Member.objects.filter(guild=guild, user_id__in=list(live_user_ids))
    return list(rows.values_list("user_id", flat=True))


def member_page(
    guild: Guild, online_user_ids: Iterable[int], *, start: int = 0, limit: int | None = None
) -> MemberPage:
    """The entries from position `start` of the guild's member list, at most `limit`
    (PAGE_SIZE)."""
    start = max(0, min(int(start), MAX_START))
    limit = PAGE_SIZE if limit is None else limit
    roles = {r.id: r for r in Role.objects.filter(guild=guild)}
    hoisted = sorted(
        (r for r in roles.values() if r.hoist and r.id != guild.id), key=lambda r: -r.position
    )
    online_rows = sorted(
        Member.objects.filter(guild=guild, user_id__in=list(online_user_ids))
        .select_related("user")
        .prefetch_related("roles"),
        key=_order,
    )
    buckets: dict[str, list[Member]] = {str(r.id): [] for r in hoisted}
    buckets["online"] = []
    for member in online_rows:
        top = max(
            (roles[r.id] for r in member.roles.all() if r.id in roles and roles[r.id].hoist),
            key=lambda r: r.position,
            default=None,
        )
        buckets[str(top.id) if top else "online"].append(member)
    total = Member.objects.filter(guild=guild).count()
    online = len(online_rows)
    # (group id, name, role, members in order or None for the offline index range, count)
    layout: list[tuple[str, str, Role | None, list[Member] | None, int]] = [
        (str(r.id), r.name, r, buckets[str(r.id)], len(buckets[str(r.id)])) for r in hoisted
    ]
    layout.append(("online", "Online", None, buckets["online"], len(buckets["online"])))
    layout.append(("offline", "Offline", None, None, total - online))

    groups: list[Group] = []
    position = 0
    end = start + limit
    for group_id, name, role, rows, count in layout:
        if count <= 0:
            continue
        lo, hi = max(start, position), min(end, position + count)
        if lo < hi:
            if rows is None:
                rows = list(
                    Member.objects.filter(guild=guild)
                    .exclude(user_id__in=[m.user_id for m in online_rows])
                    .select_related("user")
                    .prefetch_related("roles")
                    .order_by("sort_name", "id")[lo - position : hi - position]
                )
                taken = rows
            else:
                taken = rows[lo - position : hi - position]
            groups.append(
                Group(
                    id=group_id,
                    name=name,
                    role=serialize_role(role) if role else None,
                    count=count,
                    first=lo == position,
                    members=[serialize_member(m) for m in taken],
                )
            )
        position += count
    next_start = end if end < position else None
    return MemberPage(groups, start, next_start, total, online)


def member_list(guild: Guild, online_user_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The first page's groups as plain dicts (`id`, `name`, `role`, `count`, `members`)."""
    page = member_page(guild, online_user_ids)
    return [
        {"id": g.id, "name": g.name, "role": g.role, "count": g.count, "members": g.members}
        for g in page.groups
    ]


def on_user_update(event: Published) -> None:
    """A display name changed: the member list sorts members without a nick by it."""
    if event.t != "USER_UPDATE" or not isinstance(event.d, dict) or "id" not in event.d:
        return
    d = event.d
    name = (d.get("global_name") or d.get("username") or "").lower()[:100]
    if name:
        Member.objects.filter(Q(nick__isnull=True) | Q(nick=""), user_id=int(d["id"])).update(
            sort_name=name
        )
