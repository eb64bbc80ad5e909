"""Back a node up into a target, and bring it back from one (docs/operations.md, "Backups").

A target holds archives and blobs:

    archives/united-<UTC time>-<random>.ubk      the encrypted archive (backup.crypto)
    archives/united-<UTC time>-<random>.blobs    the blob object names that archive needs
    blobs/<xx>/<name>                            one encrypted media blob each

The archive carries the database (backup.database), the node's private keys (unsealed from
this machine's secret key, so a machine with another one can re-seal them), the settings that
are not secrets, and the applied migrations. Blobs are written before their archive, so an
archive never names a blob that is not there; a blob already in the target is not written
again. The `.blobs` index is in the clear (its names are keyed hashes that the target's
listing shows anyway) so that retention can drop unreferenced blobs without decrypting
archives, which a node that seals to the operator's public key cannot do.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from backup import crypto, database
from backup.database import Refused
from backup.models import BackupSecret
from backup.targets import S3Credentials, Target, TargetError, open_target
from federation import keys as node_keys
from media.models import Blob, BlobState, blob_key
from media.storage import blob_store
from push import webpush

logger = logging.getLogger(__name__)

FORMAT = "united.backup.v1"
ARCHIVES = "archives/"
# Retention leaves young unreferenced blobs alone: a backup running at the same time may
# have written them for the archive it has not finished yet.
BLOB_GRACE = timedelta(hours=24)
# Configuration worth knowing on a new machine; secrets (keys, passwords, URLs that may carry
# credentials) are left out on purpose.
PUBLIC_SETTINGS = (
    "mode",
    "federation_domain",
    "federation_scheme",
    "storage_backend",
    "search_backend",
    "search_language",
    "registration",
    "allowed_hosts",
    "host_id",
    "max_upload_bytes",
    "user_quota_bytes",
)


@dataclass
class Progress:
    """Counts shown on stderr by the commands; `report` is called after each step."""

    rows_total: int = 0
    rows_done: int = 0
    blobs_total: int = 0
    blobs_done: int = 0
    report: Callable[[Progress], None] = field(default=lambda p: None)

    def rows(self, n: int) -> None:
        self.rows_done += n
        self.report(self)

    def blob(self) -> None:
        self.blobs_done += 1
        self.report(self)


@dataclass(frozen=True)
class BackupResult:
    archive: str
    rows: int
    blobs: int
    blobs_written: int
    blobs_missing: list[str]
    removed: list[str]


@dataclass(frozen=True)
class RestoreResult:
    archive: str
    created_at: str
    domain: str
    rows: int
    blobs: int
    blobs_written: int
    keys: int
    blobs_missing: list[str]
    search_error: str | None


def configured_target() -> Target:
    cfg = settings.CONFIG
    if not cfg.backup_target:
        raise TargetError("UNITED_BACKUP_TARGET is not set")
    return target_from(cfg.backup_target)


def target_from(spec: str) -> Target:
    cfg = settings.CONFIG
    creds = S3Credentials(
        endpoint=cfg.backup_s3_endpoint or cfg.s3_endpoint,
        access_key=cfg.backup_s3_access_key or cfg.s3_access_key,
        secret_key=cfg.backup_s3_secret_key or cfg.s3_secret_key,
        region=cfg.backup_s3_region or cfg.s3_region,
        path_style=cfg.s3_path_style,
    )
    return open_target(spec, creds)


def configured_sealer() -> crypto.Sealer:
    cfg = settings.CONFIG
    if cfg.backup_recipient:
        return crypto.Sealer(recipient=crypto.unb64(cfg.backup_recipient))
    return crypto.Sealer(passphrase=cfg.backup_passphrase)


def _record(out: crypto.ArchiveWriter, record: dict[str, Any]) -> None:
    out.write(zlib.compress(database.encode_record(record), 6))


def _spooled() -> Any:
    return tempfile.TemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR)


def check_backup() -> None:
    pending = database.pending_migrations()
    if pending:
        raise Refused(
            f"{len(pending)} migration(s) are not applied ({', '.join(pending[:5])}): run "
            "`manage.py migrate` first, so the archive records the schema its rows are in"
        )


def do_backup(
    target: Target,
    sealer: crypto.Sealer,
    *,
    keep: int | None = None,
    progress: Progress | None = None,
) -> BackupResult:
    check_backup()
    progress = progress or Progress()
    secret = BackupSecret.get()  # before the snapshot, so the snapshot holds it
    now = datetime.now(UTC)
    name = f"{ARCHIVES}united-{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(3)}.ubk"
    with database.snapshot() as alias:
        counts = database.count_rows(alias)
        blobs = list(
            Blob.objects.using(alias)
            .filter(state=BlobState.LIVE)
            .order_by("sha256")
            .values_list("sha256", flat=True)
        )
        progress.rows_total, progress.blobs_total = sum(counts.values()), len(blobs)
        progress.report(progress)
        present = set(target.list("blobs/"))
        store = blob_store()
        names, written, missing = [], 0, []
        for sha256 in blobs:
            object_name = crypto.blob_name(secret, sha256)
            if object_name not in present:
                if not store.exists(blob_key(sha256)):
                    missing.append(sha256)
                    progress.blob()
                    continue
                with _spooled() as tmp:
                    crypto.encrypt_blob(secret, sha256, store.get(blob_key(sha256)), tmp)
                    tmp.seek(0)
                    target.put(object_name, tmp)
                written += 1
            names.append(object_name)
            progress.blob()
        with _spooled() as tmp:
            out = crypto.ArchiveWriter(tmp, sealer)
            cfg = settings.CONFIG
            _record(
                out,
                {
                    "t": "meta",
                    "format": FORMAT,
                    "created_at": now.isoformat(),
                    "engine": connection.vendor,
                    "settings": {k: getattr(cfg, k) for k in PUBLIC_SETTINGS},
                    "migrations": database.applied_migrations(alias),
                    "counts": counts,
                    "blobs": len(names),
                },
            )
            _record(
                out,
                {
                    "t": "keys",
                    "keys": [
                        [row_id, crypto.b64(der)]
                        for row_id, der in node_keys.export_private_keys(alias)
                    ],
                },
            )
            _record(
                out,
                {
                    "t": "push_keys",
                    "keys": [
                        [row_id, crypto.b64(der)]
                        for row_id, der in webpush.export_private_keys(alias)
                    ],
                },
            )
            for record in database.dump(alias, progress.rows):
                _record(out, record)
            _record(out, {"t": "end", "rows": sum(counts.values())})
            out.close()
            tmp.seek(0)
            target.put(name, tmp)
        with _spooled() as index:
            index.write("".join(f"{n}\n" for n in names).encode())
            index.seek(0)
            target.put(name.removesuffix(".ubk") + ".blobs", index)
    removed = apply_retention(target, keep) if keep else []
    if missing:
        logger.warning("backup %s: %s blob(s) missing from storage", name, len(missing))
    return BackupResult(name, sum(counts.values()), len(blobs), written, missing, removed)


def archives(target: Target) -> list[str]:
    """The target's archives, oldest first (their names sort by time)."""
    return sorted(n for n in target.list(ARCHIVES) if n.endswith(".ubk"))


def apply_retention(target: Target, keep: int) -> list[str]:
    """Delete all but the newest `keep` archives, then the blobs no remaining one needs."""
    names = archives(target)
    removed = names[:-keep] if len(names) > keep else []
    for name in removed:
        target.delete(name)
        target.delete(name.removesuffix(".ubk") + ".blobs")
    if not removed:
        return []
    needed: set[str] = set()
    for name in names[len(removed) :]:
        with target.open(name.removesuffix(".ubk") + ".blobs") as fh:
            needed.update(line.strip() for line in fh.read().decode().splitlines() if line.strip())
    cutoff = timezone.now() - BLOB_GRACE
    for blob, modified in target.list("blobs/").items():
        if blob not in needed and modified < cutoff:
            target.delete(blob)
    return removed


# --- restore ------------------------------------------------------------------------------


def resolve_archive(target: Target, name: str | None) -> str:
    if name and name != "latest":
        return name if name.startswith(ARCHIVES) else ARCHIVES + name
    found = archives(target)
    if not found:
        raise TargetError(f"{target.describe()} holds no archive")
    return found[-1]


def _records(target: Target, name: str, opener: crypto.Opener) -> Iterator[dict[str, Any]]:
    with target.open(name) as src:
        for chunk in crypto.read_archive(src, opener):
            try:
                record = json.loads(zlib.decompress(chunk))
            except (zlib.error, ValueError):
                # Authenticated yet unreadable: written by something that is not this code.
                raise crypto.Tampered("an authenticated record does not decode") from None
            yield record


def verify_archive(target: Target, name: str, opener: crypto.Opener) -> dict[str, Any]:
    """Read the whole archive once, checking every chunk, before anything is changed."""
    meta: dict[str, Any] | None = None
    rows = 0
    ended = False
    for record in _records(target, name, opener):
        if meta is None:
            if record.get("t") != "meta" or record.get("format") != FORMAT:
                raise Refused(f"{name} is not a {FORMAT} archive")
            meta = record
        elif record.get("t") == "rows":
            rows += len(record["rows"])
        elif record.get("t") == "end":
            if record.get("rows") != rows:
                raise crypto.Tampered("the archive's row count does not add up")
            ended = True
    if meta is None or not ended:
        raise crypto.Tampered("the archive has no end record")
    return meta


def check_restore(force: bool) -> None:
    found = database.holds_data()
    if found and not force:
        raise database.NotEmpty(
            f"the target database is not empty ({', '.join(found[:6])}"
            f"{'…' if len(found) > 6 else ''} hold rows): restore into an empty data directory "
            "or database, or pass --force to replace what is there"
        )


def do_restore(
    target: Target,
    name: str,
    opener: crypto.Opener,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> RestoreResult:
    progress = progress or Progress()
    meta = verify_archive(target, name, opener)
    check_restore(force)
    progress.rows_total = sum(meta["counts"].values())
    registry = database.migrate_to([tuple(m) for m in meta["migrations"]])
    private: list[tuple[int, bytes]] = []
    push_private: list[tuple[int, bytes]] = []
    with transaction.atomic():
        database.flush(registry)
        loader = database.Loader(registry, progress.rows)
        for record in _records(target, name, opener):
            if record["t"] in ("table", "rows"):
                loader.feed(record)
            elif record["t"] == "keys":
                private = [(int(i), crypto.unb64(der)) for i, der in record["keys"]]
            elif record["t"] == "push_keys":
                push_private = [(int(i), crypto.unb64(der)) for i, der in record["keys"]]
        loader.finish()
    call_command("migrate", interactive=False, verbosity=0)
    node_keys.reseal_private_keys(private)
    webpush.reseal_private_keys(push_private)
    secret = BackupSecret.get()
    shas = list(
        Blob.objects.filter(state=BlobState.LIVE)
        .order_by("sha256")
        .values_list("sha256", flat=True)
    )
    progress.blobs_total = len(shas)
    store = blob_store()
    written = 0
    missing: list[str] = []
    present = set(target.list("blobs/"))
    for sha256 in shas:
        key = blob_key(sha256)
        if not store.exists(key):
            name_in_target = crypto.blob_name(secret, sha256)
            if name_in_target not in present:
                # Missing from storage when the backup ran (it said so then): the rest of the
                # node is worth having back, and the operator is told which files are gone.
                missing.append(sha256)
                progress.blob()
                continue
            with (
                target.open(name_in_target) as src,
                tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR, delete=False) as out,
            ):
                path = out.name
                try:
                    crypto.decrypt_blob(secret, sha256, src, out)
                except BaseException:
                    os.unlink(path)
                    raise
            try:
                store.put_path(key, Path(path))
            finally:
                if os.path.exists(path):
                    os.unlink(path)
            written += 1
        progress.blob()
    search = _reindex_search()
    return RestoreResult(
        archive=name,
        blobs_missing=missing,
        search_error=search,
        created_at=meta["created_at"],
        domain=meta["settings"].get("federation_domain", ""),
        rows=progress.rows_done,
        blobs=len(shas),
        blobs_written=written,
        keys=len(private),
    )


def _reindex_search() -> str | None:
    """Rebuild the search index; the error, if the engine is out of reach (Meilisearch)."""
    # The search index is derived data outside the model tables (FTS5, tsvector, Meilisearch):
    # rebuilt from the restored messages rather than carried in the archive. The node works
    # without it, so a restore does not fail for it: the operator reruns it.
    try:
        call_command("reindex_search", stderr=io.StringIO(), stdout=io.StringIO())
    except Exception as exc:
        logger.warning("search index not rebuilt after the restore: %s", exc)
        return str(exc) or type(exc).__name__
    return None
