"""What the bot gateway reads from the database (synchronous; the consumer runs these on
worker threads): READY, each GUILD_CREATE, and member chunks, in Discord's v10 shapes."""

from __future__ import annotations

from typing import Any

from accounts.services import serialize_user
from bots import services, shapes
from bots.models import Application
from guilds.models import Member
from guilds.serialize import serialize_member
from guilds.services.access import guild_context
from guilds.services.guilds import guild_payload
from united.errors import NotFound

# Discord's bounds on IDENTIFY's large_threshold: a guild with more members than it sends only
# the bot's own member in GUILD_CREATE (the rest by REQUEST_GUILD_MEMBERS, op 8).
LARGE_THRESHOLD_DEFAULT = 50
LARGE_THRESHOLD_MAX = 250
CHUNK_SIZE = 1000


def me(app: Application) -> dict[str, Any]:
    return {
        **shapes.user(serialize_user(app.bot)),
        "verified": True,
        "mfa_enabled": False,
        "locale": "en-US",
        "email": None,
    }


def guild_create(app: Application, guild_id: int, large_threshold: int) -> dict[str, Any] | None:
    try:
        ctx = guild_context(app.bot, guild_id)
    except NotFound:  # left meanwhile, or suspended by the operator
        return None
    payload = guild_payload(ctx)
    count = int(payload.get("member_count", 0))
    large = count > large_threshold
    if large:
        members = payload.get("members", [])
    else:
        rows = (
            Member.objects.filter(guild_id=guild_id)
            .select_related("user")
            .prefetch_related("roles")
        )
        members = [serialize_member(m) for m in rows]
    managed = services.managed_roles(guild_id)
    return shapes.guild(payload, members, managed_roles=managed, large=large)


def ready(
    app: Application,
    session_id: str,
    guild_ids: list[int],
    *,
    resume_url: str,
    shard: list[int],
    large_threshold: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """READY (guilds listed as unavailable, as Discord does) and the GUILD_CREATE that follows
    for each of them, in that order."""
    creates = [g for g in (guild_create(app, i, large_threshold) for i in guild_ids) if g]
    payload = {
        "v": 10,
        "user": me(app),
        "guilds": [{"id": str(i), "unavailable": True} for i in guild_ids],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_url,
        "application": {"id": str(app.id), "flags": shapes.APPLICATION_FLAGS},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "user_settings": {},
        "shard": shard,
    }
    return payload, creates


def member_chunk(app: Application, d: dict[str, Any]) -> dict[str, Any] | None:
    """GUILD_MEMBERS_CHUNK for REQUEST_GUILD_MEMBERS (op 8): by `user_ids`, or by a username
    prefix `query` with `limit` (0 = every member when the query is empty), in one chunk."""
    try:
        guild_id = int(d.get("guild_id"))  # type: ignore[arg-type]
        ctx = guild_context(app.bot, guild_id)
    except (TypeError, ValueError, NotFound):
        return None
    rows = Member.objects.filter(guild=ctx.guild).select_related("user").prefetch_related("roles")
    not_found: list[str] = []
    user_ids = d.get("user_ids")
    if user_ids is not None:
        wanted = [int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])][:100]
        rows = rows.filter(user_id__in=wanted)
        not_found = [str(u) for u in set(wanted) - {m.user_id for m in rows}]
    else:
        query = d.get("query") or ""
        limit = d.get("limit") or 0
        if query:
            rows = rows.filter(user__username__istartswith=str(query))
        rows = rows.order_by("user_id")[: int(limit) if limit else CHUNK_SIZE]
    out: dict[str, Any] = {
        "guild_id": str(guild_id),
        "members": [shapes.member(serialize_member(m)) for m in rows],
        "chunk_index": 0,
        "chunk_count": 1,
        "not_found": not_found,
    }
    if d.get("nonce") is not None:
        out["nonce"] = d.get("nonce")
    return out
