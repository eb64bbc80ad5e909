"""PostgreSQL full-text search: the production default.

Documents live in `messaging_search_document` (created by messaging's migration 0004 on
PostgreSQL only): a `tsvector` under a GIN index, the `has:` kinds and mentioned user ids as
arrays, and the indexed text. Words are split and folded in Python (`text.index_text`) before
`to_tsvector`, so a URL or an accented word matches exactly as on SQLite; the text search
configuration (`UNITED_SEARCH_LANGUAGE`, default `simple`) then adds stemming and stop words
if the operator picks a language (`english`, `french`, …). Changing it needs `reindex_search`.

Channel, author, date, pinned and deletion filters come from the message row, joined by
primary key, as in the SQLite backend.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection

from messaging.search import BackendQuery, Document, Results, SearchBackend
from messaging.search.sql import filters, page
from messaging.search.text import index_text

TABLE = "messaging_search_document"
CREATE = [
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " message_id bigint PRIMARY KEY,"
    " body text NOT NULL,"
    " tsv tsvector NOT NULL,"
    " has text[] NOT NULL DEFAULT '{}',"
    " mentions bigint[] NOT NULL DEFAULT '{}')",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_tsv_gin ON {TABLE} USING GIN (tsv)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_mentions_gin ON {TABLE} USING GIN (mentions)",
]
DROP = [f"DROP TABLE IF EXISTS {TABLE}"]


def language() -> str:
    return settings.SEARCH_LANGUAGE


class PostgresFTSBackend(SearchBackend):
    name = "postgres"

    def ensure(self) -> None:
        with connection.cursor() as cursor:
            for statement in CREATE:
                cursor.execute(statement)

    def upsert(self, documents: list[Document]) -> None:
        if not documents:
            return
        # One statement per batch: the rows travel as parallel arrays.
        columns = (
            [d.id for d in documents],
            [d.content for d in documents],
            [index_text(d.content) for d in documents],
            [" ".join(d.has) for d in documents],
            [" ".join(str(i) for i in d.mentions) for d in documents],
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (message_id, body, tsv, has, mentions)"
                " SELECT id, body, to_tsvector(%s::regconfig, words),"
                " string_to_array(has, ' '), string_to_array(mentions, ' ')::bigint[]"
                " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[])"
                " AS u(id, body, words, has, mentions)"
                " ON CONFLICT (message_id) DO UPDATE SET body = EXCLUDED.body,"
                " tsv = EXCLUDED.tsv, has = EXCLUDED.has, mentions = EXCLUDED.mentions",
                [language(), *columns],
            )

    def remove(self, ids: list[int]) -> None:
        if ids:
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {TABLE} WHERE message_id = ANY(%s)", [list(ids)])

    def prune(self, channel_ids: list[int]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {TABLE} d WHERE NOT EXISTS"
                " (SELECT 1 FROM messaging_message m WHERE m.id = d.message_id)"
            )

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {TABLE}")

    def search(self, query: BackendQuery) -> Results:
        if not query.channel_ids:
            return Results(total=0)
        where, params = filters(query)
        head: list = []
        source = f"{TABLE} d JOIN messaging_message m ON m.id = d.message_id"
        score = None
        if query.terms:
            tsquery = " & ".join(f"{t}:*" for t in query.terms)
            source += ", to_tsquery(%s::regconfig, %s) q"
            head += [language(), tsquery]
            where.insert(0, "d.tsv @@ q")
            score = ("ts_rank(d.tsv, q)", "DESC")
        if query.has:
            where.append("d.has @> %s::text[]")
            params.append(sorted(query.has))
        if query.mention_ids is not None:
            where.append("d.mentions && %s::bigint[]")
            params.append(sorted(query.mention_ids))
        condition = " AND ".join(where)
        params = head + params
        return page(source, condition, params, query, score)

    def indexed_text(self, message_id: int) -> str | None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT body FROM {TABLE} WHERE message_id = %s", [message_id])
            row = cursor.fetchone()
        return row[0] if row else None

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {TABLE}")
            return cursor.fetchone()[0]

    def size_bytes(self) -> int | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size(%s)", [TABLE])
            return cursor.fetchone()[0]
