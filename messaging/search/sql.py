"""Conditions on the message row that both database engines join: the channels the
searcher may read, author, dates, pinned, and never a deleted message."""

from __future__ import annotations

from django.db import connection

from messaging.search import BackendQuery, Hit, Results


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
    if query.exclude_author_ids:
        hidden = sorted(query.exclude_author_ids)
        where.append(
            f"({alias}.author_id IS NULL OR {alias}.author_id NOT IN"
            f" ({', '.join(['%s'] * len(hidden))}))"
        )
        params += hidden
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


def page(
    source: str,
    condition: str,
    params: list,
    query: BackendQuery,
    score: tuple[str, str] | None = None,
) -> Results:
    """One page and the total in one pass (a window count), so the match runs once; only a
    page past the end needs a separate count. `score` is (SQL expression, "ASC" or "DESC"
    for best first), used when sorting by relevance."""
    direction = "DESC" if query.descending else "ASC"
    columns = "m.id AS id, m.hlc AS hlc"
    order = f"r.hlc {direction}, r.id {direction}"
    if score is not None and query.sort_by == "relevance":
        columns += f", {score[0]} AS score"
        order = f"r.score {score[1]}, r.hlc DESC, r.id DESC"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.id, COUNT(*) OVER () FROM (SELECT {columns} FROM {source}"
            f" WHERE {condition}) r ORDER BY {order} LIMIT %s OFFSET %s",
            [*params, query.limit, query.offset],
        )
        rows = cursor.fetchall()
        if rows:
            total = rows[0][1]
        else:
            cursor.execute(f"SELECT COUNT(*) FROM {source} WHERE {condition}", params)
            total = cursor.fetchone()[0]
    return Results(total=total, hits=[Hit(id=row[0]) for row in rows])
