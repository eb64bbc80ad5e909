"""An upgrade from the previous release: an archive that release's `manage.py backup` wrote
(tests/fixtures/prev-release, README.md there says how) is restored by today's code into a
fresh SQLite data directory and into an empty PostgreSQL database, migrated forward over the
migrations written since, and holds the same members, guild, messages and file bytes.
`manage.py restore` and the checks run as an operator runs them, in processes of their own."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services, templates
from tests.nodes import ROOT, services_mode

pytestmark = pytest.mark.live
FIXTURE = ROOT / "tests" / "fixtures" / "prev-release"
PASSPHRASE = "previous release, kept for the upgrade test"
FILE = b"tide tables\n" * 200 + b"\x00\xff binary tail"  # what seed.py uploaded
# The domain the previous release's node had (embedded default): peers would know it by it.
DOMAIN = "127.0.0.1:8000"

CHECK = """
import hashlib, json
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from accounts.models import User
from guilds.models import Guild, Member
from media.models import Attachment
from media.storage import blob_store
from messaging.models import Message
seed = json.loads(open({seed!r}).read())
executor = MigrationExecutor(connection)
guild = Guild.objects.get(id=seed["guild"])
attachment = Attachment.objects.get(id=seed["attachment"])
messages = Message.objects.filter(channel_id=seed["channel"]).order_by("id")
print(json.dumps({{
    "pending": [m.name for m, _ in executor.migration_plan(executor.loader.graph.leaf_nodes())],
    "rich_content_applied": executor.loader.applied_migrations is not None and (
        ("messaging", "0011_message_rich_content") in executor.loader.applied_migrations),
    "users": sorted(User.objects.values_list("username", flat=True)),
    "password_ok": User.objects.get(username="alice").check_password(
        "correct horse battery staple"),
    "guild": guild.name,
    "members": sorted(Member.objects.filter(guild=guild).values_list("user__username", flat=True)),
    "messages": [[m.author.username, m.content, m.embeds, m.flags] for m in messages],
    "message_ids": [str(m.id) for m in messages],
    "file_sha256": hashlib.sha256(blob_store().read(attachment.blob.key)).hexdigest(),
    "engine": connection.vendor,
}}))
"""


def base_env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in templates.NODE_ENV_KEYS and not k.startswith(("UNITED_BACKUP", "UNITED_TEST"))
    }
    env.update(
        UNITED_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="united.settings",
        FEDERATION_DOMAIN=DOMAIN,
        UNITED_SECRET_KEY="today's machine has a secret key of its own 0123456789",
    )
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def target(tmp_path) -> Path:
    """A copy of the committed archive and its blobs: the restore works on the copy."""
    copy = tmp_path / "target"
    shutil.copytree(FIXTURE / "target", copy)
    return copy


@pytest.fixture
def passphrase(tmp_path) -> Path:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    return path


@pytest.fixture
def postgres_env(tmp_path) -> Iterator[dict[str, str]]:
    """Production mode on an empty database: the suite's PostgreSQL in its PostgreSQL pass,
    a server of this test's own in the embedded pass."""
    started = []
    if services_mode():
        port = templates.pg_port()
        assert port is not None
        url, redis_url = services.create_database(port, "prev_release"), os.environ["REDIS_URL"]
    else:
        pg, redis = services.start_postgres(), services.start_redis()
        started = [redis, pg]
        url, redis_url = services.create_database(pg.port, "prev_release"), redis.url
    env = base_env(tmp_path / "pg-data")
    env.update(DATABASE_URL=url, REDIS_URL=redis_url, UNITED_MODE="production")
    try:
        yield env
    finally:
        for server in started:
            server.stop()


def restore_and_read(env: dict[str, str], target: Path, passphrase: Path) -> dict:
    restored = manage(
        env, "restore", "--quiet", "--from", str(target), "--passphrase-file", str(passphrase)
    )
    assert restored.returncode == 0, restored.stderr + restored.stdout
    assert "1 blobs (1 written)" in restored.stdout, restored.stdout
    doctor = manage(env, "doctor")
    assert "not applied" not in doctor.stdout, doctor.stdout
    checked = manage(env, "shell", "-c", CHECK.format(seed=str(FIXTURE / "seed.json")))
    assert checked.returncode == 0, checked.stderr
    return json.loads(checked.stdout.strip().splitlines()[-1])


def assert_the_previous_node(found: dict, engine: str) -> None:
    seed = json.loads((FIXTURE / "seed.json").read_text())
    assert found["engine"] == engine
    assert found["pending"] == []
    # The archive predates messaging 0011: the restore ran it over the restored rows.
    assert found["rich_content_applied"] is True
    assert found["users"] == ["alice", "bob", "carol"]
    assert found["password_ok"] is True
    assert found["guild"] == "Harbour"
    assert found["members"] == ["alice", "bob"]
    assert found["message_ids"] == sorted(seed["messages"], key=int)
    assert found["messages"] == [
        ["alice", "high tide at noon", [], 0],
        ["bob", "low tide at six", [], 0],
        ["alice", "bring boots", [], 0],
    ]
    assert found["file_sha256"] == hashlib.sha256(FILE).hexdigest()


def test_the_archive_is_the_previous_releases():
    """The fixture is what README.md says: made before messaging 0011 existed."""
    readme = (FIXTURE / "README.md").read_text()
    assert "fd96259" in readme and PASSPHRASE in readme
    (archive,) = (FIXTURE / "target" / "archives").glob("*.ubk")
    assert archive.stat().st_size < 200_000
    assert b"high tide" not in archive.read_bytes()  # encrypted


@pytest.mark.timeout(900)
def test_restore_into_a_fresh_sqlite_data_dir_migrates_forward(tmp_path, target, passphrase):
    env = base_env(tmp_path / "data")
    for key in ("DATABASE_URL", "REDIS_URL", "UNITED_MODE"):
        env.pop(key, None)
    assert_the_previous_node(restore_and_read(env, target, passphrase), "sqlite")


@pytest.mark.timeout(900)
def test_restore_into_an_empty_postgresql_migrates_forward(postgres_env, target, passphrase):
    assert_the_previous_node(restore_and_read(postgres_env, target, passphrase), "postgresql")
