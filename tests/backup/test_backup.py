"""Backups into a directory and into a real S3 server (moto on loopback), and every way a
restore refuses: a wrong passphrase or key, a tampered or cut archive, a database that already
holds a node. Restores run `manage.py restore` as an operator would, on a data directory of
their own; their exit codes are documented in docs/operations.md."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from backup import crypto, database, services
from backup.targets import DirectoryTarget, S3Credentials, S3Target
from tests import templates
from tests.media.conftest import S3_KEY, S3_REGION, S3_SECRET, new_bucket
from tests.media.helpers import png_bytes, upload
from tests.nodes import ROOT

PASSPHRASE = "salt marsh at low water"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from tests.services import free_port, wait_for_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def world(transactional_db, client, make_user, settings, tmp_path):
    """A member with two uploaded files; local media under tmp_path."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
    }
    alice = make_user("alice")
    client.force_login(alice)
    for color in ((1, 2, 3), (200, 100, 0)):
        assert upload(client, png_bytes(color=color), "p.png").status_code == 201
    return alice


def clean_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in templates.NODE_ENV_KEYS and not k.startswith("UNITED_BACKUP")
    }
    env.update(UNITED_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="united.settings")
    return env


def restore(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "restore", "--quiet", *args],
        cwd=ROOT,
        env=clean_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_second_backup_to_s3_writes_no_blob_again(world, s3_endpoint):
    bucket = new_bucket(s3_endpoint)
    creds = S3Credentials(s3_endpoint, S3_KEY, S3_SECRET, S3_REGION)
    target = S3Target(bucket, "node-a", creds)
    sealer = crypto.Sealer(passphrase=PASSPHRASE)
    first = services.do_backup(target, sealer)
    assert (first.blobs, first.blobs_written) == (2, 2)
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name=S3_REGION,
    )

    def objects() -> dict[str, str]:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="node-a/")
        return {o["Key"]: o["ETag"] + str(o["LastModified"]) for o in listed["Contents"]}

    before = objects()
    blob_objects = {k: v for k, v in before.items() if k.startswith("node-a/blobs/")}
    assert len(blob_objects) == 2
    second = services.do_backup(target, sealer)
    assert (second.blobs, second.blobs_written) == (2, 0)
    after = objects()
    assert {k: v for k, v in after.items() if k.startswith("node-a/blobs/")} == blob_objects
    assert len([k for k in after if k.endswith(".ubk")]) == 2
    # The archive in the bucket opens with the passphrase and holds alice.
    meta = services.verify_archive(target, services.archives(target)[-1], crypto.Opener(PASSPHRASE))
    assert meta["counts"]["accounts.user"] == 1 and meta["blobs"] == 2
    # Blob objects are encrypted: the PNG signature is nowhere in them.
    for key in blob_objects:
        assert b"\x89PNG" not in s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_retention_keeps_the_newest_and_drops_blobs_no_archive_needs(world, tmp_path):
    from media.models import Blob

    target = DirectoryTarget(tmp_path / "target")
    sealer = crypto.Sealer(passphrase=PASSPHRASE)
    services.do_backup(target, sealer)
    # One file goes away on the node; its blob only the first archive needs.
    gone = Blob.objects.order_by("sha256").first()
    assert gone is not None
    Blob.objects.filter(sha256=gone.sha256).update(state="deleting")
    old = timezone.now() - timedelta(days=2)
    for path in (tmp_path / "target" / "blobs").rglob("*"):
        if path.is_file():
            os.utime(path, (old.timestamp(), old.timestamp()))
    services.do_backup(target, sealer)
    kept = services.do_backup(target, sealer, keep=2)
    assert len(kept.removed) == 1
    assert len(services.archives(target)) == 2
    blobs = [p for p in (tmp_path / "target" / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    assert blobs[0].name == crypto.blob_name(services.BackupSecret.get(), kept_sha(gone))[9:]


def kept_sha(gone) -> str:
    from media.models import Blob

    return Blob.objects.exclude(sha256=gone.sha256).get().sha256


def test_a_sealed_archive_opens_only_with_its_private_key(world, tmp_path):
    private, public = crypto.new_keypair()
    target = DirectoryTarget(tmp_path / "target")
    services.do_backup(target, crypto.Sealer(recipient=public))
    name = services.archives(target)[-1]
    meta = services.verify_archive(target, name, crypto.Opener(private_key=private))
    assert meta["counts"]["accounts.user"] == 1
    other, _ = crypto.new_keypair()
    with pytest.raises(crypto.WrongKey):
        services.verify_archive(target, name, crypto.Opener(private_key=other))
    with pytest.raises(crypto.WrongKey):
        services.verify_archive(target, name, crypto.Opener(passphrase=PASSPHRASE))


@pytest.fixture
def archive(world, tmp_path) -> Path:
    target = tmp_path / "target"
    (tmp_path / "pass").write_text(PASSPHRASE + "\n")
    services.do_backup(DirectoryTarget(target), crypto.Sealer(passphrase=PASSPHRASE))
    return target


def test_restore_refuses_a_wrong_passphrase_and_a_tampered_or_cut_archive(archive, tmp_path):
    fresh = tmp_path / "fresh"
    (tmp_path / "wrong").write_text("not the passphrase\n")
    wrong = restore(fresh, "--from", str(archive), "--passphrase-file", str(tmp_path / "wrong"))
    assert wrong.returncode == 3, wrong.stderr
    assert "wrong passphrase or key" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    (name,) = (archive / "archives").glob("*.ubk")
    original = name.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    name.write_bytes(bytes(flipped))
    tampered = restore(fresh, "--from", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert tampered.returncode == 4, tampered.stderr
    assert "tampered" in tampered.stderr and "fails authentication" in tampered.stderr

    name.write_bytes(original[:-200])
    cut = restore(fresh, "--from", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert cut.returncode == 4, cut.stderr
    assert "cut short" in cut.stderr
    # The refused restores never reached the fresh database.
    assert not (fresh / "united.sqlite3").exists()


def shell(data_dir: Path, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=clean_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_restore_refuses_a_database_that_holds_a_node_unless_forced(archive, tmp_path):
    node = tmp_path / "node"
    args = ("--from", str(archive), "--passphrase-file", str(tmp_path / "pass"))
    assert restore(node, *args).returncode == 0
    shell(node, "from accounts.models import User; User.objects.create_user('mallory')")
    refused = restore(node, *args)
    assert refused.returncode == 5, refused.stderr
    assert "not empty" in refused.stderr and "--force" in refused.stderr
    users = (
        "from accounts.models import User\n"
        "print(sorted(User.objects.values_list('username', flat=True)))\n"
        "print(User.objects.get(username='alice').check_password("
        "'correct horse battery staple'))"
    )
    assert shell(node, users).split("\n")[-3:-1] == ["['alice', 'mallory']", "True"]
    forced = restore(node, *args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert shell(node, users).split("\n")[-3:-1] == ["['alice']", "True"]


def test_doctor_and_backup_name_pending_migrations(transactional_db, tmp_path, capsys):
    call_command("migrate", "backup", "zero", verbosity=0)
    try:
        with pytest.raises(CommandError):
            call_command("doctor")
        out = capsys.readouterr().out
        assert "1 database migration(s) are not applied: backup.0001_initial." in out
        with pytest.raises(services.Refused, match=r"not applied \(backup\.0001_initial\)"):
            services.do_backup(
                DirectoryTarget(tmp_path / "t"), crypto.Sealer(passphrase=PASSPHRASE)
            )
    finally:
        call_command("migrate", "backup", verbosity=0)


def test_an_archive_from_a_newer_release_is_refused_before_any_change(archive, tmp_path):
    """Its migrations are unknown here: restore it with that release, then upgrade."""
    from accounts.models import User

    opener = crypto.Opener(PASSPHRASE)
    source = DirectoryTarget(archive)
    name = services.archives(source)[-1]
    records = list(services._records(source, name, opener))
    records[0]["migrations"].append(["backup", "9999_from_the_future"])
    newer = tmp_path / "newer"
    newer.mkdir()
    with (newer / "archive.ubk").open("wb") as out:
        writer = crypto.ArchiveWriter(out, crypto.Sealer(passphrase=PASSPHRASE))
        for record in records:
            writer.write(zlib.compress(database.encode_record(record)))
        writer.close()
    target = DirectoryTarget(newer)
    with pytest.raises(services.Refused, match=r"newer UNITED .*backup\.9999_from_the_future"):
        services.do_restore(target, "archive.ubk", opener, force=True)
    assert User.objects.filter(username="alice").exists()  # the database was left alone


def test_restore_from_an_s3_bucket_brings_the_files_back(world, s3_endpoint, tmp_path):
    """The operator's way: `manage.py restore --from s3://…` with UNITED_BACKUP_S3_* set."""
    from media.models import Blob
    from media.storage import blob_store

    bucket = new_bucket(s3_endpoint)
    creds = S3Credentials(s3_endpoint, S3_KEY, S3_SECRET, S3_REGION)
    services.do_backup(S3Target(bucket, "nightly", creds), crypto.Sealer(passphrase=PASSPHRASE))
    originals = {b.sha256: blob_store().read(b.key) for b in Blob.objects.all()}
    (tmp_path / "pass").write_text(PASSPHRASE)
    fresh = tmp_path / "fresh"
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "restore",
            "--from",
            f"s3://{bucket}/nightly",
            "--passphrase-file",
            str(tmp_path / "pass"),
        ],
        cwd=ROOT,
        env={
            **clean_env(fresh),
            "UNITED_BACKUP_S3_ENDPOINT": s3_endpoint,
            "UNITED_BACKUP_S3_ACCESS_KEY": S3_KEY,
            "UNITED_BACKUP_S3_SECRET_KEY": S3_SECRET,
            "UNITED_BACKUP_S3_REGION": S3_REGION,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "2 blobs (2 written)" in done.stdout
    assert "rows " in done.stderr and "blobs 2/2" in done.stderr  # the progress line
    for sha256, content in originals.items():
        restored = fresh / "media" / "blobs" / sha256[:2] / sha256[2:4] / sha256
        assert restored.read_bytes() == content


def test_the_backup_command_seals_to_a_key_pair_it_made(world, tmp_path):
    import io

    out = io.StringIO()
    call_command("backup", "--new-keypair", str(tmp_path / "op.key"), stdout=out)
    public = out.getvalue().strip()
    assert oct((tmp_path / "op.key").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(CommandError, match="exists"):
        call_command("backup", "--new-keypair", str(tmp_path / "op.key"), stdout=io.StringIO())
    call_command(
        "backup", "--to", str(tmp_path / "t"), "--recipient", public, "--quiet", stdout=out
    )
    target = DirectoryTarget(tmp_path / "t")
    private = crypto.unb64((tmp_path / "op.key").read_text().strip())
    meta = services.verify_archive(
        target, services.archives(target)[-1], crypto.Opener(private_key=private)
    )
    assert meta["counts"]["accounts.user"] == 1 and meta["blobs"] == 2
