"""SQLite FTS5: the embedded default.

The index is an FTS5 table in the node's own database (created by messaging's migration 0004)
whose rowid is the message id. It holds the text plus two token columns, `has` ("link image")
and `mentions` ("u123 u456"), so those filters run inside the full-text match. The other
filters (channel, author, dates, pinned, not deleted) come from joining the message row by
primary key, which also keeps counts exact while a deletion's job is still queued.

unicode61 with remove_diacritics splits and folds words the way `messaging.search.text` does.
"""

from __future__ import annotations

from django.db import connection

from messaging.search import BackendQuery, Document, Results, SearchBackend
from messaging.search.sql import filters, page

TABLE = "messaging_search_fts"
CREATE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
    "body, has, mentions, tokenize = 'unicode61 remove_diacritics 2')"
)
DROP = f"DROP TABLE IF EXISTS {TABLE}"


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def match_expression(query: BackendQuery) -> str:
    parts = [f"{_quote(t)}*" for t in query.terms]
    parts += [f"has : {_quote(kind)}" for kind in sorted(query.has)]
    if query.mention_ids is not None:
        mentions = " OR ".join(_quote(f"u{i}") for i in sorted(query.mention_ids)) or '"u0"'
        parts.append(f"mentions : ({mentions})")
    return " AND ".join(parts)


class SQLiteFTSBackend(SearchBackend):
    name = "sqlite"

    def ensure(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(CREATE)

    def upsert(self, documents: list[Document]) -> None:
        if not documents:
            return
        with connection.cursor() as cursor:
            cursor.executemany(
                f"DELETE FROM {TABLE} WHERE rowid = %s", [(d.id,) for d in documents]
            )
            cursor.executemany(
                f"INSERT INTO {TABLE} (rowid, body, has, mentions) VALUES (%s, %s, %s, %s)",
                [
                    (d.id, d.content, " ".join(d.has), " ".join(f"u{i}" for i in d.mentions))
                    for d in documents
                ],
            )

    def remove(self, ids: list[int]) -> None:
        if ids:
            with connection.cursor() as cursor:
                cursor.executemany(f"DELETE FROM {TABLE} WHERE rowid = %s", [(i,) for i in ids])

    def prune(self, channel_ids: list[int]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE rowid NOT IN (SELECT id FROM messaging_message)"
            )

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")

    def search(self, query: BackendQuery) -> Results:
        if not query.channel_ids:
            return Results(total=0)
        where, params = filters(query)
        match = match_expression(query)
        if match:
            # CROSS JOIN pins the join order: match first, then look rows up by primary key
            # (the planner otherwise may walk a channel's messages and re-run the match).
            source = f"{TABLE} CROSS JOIN messaging_message m ON m.id = {TABLE}.rowid"
            where.insert(0, f"{TABLE} MATCH %s")
            params.insert(0, match)
        else:
            source = "messaging_message m"
            where.append(f"EXISTS (SELECT 1 FROM {TABLE} WHERE {TABLE}.rowid = m.id)")
        condition = " AND ".join(where)
        score = (f"bm25({TABLE}, 10.0, 0.0, 0.0)", "ASC") if match else None
        return page(source, condition, params, query, score)

    def indexed_text(self, message_id: int) -> str | None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT body FROM {TABLE} WHERE rowid = %s", [message_id])
            row = cursor.fetchone()
        return row[0] if row else None

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {TABLE}")
            return cursor.fetchone()[0]

    def size_bytes(self) -> int | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE %s", [f"{TABLE}%"])
            return cursor.fetchone()[0]
