"""Conditions on the message row that both database engines join: the channels the
searcher may read, author, dates, pinned, and never a deleted message."""

from __future__ import annotations

from django.db import connection

from messaging.search import BackendQuery


def filters(query: BackendQuery, alias: str = "m") -> tuple[list[str], list]:
    """SQL conditions on the message row, shared by both database engines."""
    where = [f"{alias}.deleted_at IS NULL"]
    params: list = []
    channels = sorted(query.channel_ids)
    where.append(f"{alias}.channel_id IN ({', '.join(['%s'] * len(channels))})")
    params += channels
    if query.author_ids is not None:
        authors = sorted(query.author_ids) or [0]
        where.append(f"{alias}.author_id IN ({', '.join(['%s'] * len(authors))})")
        params += authors
    if query.after is not None:
        where.append(f"{alias}.created_at >= %s")
        params.append(connection.ops.adapt_datetimefield_value(query.after))
    if query.before is not None:
        where.append(f"{alias}.created_at < %s")
        params.append(connection.ops.adapt_datetimefield_value(query.before))
    if query.pinned is not None:
        where.append(f"{alias}.pinned = %s")
        params.append(query.pinned)
    return where, params


def date_order(query: BackendQuery, alias: str = "m") -> str:
    direction = "DESC" if query.descending else "ASC"
    return f"{alias}.hlc {direction}, {alias}.id {direction}"
