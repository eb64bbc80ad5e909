"""Direct messages were once indexed (their text, though no guild search could return it).
They never are now (messaging.search.indexing.INDEXED_TYPES): remove what an index of the
database engine holds for messages outside guild message channels. A Meilisearch index is
outside the database: operators using it run `manage.py reindex_search` once."""

from django.db import migrations

OUTSIDE = (
    "SELECT m.id FROM messaging_message m JOIN guilds_channel c ON c.id = m.channel_id"
    " WHERE c.guild_id IS NULL OR c.type NOT IN (0, 5, 11)"
)


def statement(vendor: str) -> str | None:
    if vendor == "sqlite":
        return f"DELETE FROM messaging_search_fts WHERE rowid IN ({OUTSIDE})"
    if vendor == "postgresql":
        return f"DELETE FROM messaging_search_document WHERE message_id IN ({OUTSIDE})"
    return None


def purge(apps, schema_editor):
    sql = statement(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0005_merge_0004_message_attachments_0004_search"),
        ("guilds", "0003_channel_message_ttl"),
    ]

    operations = [migrations.RunPython(purge, migrations.RunPython.noop, elidable=True)]
