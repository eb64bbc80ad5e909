"""An engine-neutral logical dump of every table, and its load into a fresh database.

A dump is a sequence of records: one `table` record per model (its label and the attnames of
its concrete fields), then `rows` records of up to `BATCH` rows each, values as JSON (bytes as
base64, dates as ISO 8601). It is read from a consistent snapshot: a REPEATABLE READ, READ
ONLY transaction on PostgreSQL; on SQLite a copy made with SQLite's online backup API, so
members keep writing while a large node is dumped (a long read transaction under
`BEGIN IMMEDIATE` would hold the write lock).

The archive also records which migrations were applied. A restore migrates the fresh
database to exactly that state, loads the rows through the historical models of that state
(not the current ones), then migrates forward: an archive made by an older UNITED restores
into a newer one, and the data migrations in between run over the restored rows as they
would have on the old node. Foreign keys are checked once, at the end, as both engines defer
them (Django declares them DEFERRABLE INITIALLY DEFERRED), so tables load in any order.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import decimal
import json
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.apps import apps as global_apps
from django.conf import settings
from django.core.management.color import no_style
from django.db import connection, connections, models, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.db.utils import load_backend
from django.utils.duration import duration_iso_string

BATCH = 1000
SNAPSHOT = "backup_snapshot"
# Sessions are bound to the old secret key and worthless after a restore; members sign in.
SKIPPED = {"sessions.session"}


class Refused(Exception):
    """The database, the target or the archive does not allow this backup or restore; the
    message says why and what to do."""


class NotEmpty(Refused):
    """The restore's target database already holds a node's data."""


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return duration_iso_string(value)
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def dumped_models(registry: Any = global_apps) -> list[type[models.Model]]:
    return [
        m
        for m in registry.get_models(include_auto_created=True)
        if m._meta.managed and not m._meta.proxy and m._meta.label_lower not in SKIPPED
    ]


def applied_migrations(alias: str = "default") -> list[tuple[str, str]]:
    return sorted(MigrationRecorder(connections[alias]).applied_migrations())


def pending_migrations() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{m.app_label}.{m.name}" for m, _backwards in plan]


@contextlib.contextmanager
def snapshot() -> Iterator[str]:
    """A database alias that reads one consistent state of the node's data."""
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield "default"
        return
    if connection.vendor != "sqlite":
        raise RuntimeError(f"no snapshot for {connection.vendor}")
    tmpdir = Path(settings.FILE_UPLOAD_TEMP_DIR)
    tmpdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="backup-", dir=tmpdir) as work:
        copy = Path(work) / "snapshot.sqlite3"
        source = sqlite3.connect(connection.settings_dict["NAME"], timeout=20)
        target = sqlite3.connect(copy)
        try:
            # The online backup API copies pages without holding the write lock throughout.
            source.backup(target)
        finally:
            target.close()
            source.close()
        # A connection of this thread only, not a configured alias: nothing else may use it.
        wrapper = load_backend(connection.settings_dict["ENGINE"]).DatabaseWrapper(
            {**connection.settings_dict, "NAME": copy, "OPTIONS": {"timeout": 20}}, SNAPSHOT
        )
        connections[SNAPSHOT] = wrapper
        try:
            yield SNAPSHOT
        finally:
            wrapper.close()
            del connections[SNAPSHOT]


def count_rows(alias: str) -> dict[str, int]:
    return {m._meta.label_lower: m._default_manager.using(alias).count() for m in dumped_models()}


def dump(alias: str, progress: Callable[[int], None]) -> Iterator[dict[str, Any]]:
    """Yield the `table` and `rows` records of every dumped model, read through `alias`."""
    for model in dumped_models():
        fields = [f.attname for f in model._meta.concrete_fields]
        yield {"t": "table", "model": model._meta.label_lower, "fields": fields}
        query = model._default_manager.using(alias).order_by("pk").values_list(*fields)
        batch: list[list[Any]] = []
        for row in query.iterator(chunk_size=BATCH):
            batch.append([_encode(v) for v in row])
            if len(batch) >= BATCH:
                yield {"t": "rows", "rows": batch}
                progress(len(batch))
                batch = []
        if batch:
            yield {"t": "rows", "rows": batch}
            progress(len(batch))


def encode_record(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()


# --- restore ------------------------------------------------------------------------------


def holds_data() -> list[str]:
    """What in the target database would a restore overwrite: tables with rows, besides the
    ones a fresh node fills by itself on migrate and first start (content types,
    permissions, its node keys, its job bookkeeping)."""
    existing = set(connection.introspection.table_names())
    allowed = {
        "contenttypes.contenttype",
        "auth.permission",
        "federation.nodekey",
        "jobs.job",
        "jobs.periodicrun",
        "backup.backupsecret",
        "sessions.session",
    }
    found = []
    for model in global_apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        if model._meta.label_lower in allowed or model._meta.db_table not in existing:
            continue
        if model._default_manager.exists():
            found.append(model._meta.label_lower)
    return found


def migrate_to(applied: list[tuple[str, str]]) -> Any:
    """Migrate the database to the archive's migration state; return that state's apps."""
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    unknown = [f"{a}.{n}" for a, n in applied if (a, n) not in graph.nodes]
    if unknown:
        raise Refused(
            "the archive was made by a newer UNITED (this code does not know its migrations "
            f"{', '.join(unknown[:5])}{'…' if len(unknown) > 5 else ''}): restore with that "
            "version, then upgrade"
        )
    done = set(applied)
    targets = []
    for app_label in sorted({a for a, _ in applied}):
        mine = [key for key in done if key[0] == app_label]
        # The app's newest applied migration: none of its children in the app is applied.
        leaves = [
            key
            for key in mine
            if not any(
                child in done and child[0] == app_label for child in graph.node_map[key].children
            )
        ]
        targets.extend(leaves)
    plan = executor.migration_plan(targets)
    executor.migrate(targets, plan=plan)
    return executor.loader.project_state(targets).apps


def flush(registry: Any) -> None:
    """Empty every table of `registry` (rows a migration or a first start wrote)."""
    existing = set(connection.introspection.table_names())
    tables = sorted(
        {m._meta.db_table for m in dumped_models(registry) if m._meta.db_table in existing}
        | ({"django_session"} & existing)
    )
    sql = connection.ops.sql_flush(no_style(), tables, reset_sequences=True, allow_cascade=True)
    connection.ops.execute_sql_flush(sql)


class Loader:
    """Load `table`/`rows` records through the historical models of `registry`."""

    def __init__(self, registry: Any, progress: Callable[[int], None]) -> None:
        self.registry = registry
        self.progress = progress
        self.model: type[models.Model] | None = None
        self.fields: list[models.Field] = []
        self.loaded: list[type[models.Model]] = []

    def feed(self, record: dict[str, Any]) -> None:
        if record["t"] == "table":
            app_label, _, name = record["model"].partition(".")
            try:
                model = self.registry.get_model(app_label, name)
            except LookupError:
                raise Refused(
                    f"the archive has table {record['model']}, which its migrations do not make"
                ) from None
            by_attname = {f.attname: f for f in model._meta.concrete_fields}
            missing = [a for a in record["fields"] if a not in by_attname]
            if missing:
                raise Refused(f"{record['model']}: unknown columns {missing}")
            self.model = model
            self.fields = [by_attname[a] for a in record["fields"]]
            self.loaded.append(model)
        elif record["t"] == "rows":
            if self.model is None:
                raise Refused("rows before any table in the archive")
            model, fields = self.model, self.fields
            objects = []
            for row in record["rows"]:
                obj = model()
                for f, value in zip(fields, row, strict=True):
                    setattr(obj, f.attname, None if value is None else f.to_python(value))
                objects.append(obj)
            # Raw inserts, as loaddata's: no auto_now stamps, no pre_save, the stored values.
            size = max(1, connection.ops.bulk_batch_size(fields, objects))
            queryset = model._base_manager.using("default").all()
            for start in range(0, len(objects), size):
                queryset._insert(  # type: ignore[attr-defined]
                    objects[start : start + size], fields=fields, raw=True
                )
            self.progress(len(objects))

    def finish(self) -> None:
        """Check every foreign key, then move id sequences past the loaded ids (PostgreSQL)."""
        connection.check_constraints(table_names=[m._meta.db_table for m in self.loaded])
        statements = connection.ops.sequence_reset_sql(no_style(), self.loaded)
        if statements:
            with connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
