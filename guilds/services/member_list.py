"""The sidebar member list, a page at a time (docs/performance.md, "READY and the member
list at guild scale").

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

from guilds.models import Guild, Member, Role
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
    # The connected members as bare tuples (id, user id, sort key) and, for those holding a
    # hoisted role, their highest: only the page's members become model objects.
    online_rows = sorted(
        Member.objects.filter(guild=guild, user_id__in=list(online_user_ids)).values_list(
            "sort_name", "id", "user_id"
        )
    )
    top: dict[int, Role] = {}
    if hoisted and online_rows:
        held = Member.roles.through.objects.filter(
            member_id__in=[row[1] for row in online_rows], role_id__in=[r.id for r in hoisted]
        )
        for member_id, role_id in held.values_list("member_id", "role_id"):
            if member_id not in top or roles[role_id].position > top[member_id].position:
                top[member_id] = roles[role_id]
    buckets: dict[str, list[int]] = {str(r.id): [] for r in hoisted}
    buckets["online"] = []
    for _name, member_id, _user_id in online_rows:
        buckets[str(top[member_id].id) if member_id in top else "online"].append(member_id)
    total = Member.objects.filter(guild=guild).count()
    online = len(online_rows)
    # (group id, name, role, member ids in order or None for the offline index range, count)
    layout: list[tuple[str, str, Role | None, list[int] | None, int]] = [
        (str(r.id), r.name, r, buckets[str(r.id)], len(buckets[str(r.id)])) for r in hoisted
    ]
    layout.append(("online", "Online", None, buckets["online"], len(buckets["online"])))
    layout.append(("offline", "Offline", None, None, total - online))

    # Which slice of which group the page shows, then the page's members in two reads.
    slices: list[tuple[str, str, Role | None, int, bool, list[int] | None]] = []
    wanted: list[int] = []
    offline_range: tuple[int, int] | None = None
    position = 0
    end = start + limit
    for group_id, name, role, ids, count in layout:
        if count <= 0:
            continue
        lo, hi = max(start, position), min(end, position + count)
        if lo < hi:
            if ids is None:
                offline_range = (lo - position, hi - position)
                slices.append((group_id, name, role, count, lo == position, None))
            else:
                taken = ids[lo - position : hi - position]
                wanted += taken
                slices.append((group_id, name, role, count, lo == position, taken))
        position += count
    loaded: dict[int, Member] = {}
    if wanted:
        rows = Member.objects.filter(id__in=wanted).select_related("user")
        loaded = {m.id: m for m in rows.prefetch_related("roles")}
    offline_members: list[Member] = []
    if offline_range is not None:
        first, last = offline_range
        offline_members = list(
            Member.objects.filter(guild=guild)
            .exclude(user_id__in=[row[2] for row in online_rows])
            .select_related("user")
            .prefetch_related("roles")
            .order_by("sort_name", "id")[first:last]
        )
    groups = [
        Group(
            id=group_id,
            name=name,
            role=serialize_role(role) if role else None,
            count=count,
            first=opens,
            members=[
                serialize_member(m)
                for m in (
                    offline_members if ids is None else [loaded[i] for i in ids if i in loaded]
                )
            ],
        )
        for group_id, name, role, count, opens, ids in slices
    ]
    next_start = end if end < position else None
    return MemberPage(groups, start, next_start, total, online)


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
