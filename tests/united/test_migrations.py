"""Migrations that a live PostgreSQL node can take without stopping: what `sqlmigrate` would
print for every migration, read statement by statement, may not hold a long lock on a table
that grows with use (messages, reactions, attachments, members, the search index…).

Flagged on such a table, unless the migration created the table itself (then it is empty):
- CREATE [UNIQUE] INDEX without CONCURRENTLY (blocks every write while the index builds);
- ALTER COLUMN … TYPE (rewrites the table under an exclusive lock);
- ALTER COLUMN … SET NOT NULL (scans the whole table under an exclusive lock);
- ADD COLUMN with a volatile default, a serial, an identity or a stored generated column
  (rewrites the table; a constant default does not since PostgreSQL 11);
- ADD CONSTRAINT of a foreign key or check without NOT VALID, or a unique/primary key not
  built from an existing index (scan or index build under lock);
- anything else that rewrites or locks it outright (VACUUM FULL, CLUSTER, SET TABLESPACE,
  SET LOGGED/UNLOGGED, LOCK TABLE).

Migrations that predate this rule are listed in ALLOWED with why each is accepted; only new
ones are held to it. docs/operations.md ("Migrations on a live node") says how to write them.
The SQL is Django's own for each migration in order, as `sqlmigrate` collects it (one pass
over the plan instead of one command per migration); RunPython bodies are Python and are not
seen here (the docs ask for batched data migrations)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import connection, migrations, models
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.migration import Migration
from django.db.migrations.state import ProjectState

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="reads PostgreSQL's SQL: runs in the PostgreSQL pass (--ds=tests.settings_services)",
)

# Tables that grow with a node's use, by model, so a renamed table cannot slip out of the list.
BIG_MODELS = (
    "messaging.Message",
    "messaging.MessageEdit",
    "messaging.Reaction",
    "messaging.ReadState",
    "messaging.SearchBacklog",
    "messaging.GatewayEvent",
    "media.Attachment",
    "media.Blob",
    "guilds.Member",
    "accounts.User",
    "federation.Activity",
    "federation.Delivery",
    "federation.InboxItem",
    "jobs.Job",
)
# The PostgreSQL search index is a table of its own, made in SQL (messaging 0004_search).
BIG_SQL_TABLES = ("messaging_search_document",)

# Migrations written before the rule, each with what it does to a big table and why that is
# accepted. A migration listed here that no longer breaks the rule fails the test: the list
# only shrinks.
ALLOWED: dict[str, str] = {
    "accounts.0002_registrationinvite_user_avatar_user_bio_and_more": (
        "CREATE INDEX on accounts_user(profile_device_id), the index Django gives the new "
        "profile_device foreign key. Written before this rule; accounts_user has one row per "
        "member of this node (thousands, not the millions of messages), so the build holds "
        "sign-ups and profile edits for milliseconds. The column itself is added without a scan."
    ),
    "guilds.0006_member_sort_name": (
        "CREATE INDEX member_list_idx on guilds_member(guild_id, sort_name, id) for the paged "
        "member list. Written before this rule, with the column it indexes (added nullable, "
        "no rewrite); guilds_member has one row per membership, far fewer than messages, and "
        "the build holds joins and role changes only while it reads that table once."
    ),
}


def big_tables() -> set[str]:
    return {apps.get_model(label)._meta.db_table for label in BIG_MODELS} | set(BIG_SQL_TABLES)


@dataclass(frozen=True)
class Finding:
    migration: str
    statement: str
    why: str


TABLE = r'"?(?P<table>[a-z0-9_]+)"?'
VOLATILE = r"\b(random|gen_random_uuid|uuid_generate_v[14]|clock_timestamp|timeofday|nextval)\s*\("
RULES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            rf"^CREATE (UNIQUE )?INDEX (?!CONCURRENTLY)(IF NOT EXISTS )?\S+ ON {TABLE}", re.I
        ),
        "CREATE INDEX without CONCURRENTLY blocks writes while it builds",
    ),
    (
        re.compile(rf"^ALTER TABLE (ONLY )?{TABLE} .*ALTER COLUMN \S+ (SET DATA )?TYPE ", re.I),
        "ALTER COLUMN … TYPE rewrites the table under an exclusive lock",
    ),
    (
        re.compile(rf"^ALTER TABLE (ONLY )?{TABLE} .*ALTER COLUMN \S+ SET NOT NULL", re.I),
        "SET NOT NULL scans the whole table under an exclusive lock",
    ),
    (
        re.compile(rf"^ALTER TABLE (ONLY )?{TABLE} .*ADD COLUMN .*DEFAULT [^,]*{VOLATILE}", re.I),
        "ADD COLUMN with a volatile default rewrites the table",
    ),
    (
        re.compile(
            rf"^ALTER TABLE (ONLY )?{TABLE} .*ADD COLUMN .*(\b(small|big)?serial\b|"
            r"GENERATED .* STORED|GENERATED (ALWAYS|BY DEFAULT) AS IDENTITY)",
            re.I,
        ),
        "ADD COLUMN of a serial, identity or stored generated column rewrites the table",
    ),
    (
        re.compile(
            rf"^ALTER TABLE (ONLY )?{TABLE} .*ADD CONSTRAINT \S+ (FOREIGN KEY|CHECK)"
            r"(?!.*NOT VALID)",
            re.I,
        ),
        "a foreign key or check constraint without NOT VALID scans the table under lock",
    ),
    (
        re.compile(
            rf"^ALTER TABLE (ONLY )?{TABLE} .*ADD CONSTRAINT \S+ (UNIQUE|PRIMARY KEY)"
            r"(?! USING INDEX)",
            re.I,
        ),
        "a unique or primary key constraint builds its index under lock (use USING INDEX)",
    ),
    (
        re.compile(rf"^(VACUUM FULL|CLUSTER|LOCK TABLE) {TABLE}", re.I),
        "rewrites or locks the whole table",
    ),
    (
        re.compile(rf"^ALTER TABLE (ONLY )?{TABLE} .*SET (TABLESPACE|LOGGED|UNLOGGED)", re.I),
        "rewrites the whole table",
    ),
]


def check_statement(statement: str, big: set[str], created: set[str]) -> str | None:
    """Why `statement` holds a long lock on a big table, or None."""
    text = " ".join(statement.split())
    for pattern, why in RULES:
        match = pattern.search(text)
        if not match:
            continue
        table = match.group("table")
        if table in big and table not in created:
            return why
    return None


def created_tables(statements: list[str]) -> set[str]:
    found = set()
    for statement in statements:
        match = re.match(rf"^CREATE TABLE (IF NOT EXISTS )?{TABLE}", statement.strip(), re.I)
        if match:
            found.add(match.group("table"))
    return found


def collect_sql() -> dict[str, list[str]]:
    """Each migration's SQL on this PostgreSQL, in plan order, as `sqlmigrate` prints it."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes(), clean_start=True)
    state = ProjectState(real_apps=executor.loader.unmigrated_apps)
    collected: dict[str, list[str]] = {}
    for migration, _backwards in plan:
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            state = migration.apply(state, editor, collect_sql=True)
        collected[f"{migration.app_label}.{migration.name}"] = [
            s for s in editor.collected_sql if s.strip() and not s.lstrip().startswith("--")
        ]
    return collected


def findings(collected: dict[str, list[str]], big: set[str]) -> list[Finding]:
    found = []
    for name, statements in collected.items():
        created = created_tables(statements)
        for statement in statements:
            why = check_statement(statement, big, created)
            if why:
                found.append(Finding(name, " ".join(statement.split()), why))
    return found


@pytest.fixture(scope="module")
def collected(django_db_blocker) -> dict[str, list[str]]:
    with django_db_blocker.unblock():
        return collect_sql()


def test_no_migration_locks_a_big_table_for_long(collected):
    big = big_tables()
    assert len(collected) > 50  # every app's migrations were read
    found = findings(collected, big)
    new = [f for f in found if f.migration not in ALLOWED]
    assert not new, "\n".join(f"{f.migration}: {f.why}:\n    {f.statement}" for f in new) + (
        "\nwrite it as docs/operations.md 'Migrations on a live node' says"
    )
    stale = set(ALLOWED) - {f.migration for f in found}
    assert not stale, f"allowed but no longer flagged, drop them from ALLOWED: {sorted(stale)}"


def test_the_newest_message_migration_adds_columns_without_a_rewrite(collected):
    """messaging 0011: seven columns on messaging_message, constant defaults only."""
    statements = collected["messaging.0011_message_rich_content"]
    adds = [s for s in statements if "ADD COLUMN" in s.upper()]
    assert len(adds) >= 7 and all('"messaging_message"' in s for s in adds)
    assert any("DEFAULT" in s.upper() for s in adds)  # the constant defaults are there
    assert findings({"messaging.0011_message_rich_content": statements}, big_tables()) == []
    assert "messaging.0011_message_rich_content" not in ALLOWED


def sql_of(*operations, atomic: bool = True) -> list[str]:
    """The SQL Django writes for `operations` applied on top of every migration."""
    executor = MigrationExecutor(connection)
    state = executor.loader.project_state()
    migration = Migration("9999_probe", "messaging")
    migration.operations = list(operations)
    migration.atomic = atomic
    with connection.schema_editor(collect_sql=True, atomic=atomic) as editor:
        migration.apply(state, editor, collect_sql=True)
    return [s for s in editor.collected_sql if s.strip() and not s.lstrip().startswith("--")]


@pytest.mark.django_db(transaction=True)  # AddIndexConcurrently refuses a transaction
def test_the_rules_catch_what_django_writes_for_locking_changes():
    big = big_tables()

    def flagged(*operations, atomic: bool = True) -> list[Finding]:
        return findings({"probe": sql_of(*operations, atomic=atomic)}, big)

    index = models.Index(fields=["channel", "author"], name="probe_channel_author")
    assert [f.why for f in flagged(migrations.AddIndex("message", index))] == [RULES[0][1]]
    # The live-safe way passes: CONCURRENTLY, outside a transaction.
    assert flagged(AddIndexConcurrently("message", index), atomic=False) == []
    assert flagged(migrations.AlterField("message", "flags", models.BigIntegerField(default=0))), (
        "a type change"
    )
    assert flagged(
        migrations.AlterField("message", "interaction", models.JSONField(default=dict))
    ), "SET NOT NULL on an existing column"
    # A new nullable column, or one with a constant default: metadata only.
    assert flagged(migrations.AddField("message", "probe", models.TextField(null=True))) == []
    assert flagged(migrations.AddField("message", "probe", models.IntegerField(default=7))) == []
    # A table nobody uses yet may take anything.
    fresh = migrations.CreateModel(
        "Probe",
        [("id", models.BigAutoField(primary_key=True)), ("n", models.IntegerField())],
        options={"indexes": [models.Index(fields=["n"], name="probe_n")]},
    )
    assert flagged(fresh) == []


def test_the_rules_on_hand_written_sql():
    big = {"messaging_message"}
    bad = [
        'CREATE INDEX "x" ON "messaging_message" ("flags")',
        "CREATE UNIQUE INDEX IF NOT EXISTS x ON messaging_message (nonce)",
        'ALTER TABLE "messaging_message" ADD COLUMN "u" uuid DEFAULT gen_random_uuid() NOT NULL',
        'ALTER TABLE "messaging_message" ADD COLUMN "n" bigserial',
        'ALTER TABLE "messaging_message" ADD CONSTRAINT "c" CHECK ("flags" >= 0)',
        'ALTER TABLE "messaging_message" ADD CONSTRAINT "u" UNIQUE ("nonce")',
        "VACUUM FULL messaging_message",
        'ALTER TABLE "messaging_message" SET TABLESPACE fast',
    ]
    good = [
        'CREATE INDEX CONCURRENTLY "x" ON "messaging_message" ("flags")',
        'ALTER TABLE "messaging_message" ADD COLUMN "e" jsonb DEFAULT \'[]\' NOT NULL',
        'ALTER TABLE "messaging_message" ADD COLUMN "t" timestamptz DEFAULT now() NOT NULL',
        'ALTER TABLE "messaging_message" ADD CONSTRAINT "c" CHECK ("flags" >= 0) NOT VALID',
        'ALTER TABLE "messaging_message" ADD CONSTRAINT "u" UNIQUE USING INDEX "x"',
        'CREATE INDEX "x" ON "guilds_role" ("name")',  # not a big table
    ]
    assert [s for s in bad if not check_statement(s, big, set())] == []
    assert [s for s in good if check_statement(s, big, set())] == []
