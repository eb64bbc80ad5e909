"""The search index of the database engine in use: an FTS5 table on SQLite, a tsvector table
under a GIN index on PostgreSQL (messaging.search.sqlite_fts / postgres_fts). Meilisearch
needs nothing here; `manage.py reindex_search` fills any engine from the messages."""

from django.db import migrations

SQLITE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS messaging_search_fts USING fts5("
    "body, has, mentions, tokenize = 'unicode61 remove_diacritics 2')",
]
SQLITE_DROP = ["DROP TABLE IF EXISTS messaging_search_fts"]
POSTGRES = [
    "CREATE TABLE IF NOT EXISTS messaging_search_document ("
    " message_id bigint PRIMARY KEY,"
    " body text NOT NULL,"
    " tsv tsvector NOT NULL,"
    " has text[] NOT NULL DEFAULT '{}',"
    " mentions bigint[] NOT NULL DEFAULT '{}')",
    "CREATE INDEX IF NOT EXISTS messaging_search_document_tsv_gin"
    " ON messaging_search_document USING GIN (tsv)",
    "CREATE INDEX IF NOT EXISTS messaging_search_document_mentions_gin"
    " ON messaging_search_document USING GIN (mentions)",
]
POSTGRES_DROP = ["DROP TABLE IF EXISTS messaging_search_document"]


def _run(schema_editor, sqlite, postgres):
    vendor = schema_editor.connection.vendor
    for statement in sqlite if vendor == "sqlite" else postgres if vendor == "postgresql" else []:
        schema_editor.execute(statement)


def create(apps, schema_editor):
    _run(schema_editor, SQLITE, POSTGRES)


def drop(apps, schema_editor):
    _run(schema_editor, SQLITE_DROP, POSTGRES_DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0003_presence"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
